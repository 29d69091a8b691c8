//! A blackhole partition as clients see it, after FIDELITY.md's experiment:
//! a blackhole on both directions (held bytes delivered on heal, at the
//! sender's next retransmission), three clients at 1 request / 100 ms with a
//! 5 s request timeout:
//! - one that keeps its connection open through the partition (does it
//!   survive, when does the first held request get answered after the heal,
//!   are held requests answered in order);
//! - one that drops its connection at a timeout and reconnects (when does it
//!   recover after the heal);
//! - one that calls connect() 0.5 s into the partition and sends one request
//!   (the kernel's connect() hangs; a userspace proxy's listener completes the
//!   handshake, so here it returns at once and its request is held).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use faultline_proxies::fault::retransmission_release;
use faultline_proxies::{Direction, Fault, FaultKind, OnHeal};
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant, MissedTickBehavior};

use crate::kernel;
use crate::message::{self, error_name, Id, ResponseReader};
use crate::testbed::Testbed;
use crate::FidelityError;

/// Time between two requests of a client.
pub const PERIOD: Duration = Duration::from_millis(100);
/// A request unanswered this long has timed out.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long after the heal the clients wait for what is held before giving up
/// (the kernel's new connect after a 40 s partition took 29.8 s).
const GIVE_UP_AFTER_HEAL: Duration = Duration::from_secs(40);
/// The staying client goes on sending this long after the heal.
const SEND_AFTER_HEAL: Duration = Duration::from_secs(1);
/// Client numbers in request ids.
const STAYING: u16 = 1;
const RECONNECTING: u16 = 2;
const NEWCOMER: u16 = 3;

/// The clients' requests leave this long after each 100 ms boundary of the
/// run, so the first request the partition holds leaves 0.08 s after it
/// starts, as in the kernel's run (its first timeout came at 5.08 s).
pub const PHASE: Duration = Duration::from_millis(80);

/// What one blackhole partition showed, times in seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartitionRun {
    /// Length of the partition.
    pub length_s: f64,
    /// The staying client's first request timeout, after the partition started.
    pub first_timeout_s: Option<f64>,
    /// The staying client's connection carried on: no error, every request answered.
    pub survived: bool,
    /// The error that ended the staying client's connection, if one did.
    pub connection_error: Option<String>,
    /// Requests the staying client sent while the partition held.
    pub sent_during: u64,
    /// Requests answered after their 5 s timeout (stale answers).
    pub stale: u64,
    /// Answers came in request order.
    pub in_order: bool,
    /// The first answer after the heal, after the heal.
    pub first_answer_after_heal_s: Option<f64>,
    /// When the blackhole's definition says held bytes go out after the heal:
    /// the next step of the retransmission schedule (0.208 s doubling) from the first held byte.
    pub expected_release_after_heal_s: Option<f64>,
    /// The first held request's send, after the partition started.
    pub first_held_s: Option<f64>,
    /// The reconnecting client's first answer after the heal, after the heal.
    pub reconnect_recovery_s: Option<f64>,
    /// How often it reconnected.
    pub reconnects: u64,
    /// Connections it opened during the partition and gave up on.
    pub abandoned_connections: u64,
    /// Requests written on those connections that the server still received
    /// after the heal (the kernel: none, as connect() never returned).
    pub ghost_requests: u64,
    /// The last of them, after the heal.
    pub last_ghost_after_heal_s: Option<f64>,
    /// How long the new connect() (0.5 s into the partition) took to return.
    pub new_connect_returned_s: Option<f64>,
    /// Its error, if it failed.
    pub new_connect_error: Option<String>,
    /// Its request's answer, after the heal.
    pub new_connect_answer_after_heal_s: Option<f64>,
}

