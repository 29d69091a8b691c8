//! A reject partition as clients see it: `reject` on both directions (the
//! kernel's iptables REJECT with a TCP reset). What an open connection sees
//! at its next send, whether an idle one notices anything, what a new
//! connect() gets (the kernel: ECONNREFUSED at once; a userspace proxy has
//! already completed the handshake, so it can only reset an accepted
//! connection), and how soon connects succeed after the heal.

use std::net::SocketAddr;
use std::time::Duration;

use faultline_proxies::{Direction, Fault, FaultKind};
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{sleep_until, Instant};

use crate::message::{self, error_name, ResponseReader};
use crate::testbed::Testbed;
use crate::FidelityError;

/// Time between two requests of the open connection, and between two
/// connection attempts of the prober.
const PERIOD: Duration = Duration::from_millis(100);
const PROBE_PERIOD: Duration = Duration::from_millis(50);
/// Bound of one request or one probe.
const ATTEMPT: Duration = Duration::from_secs(1);
/// The open connection's requests leave this long after each 100 ms boundary
/// of the run: its first send into the partition comes 0.07 s in, as in the
/// kernel's run. The prober's attempts land 10 ms after the heal, not on it.
const OPEN_PHASE: Duration = Duration::from_millis(70);
const PROBE_PHASE: Duration = Duration::from_millis(310);
/// How long after the heal the prober keeps trying.
const GIVE_UP_AFTER_HEAL: Duration = Duration::from_secs(5);

/// What one reject partition showed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejectRun {
    /// Length of the partition, s.
    pub length_s: f64,
    /// The error the open connection's client saw (requests every 100 ms).
    pub open_error: Option<String>,
    /// When, after the partition started, s.
    pub open_error_after_s: Option<f64>,
    /// When, after the send that met the reset, ms.
    pub open_error_after_send_ms: Option<f64>,
    /// Which call reported it: `send` or `read after send`.
    pub open_error_on: Option<String>,
    /// An idle connection saw nothing during the partition until it sent.
    pub idle_quiet: bool,
    /// The error the idle connection saw when it finally sent.
    pub idle_error: Option<String>,
    /// A new connect() during the partition returned success.
    pub new_connect_ok: bool,
    /// What the new connection's client saw, without the times.
    pub new_connect_outcome: String,
    /// How long that connect() took, ms.
    pub new_connect_returned_ms: Option<f64>,
    /// The error the new connection's client saw (from connect() or after it).
    pub new_connect_error: Option<String>,
    /// When, after its connect() began, ms.
    pub new_connect_error_after_ms: Option<f64>,
    /// The prober's attempts (fresh connection, request, answer) that failed.
    pub failed_attempts: u64,
    /// The prober's attempts that succeeded while the partition held (a
    /// reject that lets anything through is broken: expect 0).
    pub succeeded_during: u64,
    /// The prober's first full success (connect, request, answer), after the heal, s.
    pub first_success_after_heal_s: Option<f64>,
}

/// Runs one reject partition of `length` after `warmup` (a multiple of
/// 100 ms), on a fresh proxy.
///
/// # Errors
/// [`FidelityError`] if the proxy cannot start or a fault cannot be set.
pub async fn measure(
    bed: &Testbed,
    length: Duration,
    warmup: Duration,
    seed: u64,
) -> Result<RejectRun, FidelityError> {
    let proxy = bed.proxy("reject", bed.echo, seed, Vec::new()).await?;
    let addr = proxy
        .listen_addr()
        .ok_or_else(|| FidelityError::Task("the proxy is not listening".into()))?;
    let t0 = Instant::now();
    let start = t0 + warmup;
    let heal = start + length;
    let give_up = heal + GIVE_UP_AFTER_HEAL;
    let open = tokio::spawn(open_client(addr, t0 + OPEN_PHASE, heal));
    let idle = tokio::spawn(idle_client(addr, start + length / 2));
    let newcomer = tokio::spawn(newcomer(addr, start + Duration::from_millis(200)));
    let prober = tokio::spawn(prober(addr, start + PROBE_PHASE, heal, give_up));

    sleep_until(start).await;
    let names = ["reject_upstream", "reject_downstream"];
    for (direction, name) in Direction::BOTH.iter().zip(names) {
        proxy.add_fault(Fault::new(*direction, FaultKind::Reject).named(name))?;
    }
    let start = Instant::now();
    sleep_until(heal).await;
    for name in names {
        proxy.remove_fault(name)?;
    }
    let heal = Instant::now();

    let task = |e: tokio::task::JoinError| FidelityError::Task(e.to_string());
    let open = open.await.map_err(task)?;
    let idle = idle.await.map_err(task)?;
    let newcomer = newcomer.await.map_err(task)?;
    let prober = prober.await.map_err(task)?;
    bed.retire(proxy).await;

    let after = |t: Instant, from: Instant| t.saturating_duration_since(from).as_secs_f64();
    Ok(RejectRun {
        length_s: length.as_secs_f64(),
        open_error: open.as_ref().map(|o| o.error.clone()),
        open_error_after_s: open.as_ref().map(|o| after(o.at, start)),
        open_error_after_send_ms: open.as_ref().map(|o| after(o.at, o.sent) * 1000.0),
        open_error_on: open.map(|o| o.on.to_owned()),
        idle_quiet: idle.0,
        idle_error: idle.1,
        new_connect_ok: newcomer.ok,
        new_connect_outcome: match (&newcomer.error, newcomer.ok) {
            (Some(e), true) => format!("connect() succeeds, then {e}"),
            (Some(e), false) => format!("connect() fails: {e}"),
            (None, _) => "connect() succeeds and the request is answered".into(),
        },
        new_connect_returned_ms: newcomer.returned.map(|d| d.as_secs_f64() * 1000.0),
        new_connect_error: newcomer.error,
        new_connect_error_after_ms: newcomer.error_after.map(|d| d.as_secs_f64() * 1000.0),
        failed_attempts: prober.failed,
        succeeded_during: prober.succeeded_during,
        first_success_after_heal_s: prober.succeeded.map(|s| after(s, heal)),
    })
}

