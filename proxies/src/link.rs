//! One direction of one connection: read from `src`, apply the direction's
//! current fault set, write to `dst`.
//!
//! With no fault set the link copies on the fast path; as soon as a fault set
//! is published it switches, at the next chunk boundary, to the faulted path
//! (the [`Pipeline`]), and back once nothing is held. The end of the stream
//! (FIN) travels through the faults like data and is passed on as a half-close,
//! so one direction may finish while the other goes on.
//!
//! The fast path relays bursts: when the source turns readable it takes a pipe
//! from the proxy's pool and splices socket → pipe → socket (see [`splice`]),
//! or copies through a pooled buffer when splice is off, refused or out of
//! pipes, and gives the pipe back as soon as the source would block. A fault
//! change is noticed between two bursts, or while the destination is full; any
//! bytes already read off the source then go first into the new pipeline, so
//! the switch loses, duplicates and reorders nothing.
//!
//! [`splice`]: crate::splice

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::fastpath::{write_all, BUFFER_SIZE};
use crate::fault::{Chunk, Control, Direction, FaultSet};
use crate::pipeline::Pipeline;
use crate::shared::Shared;
use crate::timer::ReleaseTimer;

mod fast;

use fast::Fast;

/// How a link ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkEnd {
    /// The source finished and the half-close was passed on.
    Finished,
    /// A fault asked for the connection to close (FIN both ways).
    Close,
    /// The connection must be reset: a fault, or a peer that reset.
    Reset,
    /// The connection or proxy was cancelled.
    Cancelled,
}

/// One direction of one connection.
pub struct Link {
    /// Which direction.
    pub direction: Direction,
    /// Where bytes come from.
    pub src: Arc<TcpStream>,
    /// Where bytes go.
    pub dst: Arc<TcpStream>,
    /// The direction's fault set.
    pub faults: watch::Receiver<Arc<FaultSet>>,
    /// This link's RNG stream.
    pub rng: ChaCha8Rng,
    /// The proxy's pools, limits and counters.
    pub shared: Arc<Shared>,
    /// Cancelled when the connection ends.
    pub cancel: CancellationToken,
    /// The connection's measured round trip (the proxy's handshake time with
    /// the upstream), the floor under a `loss` fault's congestion model.
    pub rtt_floor: Duration,
}

/// Smallest and largest read of the faulted path. Reads adapt between them:
/// a bulk stream reads big chunks (few syscalls, no copy), a chatty one small
/// ones (copied into exact-size chunks, so a held chunk pins no spare memory).
const MIN_READ: usize = 16 * 1024;
const MAX_READ: usize = 1024 * 1024;

impl Link {
    /// Runs the link until the stream ends, a fault ends it, or it is cancelled.
    ///
    /// The returned future is small (a few hundred bytes) while the link idles
    /// on the fast path: the RNG is parked as its seed and position, and the
    /// faulted path's state (pipeline, RNG, timers) is allocated only while a
    /// fault set applies.
    pub fn run(self) -> impl Future<Output = LinkEnd> + Send + 'static {
        let Link {
            direction,
            src,
            dst,
            faults,
            rng,
            shared,
            cancel,
            rtt_floor,
        } = self;
        let splice = shared.limits.splice;
        let mut state = LinkState {
            direction,
            src,
            dst,
            faults,
            rng: ParkedRng::park(&rng),
            shared,
            cancel,
            splice,
            rtt_floor,
        };
        // An async block that borrows its capture, rather than an async fn
        // taking `self`: an async fn would store its argument twice.
        async move { state.run().await }
    }
}

/// A [`ChaCha8Rng`] folded into its seed, stream and position (56 bytes
/// rather than 320); unparking gives back the very same generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ParkedRng {
    seed: [u8; 32],
    stream: u64,
    word_pos: u128,
}