/// Runs one partition of `length` after `warmup` (a multiple of 100 ms) of
/// normal traffic, on a fresh proxy in front of the echo server.
///
/// # Errors
/// [`FidelityError`] if the proxy cannot start or a fault cannot be set.
pub async fn measure(
    bed: &Testbed,
    length: Duration,
    warmup: Duration,
    seed: u64,
) -> Result<PartitionRun, FidelityError> {
    let (echo, log) = bed.logged_echo().await?;
    let proxy = bed
        .proxy(
            &format!("blackhole-{}s", length.as_secs()),
            echo,
            seed,
            Vec::new(),
        )
        .await?;
    let addr = proxy
        .listen_addr()
        .ok_or_else(|| FidelityError::Task("the proxy is not listening".into()))?;
    let t0 = Instant::now();
    let start = t0 + warmup;
    let heal = start + length;
    let give_up = heal + GIVE_UP_AFTER_HEAL;
    let origin = t0 + PHASE;
    let staying = tokio::spawn(staying(addr, origin, heal + SEND_AFTER_HEAL, give_up));
    let reconnecting = tokio::spawn(reconnecting(addr, origin, heal, give_up));
    let new_at = start + Duration::from_secs_f64(kernel::NEW_CONNECT_AT_S);
    let newcomer = tokio::spawn(newcomer(addr, new_at, give_up));

    sleep_until(start).await;
    let names: Vec<String> = Direction::BOTH
        .iter()
        .map(|d| format!("partition_{d}"))
        .collect();
    for (direction, name) in Direction::BOTH.iter().zip(&names) {
        proxy.add_fault(
            Fault::new(
                *direction,
                FaultKind::Blackhole {
                    on_heal: OnHeal::Deliver,
                },
            )
            .named(name.clone()),
        )?;
    }
    let start = Instant::now();
    sleep_until(heal).await;
    for name in &names {
        proxy.remove_fault(name)?;
    }
    let heal = Instant::now();

    let staying = staying
        .await
        .map_err(|e| FidelityError::Task(e.to_string()))?;
    let reconnecting = reconnecting
        .await
        .map_err(|e| FidelityError::Task(e.to_string()))?;
    let newcomer = newcomer
        .await
        .map_err(|e| FidelityError::Task(e.to_string()))?;
    // Give every connection the reconnecting client opened during the
    // partition time to reach the server, should the proxy let it: up to its
    // next SYN retransmission after the heal, and a little more.
    let settle = reconnecting
        .connected
        .iter()
        .filter(|o| **o >= start && **o < heal)
        .filter_map(|o| {
            kernel::SYNS_S
                .iter()
                .map(|s| *o + Duration::from_secs_f64(*s))
                .find(|at| *at >= heal)
        })
        .max();
    if let Some(settle) = settle {
        sleep_until((settle + Duration::from_millis(500)).min(give_up)).await;
    }
    bed.retire(proxy).await;

    let after = |t: Instant, from: Instant| t.saturating_duration_since(from).as_secs_f64();
    let first_held = staying.sends.iter().copied().find(|s| *s >= start);
    let first_timeout = staying
        .sends
        .iter()
        .zip(&staying.answers)
        .find(|(sent, answer)| answer.is_none_or(|a| a > **sent + REQUEST_TIMEOUT))
        .map(|(sent, _)| after(*sent + REQUEST_TIMEOUT, start));
    let answered_all = staying.answers.iter().all(Option::is_some);
    // Connections the reconnecting client opened during the partition and
    // abandoned: the kernel's connect() on them never returned, so nothing
    // was ever sent on them.
    let abandoned = |conn: u16| {
        let opened = reconnecting.connected.get(conn as usize);
        opened.is_some_and(|o| *o >= start && *o < heal) && Some(conn) != reconnecting.recovered_on
    };
    let ghosts: Vec<Instant> = log
        .entries()
        .into_iter()
        .map(|(id, at)| (Id::decode(id), at))
        .filter(|(id, _)| id.client == RECONNECTING && abandoned(id.conn))
        .map(|(_, at)| at)
        .collect();
    Ok(PartitionRun {
        length_s: length.as_secs_f64(),
        first_timeout_s: first_timeout,
        survived: staying.error.is_none() && answered_all && staying.in_order,
        connection_error: staying.error.clone(),
        sent_during: staying
            .sends
            .iter()
            .filter(|s| **s >= start && **s < heal)
            .count() as u64,
        stale: staying
            .sends
            .iter()
            .zip(&staying.answers)
            .filter(|(sent, answer)| answer.is_some_and(|a| a > **sent + REQUEST_TIMEOUT))
            .count() as u64,
        in_order: staying.in_order,
        first_answer_after_heal_s: staying
            .answers
            .iter()
            .flatten()
            .filter(|a| **a >= heal)
            .min()
            .map(|a| after(*a, heal)),
        expected_release_after_heal_s: first_held
            .map(|first| after(retransmission_release(first, heal), heal)),
        first_held_s: first_held.map(|f| after(f, start)),
        reconnect_recovery_s: reconnecting.recovered.map(|r| after(r, heal)),
        reconnects: reconnecting.reconnects,
        abandoned_connections: (0..reconnecting.connected.len() as u16)
            .filter(|c| abandoned(*c))
            .count() as u64,
        ghost_requests: ghosts.len() as u64,
        last_ghost_after_heal_s: ghosts.iter().max().map(|g| after(*g, heal)),
        new_connect_returned_s: newcomer.returned.map(|d| d.as_secs_f64()),
        new_connect_error: newcomer.error,
        new_connect_answer_after_heal_s: newcomer.answered.map(|a| after(a, heal)),
    })
}