/// One request, its answer within [`ATTEMPT`]. The error and which call gave it.
async fn round_trip(stream: &mut TcpStream, id: u64) -> Result<(), (std::io::Error, &'static str)> {
    stream
        .write_all(&message::request(id))
        .await
        .map_err(|e| (e, "send"))?;
    let mut reader = ResponseReader::default();
    match tokio::time::timeout(ATTEMPT, reader.next(stream)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err((err, "read after send")),
        Err(_) => Err((std::io::ErrorKind::TimedOut.into(), "read after send")),
    }
}

/// The first error of the open connection.
#[derive(Debug)]
struct OpenError {
    error: String,
    at: Instant,
    sent: Instant,
    on: &'static str,
}

/// A request every [`PERIOD`] from `origin` on one connection until it
/// fails or `until`: the first error, when, and on which call.
async fn open_client(addr: SocketAddr, origin: Instant, until: Instant) -> Option<OpenError> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    let mut ticks = tokio::time::interval_at(origin, PERIOD);
    let mut id = 0;
    while Instant::now() < until {
        ticks.tick().await;
        let sent = Instant::now();
        if let Err((err, on)) = round_trip(&mut stream, id).await {
            return Some(OpenError {
                error: error_name(&err),
                at: Instant::now(),
                sent,
                on,
            });
        }
        id += 1;
    }
    None
}

/// Connects and completes one request before the partition, stays idle until
/// `look`, checks that nothing arrived, then sends. (Quiet, the error on send.)
async fn idle_client(addr: SocketAddr, look: Instant) -> (bool, Option<String>) {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return (false, Some("connect failed before the partition".into()));
    };
    let _ = stream.set_nodelay(true);
    if round_trip(&mut stream, 0).await.is_err() {
        return (false, Some("request failed before the partition".into()));
    }
    sleep_until(look).await;
    let mut probe = [0u8; 1];
    let quiet =
        matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    let error = round_trip(&mut stream, 1)
        .await
        .err()
        .map(|(err, on)| format!("{} on {on}", error_name(&err)));
    (quiet, error)
}

#[derive(Debug, Default)]
struct Newcomer {
    ok: bool,
    returned: Option<Duration>,
    error: Option<String>,
    error_after: Option<Duration>,
}

/// At `at`, connect() and one request.
async fn newcomer(addr: SocketAddr, at: Instant) -> Newcomer {
    let mut seen = Newcomer::default();
    sleep_until(at).await;
    let began = Instant::now();
    let connected = tokio::time::timeout(ATTEMPT, TcpStream::connect(addr)).await;
    seen.returned = Some(began.elapsed());
    let mut stream = match connected {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => {
            seen.error = Some(error_name(&err));
            seen.error_after = seen.returned;
            return seen;
        }
        Err(_) => {
            seen.error = Some("connect() timed out".into());
            return seen;
        }
    };
    seen.ok = true;
    let _ = stream.set_nodelay(true);
    if let Err((err, on)) = round_trip(&mut stream, 0).await {
        seen.error = Some(format!("{} on {on}", error_name(&err)));
        seen.error_after = Some(began.elapsed());
    }
    seen
}

#[derive(Debug, Default)]
struct Prober {
    failed: u64,
    succeeded_during: u64,
    succeeded: Option<Instant>,
}

/// From `from`, every [`PROBE_PERIOD`]: a fresh connection, one request, its
/// answer. Stops at the first success after `heal`, or at `give_up`.
async fn prober(addr: SocketAddr, from: Instant, heal: Instant, give_up: Instant) -> Prober {
    let mut seen = Prober::default();
    sleep_until(from).await;
    let mut ticks = tokio::time::interval(PROBE_PERIOD);
    while Instant::now() < give_up {
        ticks.tick().await;
        let attempt = async {
            let mut stream = TcpStream::connect(addr).await.map_err(|e| (e, "connect"))?;
            let _ = stream.set_nodelay(true);
            round_trip(&mut stream, 0).await
        };
        match tokio::time::timeout(ATTEMPT, attempt).await {
            Ok(Ok(())) => {
                let at = Instant::now();
                if at >= heal {
                    seen.succeeded = Some(at);
                    return seen;
                }
                seen.succeeded_during += 1;
            }
            _ => seen.failed += 1,
        }
    }
    seen
}