impl ParkedRng {
    fn park(rng: &ChaCha8Rng) -> Self {
        Self {
            seed: rng.get_seed(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos(),
        }
    }

    fn unpark(&self) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::from_seed(self.seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(self.word_pos);
        rng
    }
}

/// A running link. Kept small: it lives as long as the connection.
struct LinkState {
    direction: Direction,
    src: Arc<TcpStream>,
    dst: Arc<TcpStream>,
    faults: watch::Receiver<Arc<FaultSet>>,
    rng: ParkedRng,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    /// False for good once the kernel refused splice(2) on these sockets.
    splice: bool,
    /// See [`Link::rtt_floor`].
    rtt_floor: Duration,
}

/// How a stretch on the faulted path ended.
enum Faulted {
    /// No fault applies and nothing is held: back to the fast path.
    Idle,
    /// The link is over.
    End(LinkEnd),
}

impl LinkState {
    async fn run(&mut self) -> LinkEnd {
        let mut fast = self.faults.borrow_and_update().is_empty();
        loop {
            let in_flight = if fast {
                match self.fast_path().await {
                    Fast::End(end) => return end,
                    Fast::Changed(rest) => rest,
                }
            } else {
                None
            };
            // Boxed: an idle link carries none of the faulted path's state.
            match Box::pin(self.faulted(in_flight)).await {
                Faulted::End(end) => return end,
                Faulted::Idle => fast = true,
            }
        }
    }

    /// The faulted path: the current fault set's pipeline, until the link
    /// ends or no fault applies and nothing is held. `in_flight` holds bytes
    /// the fast path had read but not written; they lead the stream.
    async fn faulted(&mut self, in_flight: Option<Bytes>) -> Faulted {
        let mut rng = self.rng.unpark();
        let mut pipeline = Pipeline::new(self.rtt_floor);
        let mut out: VecDeque<Chunk> = VecDeque::new();
        let mut src_done = false;
        let mut held = HeldGauge {
            shared: self.shared.clone(),
            value: 0,
        };
        let mut read_size = BUFFER_SIZE;
        let now = Instant::now();
        let set = self.faults.borrow_and_update().clone();
        if let Some(control) = pipeline.replace(&set, now, &mut rng) {
            return Faulted::End(end_for(control));
        }
        if let Some(data) = in_flight.filter(|d| !d.is_empty()) {
            pipeline.push(Chunk::data(data, now), &mut rng);
        }
        loop {
            if pipeline.is_idle() && !src_done {
                // An idle pipeline is a fresh one (no stage, no toxicity roll
                // kept), so it is dropped here and rebuilt on the next fault.
                self.rng = ParkedRng::park(&rng);
                return Faulted::Idle;
            }
            let control = pipeline.advance(Instant::now(), &mut rng, &mut out);
            while let Some(chunk) = out.pop_front() {
                if chunk.eof {
                    let _ = socket2::SockRef::from(&*self.dst).shutdown(Shutdown::Write);
                    return Faulted::End(LinkEnd::Finished);
                }
                if let Err(end) = self.write(&chunk.data).await {
                    return Faulted::End(end);
                }
            }
            if let Some(control) = control {
                return Faulted::End(end_for(control));
            }
            held.set(pipeline.held());
            let can_read = !src_done && held.value < self.shared.limits.max_held_bytes;
            let deadline = pipeline.deadline();
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => return Faulted::End(LinkEnd::Cancelled),
                changed = self.faults.changed() => {
                    if changed.is_err() {
                        return Faulted::End(LinkEnd::Cancelled);
                    }
                    let set = self.faults.borrow_and_update().clone();
                    if let Some(control) = pipeline.replace(&set, Instant::now(), &mut rng) {
                        return Faulted::End(end_for(control));
                    }
                }
                ready = self.src.readable(), if can_read => {
                    if ready.is_err() {
                        return Faulted::End(LinkEnd::Reset);
                    }
                    match read_chunk(&self.src, &mut read_size) {
                        Ok(None) => {
                            src_done = true;
                            pipeline.push(Chunk::eof(Instant::now()), &mut rng);
                        }
                        Ok(Some(data)) => pipeline.push(Chunk::data(data, Instant::now()), &mut rng),
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => return Faulted::End(LinkEnd::Reset),
                    }
                }
                () = sleep_until(&self.shared.timer, deadline), if deadline.is_some() => {}
            }
        }
    }