/// What the client that keeps its connection saw.
#[derive(Debug, Default)]
struct Staying {
    sends: Vec<Instant>,
    answers: Vec<Option<Instant>>,
    error: Option<String>,
    in_order: bool,
}

/// Sends a request every [`PERIOD`] until `stop_sending` on one connection and
/// reads the answers until every request is answered or `give_up`. A timeout
/// is judged afterwards from the times: this client never drops its connection.
async fn staying(
    addr: SocketAddr,
    origin: Instant,
    stop_sending: Instant,
    give_up: Instant,
) -> Staying {
    let mut seen = Staying {
        in_order: true,
        ..Staying::default()
    };
    let stream = match connect(addr).await {
        Ok(stream) => stream,
        Err(err) => {
            seen.error = Some(error_name(&err));
            return seen;
        }
    };
    let (mut rd, mut wr) = stream.into_split();
    let capacity = (stop_sending
        .saturating_duration_since(Instant::now())
        .as_millis()
        / PERIOD.as_millis()) as usize
        + 2;
    let (sent_tx, mut sent_rx) = mpsc::channel::<Instant>(capacity);
    let writer = tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(origin, PERIOD);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let mut id = 0u32;
        loop {
            ticks.tick().await;
            if Instant::now() >= stop_sending {
                return Ok::<_, std::io::Error>(wr);
            }
            let sent = Instant::now();
            let tagged = Id {
                client: STAYING,
                conn: 0,
                seq: id,
            };
            wr.write_all(&message::request(tagged.encode())).await?;
            if sent_tx.send(sent).await.is_err() {
                return Ok(wr);
            }
            id += 1;
        }
    });
    let mut reader = ResponseReader::default();
    let mut writing = true;
    loop {
        if !writing && seen.answers.iter().all(Option::is_some) {
            break;
        }
        let outstanding = seen.answers.iter().any(Option::is_none);
        tokio::select! {
            sent = sent_rx.recv(), if writing => match sent {
                Some(sent) => {
                    seen.sends.push(sent);
                    seen.answers.push(None);
                }
                None => writing = false,
            },
            answer = reader.next(&mut rd), if outstanding => match answer {
                Ok(id) => {
                    let at = Instant::now();
                    let seq = Id::decode(id).seq as usize;
                    let expected = seen.answers.iter().position(Option::is_none);
                    if expected != Some(seq) {
                        seen.in_order = false;
                    }
                    if let Some(slot) = seen.answers.get_mut(seq) {
                        *slot = Some(at);
                    }
                }
                Err(err) => {
                    seen.error = Some(error_name(&err));
                    break;
                }
            },
            () = sleep_until(give_up) => break,
        }
    }
    writer.abort();
    seen
}

/// What the client that reconnects after a timeout saw.
#[derive(Debug, Default)]
struct Reconnecting {
    recovered: Option<Instant>,
    reconnects: u64,
    /// The connection it recovered on.
    recovered_on: Option<u16>,
    /// When each of its connections' connect() returned, by number.
    connected: Vec<Instant>,
}

/// Sends a request every [`PERIOD`]; when the oldest unanswered request is
/// [`REQUEST_TIMEOUT`] old, drops the connection and connects again. Stops
/// at its first answer after `heal` (its recovery) or at `give_up`.
async fn reconnecting(
    addr: SocketAddr,
    origin: Instant,
    heal: Instant,
    give_up: Instant,
) -> Reconnecting {
    let mut seen = Reconnecting::default();
    let mut ticks = tokio::time::interval_at(origin, PERIOD);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut conn: Option<(OwnedReadHalf, OwnedWriteHalf, ResponseReader)> = None;
    let mut outstanding: VecDeque<Instant> = VecDeque::new();
    let mut next_id = 0u32;
    while Instant::now() < give_up {
        let Some((rd, wr, reader)) = conn.as_mut() else {
            match tokio::time::timeout(REQUEST_TIMEOUT, connect(addr)).await {
                Ok(Ok(stream)) => {
                    let (rd, wr) = stream.into_split();
                    conn = Some((rd, wr, ResponseReader::default()));
                    seen.connected.push(Instant::now());
                    outstanding.clear();
                    next_id = 0;
                }
                // Refused or timed out: try again at the next tick.
                _ => {
                    ticks.tick().await;
                }
            }
            continue;
        };
        let oldest = outstanding.front().map(|sent| *sent + REQUEST_TIMEOUT);
        tokio::select! {
            _ = ticks.tick() => {
                let sent = Instant::now();
                let tagged = Id {
                    client: RECONNECTING,
                    conn: (seen.connected.len() - 1) as u16,
                    seq: next_id,
                };
                if wr.write_all(&message::request(tagged.encode())).await.is_err() {
                    conn = None;
                    seen.reconnects += 1;
                    continue;
                }
                next_id += 1;
                outstanding.push_back(sent);
            }
            answer = reader.next(rd), if !outstanding.is_empty() => match answer {
                Ok(id) => {
                    let at = Instant::now();
                    outstanding.pop_front();
                    if at >= heal {
                        seen.recovered = Some(at);
                        seen.recovered_on = Some(Id::decode(id).conn);
                        return seen;
                    }
                }
                Err(_) => {
                    conn = None;
                    seen.reconnects += 1;
                }
            },
            () = sleep_until(oldest.unwrap_or(give_up)), if oldest.is_some() => {
                conn = None;
                seen.reconnects += 1;
            }
            () = sleep_until(give_up) => break,
        }
    }
    seen
}

/// What the client that connected during the partition saw.
#[derive(Debug, Default)]
struct Newcomer {
    returned: Option<Duration>,
    error: Option<String>,
    answered: Option<Instant>,
}

/// At `at`, calls connect() and sends one request; waits for its answer until `give_up`.
async fn newcomer(addr: SocketAddr, at: Instant, give_up: Instant) -> Newcomer {
    let mut seen = Newcomer::default();
    sleep_until(at).await;
    let began = Instant::now();
    let stream = match tokio::time::timeout_at(give_up, connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => {
            seen.returned = Some(began.elapsed());
            seen.error = Some(error_name(&err));
            return seen;
        }
        Err(_) => return seen,
    };
    seen.returned = Some(began.elapsed());
    let (mut rd, mut wr) = stream.into_split();
    let id = Id {
        client: NEWCOMER,
        conn: 0,
        seq: 0,
    };
    if let Err(err) = wr.write_all(&message::request(id.encode())).await {
        seen.error = Some(error_name(&err));
        return seen;
    }
    let mut reader = ResponseReader::default();
    match tokio::time::timeout_at(give_up, reader.next(&mut rd)).await {
        Ok(Ok(_)) => seen.answered = Some(Instant::now()),
        Ok(Err(err)) => seen.error = Some(error_name(&err)),
        Err(_) => {}
    }
    seen
}

async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}