    fn count(&self, n: usize) {
        self.shared
            .stats
            .bytes(self.direction)
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    async fn write(&self, data: &[u8]) -> Result<(), LinkEnd> {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(LinkEnd::Cancelled),
            written = write_all(&self.dst, data) => match written {
                Ok(()) => {
                    self.count(data.len());
                    Ok(())
                }
                Err(_) => Err(LinkEnd::Reset),
            },
        }
    }
}

/// One read of the faulted path. `Ok(None)` is the end of the stream.
/// `size` adapts to the stream: doubled after a full read, halved after a
/// read that used less than a quarter. A read that fills at least half of its
/// buffer keeps it (no copy); a smaller one is copied into an exact-size chunk.
fn read_chunk(src: &TcpStream, size: &mut usize) -> io::Result<Option<Bytes>> {
    let mut buf = BytesMut::with_capacity(*size);
    let n = src.try_read_buf(&mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    let capacity = buf.capacity();
    *size = if n >= capacity {
        (*size * 2).min(MAX_READ)
    } else if n * 4 < capacity {
        (*size / 2).max(MIN_READ)
    } else {
        *size
    };
    Ok(Some(if n * 2 >= capacity {
        buf.freeze()
    } else {
        Bytes::copy_from_slice(&buf)
    }))
}

/// This link's share of the proxy's held-bytes gauge; given back on drop.
struct HeldGauge {
    shared: Arc<Shared>,
    value: usize,
}

impl HeldGauge {
    fn set(&mut self, value: usize) {
        if value != self.value {
            let gauge = &self.shared.stats.held;
            if value > self.value {
                gauge.fetch_add((value - self.value) as u64, Ordering::Relaxed);
            } else {
                gauge.fetch_sub((self.value - value) as u64, Ordering::Relaxed);
            }
            self.value = value;
        }
    }
}

impl Drop for HeldGauge {
    fn drop(&mut self) {
        self.set(0);
    }
}

fn end_for(control: Control) -> LinkEnd {
    match control {
        Control::Close => LinkEnd::Close,
        Control::Reset => LinkEnd::Reset,
    }
}

async fn sleep_until(timer: &ReleaseTimer, deadline: Option<Instant>) {
    match deadline {
        Some(at) => timer.sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use rand::RngCore;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::fault::{ActiveFault, Fault, FaultKind, OnHeal};
    use crate::shared::Limits;
    use crate::splice::tests::pair;

    fn shared(limits: Limits) -> Arc<Shared> {
        Arc::new(Shared::new(limits))
    }

    fn blackhole() -> Arc<FaultSet> {
        Arc::new(FaultSet {
            faults: vec![Arc::new(ActiveFault {
                id: 1,
                fault: Fault::new(
                    Direction::Upstream,
                    FaultKind::Blackhole {
                        on_heal: OnHeal::DeliverNow,
                    },
                ),
            })],
            round_trip: Duration::ZERO,
        })
    }

    /// Yields until `done` holds (the event a test waits for), failing after 30 s.
    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        let give_up = Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(Instant::now() < give_up, "never happened: {what}");
            tokio::task::yield_now().await;
        }
    }

    #[test]
    fn a_parked_rng_unparks_into_the_same_sequence() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        rng.set_stream(5);
        rng.next_u64();
        let parked = ParkedRng::park(&rng);
        let mut again = parked.unpark();
        for _ in 0..100 {
            assert_eq!(rng.next_u64(), again.next_u64());
        }
    }

    #[tokio::test]
    async fn an_idle_link_is_small() {
        let (a, b) = pair().await;
        let (_tx, rx) = watch::channel(Arc::new(FaultSet::default()));
        let link = Link {
            direction: Direction::Upstream,
            src: Arc::new(a),
            dst: Arc::new(b),
            faults: rx,
            rng: ChaCha8Rng::seed_from_u64(1),
            shared: shared(Limits::default()),
            cancel: CancellationToken::new(),
            rtt_floor: Duration::ZERO,
        };
        // Two of these per connection, plus the task and sockets, must stay
        // under DESIGN.md's 4 KB of user memory per idle connection.
        let size = std::mem::size_of_val(&link.run());
        assert!(size <= 1024, "an idle link's future is {size} bytes");
    }

    /// The destination is full, so the link's pipe holds bytes it cannot
    /// write; a blackhole then arrives. The piped bytes must go into the fault
    /// (counted as held), come out in order on heal, and not one be lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bytes_in_a_pipe_when_a_fault_arrives_go_through_the_fault_in_order() {
        const TOTAL: usize = 24 * 1024 * 1024;
        const ROOM: usize = 64 * 1024;
        let (mut client, proxy_in) = pair().await;
        let (proxy_out, mut server) = pair().await;
        // A deep source and a shallow destination: once the server stops
        // reading, the link cannot empty a pipe, and never runs out of input.
        for (stream, size) in [(&client, 4 << 20), (&proxy_in, 4 << 20)] {
            let socket = socket2::SockRef::from(stream);
            socket.set_send_buffer_size(size).unwrap();
            socket.set_recv_buffer_size(size).unwrap();
        }
        socket2::SockRef::from(&proxy_out)
            .set_send_buffer_size(16 * 1024)
            .unwrap();
        socket2::SockRef::from(&server)
            .set_recv_buffer_size(16 * 1024)
            .unwrap();
        // Fill the destination before the link starts: its writes block.
        let junk = vec![0xeeu8; ROOM];
        let mut prefilled = 0;
        loop {
            match proxy_out.try_write(&junk) {
                Ok(n) => prefilled += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => panic!("{err}"),
            }
        }
        let mut data = vec![0u8; TOTAL];
        ChaCha8Rng::seed_from_u64(3).fill_bytes(&mut data);
        let data = Arc::new(data);
        // Megabytes wait at the source before the link starts.
        let mut sent = 0;
        while let Ok(n) = client.try_write(&data[sent..sent + ROOM]) {
            sent += n;
        }
        assert!(
            sent >= 1 << 20,
            "only {sent} bytes fit in the source's buffers"
        );
        let writer = {
            let data = data.clone();
            tokio::spawn(async move {
                client.write_all(&data[sent..]).await.unwrap();
                client.shutdown().await.unwrap();
                client
            })
        };
        let shared = shared(Limits::default());
        let (faults, rx) = watch::channel(Arc::new(FaultSet::default()));
        let link = Link {
            direction: Direction::Upstream,
            src: Arc::new(proxy_in),
            dst: Arc::new(proxy_out),
            faults: rx,
            rng: ChaCha8Rng::seed_from_u64(1),
            shared: shared.clone(),
            cancel: CancellationToken::new(),
            rtt_floor: Duration::ZERO,
        };
        let running = tokio::spawn(link.run());
        // Make room, a little at a time, until the link is past its first
        // (copied) read and splices: from then on the server reads nothing,
        // so the link ends up with bytes in a pipe it cannot empty.
        let mut head = Vec::new();
        let mut chunk = vec![0u8; ROOM];
        while !(shared.pipes.live() == 1 && shared.pipes.free() == 0) {
            assert!(head.len() < TOTAL / 2, "the link never took a pipe");
            server.read_exact(&mut chunk).await.unwrap();
            head.extend_from_slice(&chunk);
        }
        faults.send_replace(blackhole());
        until("the blackhole holds bytes", || {
            shared.stats.held.load(Ordering::Relaxed) > 0
        })
        .await;
        until("the pipe is given back", || shared.pipes.free() == 1).await;
        faults.send_replace(Arc::new(FaultSet::default()));
        let mut got = head;
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(running.await.unwrap(), LinkEnd::Finished);
        drop(writer.await.unwrap());
        let got = &got[prefilled..];
        assert_eq!(got.len(), TOTAL);
        assert!(
            got == &data[..],
            "bytes lost, duplicated or reordered at the switch"
        );
        assert_eq!(
            shared
                .stats
                .bytes(Direction::Upstream)
                .load(Ordering::Relaxed),
            TOTAL as u64
        );
        assert_eq!(shared.stats.held.load(Ordering::Relaxed), 0);
    }
}
