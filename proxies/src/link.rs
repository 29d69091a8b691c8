//! One direction of one connection: read from `src`, apply the direction's
//! current fault set, write to `dst`.
//!
//! With no fault set the link copies on the fast path; as soon as a fault set
//! is published it switches, at the next chunk boundary, to the faulted path
//! (the [`Pipeline`]), and back once nothing is held. The end of the stream
//! (FIN) travels through the faults like data and is passed on as a half-close,
//! so one direction may finish while the other goes on.

use std::collections::VecDeque;
use std::io;
use std::net::Shutdown;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::BytesMut;
use rand_chacha::ChaCha8Rng;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::fastpath::{write_all, BUFFER_SIZE};
use crate::fault::{Chunk, Control, Direction, FaultSet};
use crate::pipeline::Pipeline;
use crate::proxy::Shared;

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
}

enum Fast {
    Changed,
    End(LinkEnd),
}

impl Link {
    /// Runs the link until the stream ends, a fault ends it, or it is cancelled.
    pub async fn run(mut self) -> LinkEnd {
        let mut pipeline = Pipeline::default();
        let mut out: VecDeque<Chunk> = VecDeque::new();
        let mut src_done = false;
        let mut held = HeldGauge {
            shared: self.shared.clone(),
            value: 0,
        };
        let set = self.faults.borrow_and_update().clone();
        if let Some(control) = pipeline.replace(&set, Instant::now(), &mut self.rng) {
            return end_for(control);
        }
        loop {
            if pipeline.is_idle() && !src_done {
                match self.fast_path().await {
                    Fast::End(end) => return end,
                    Fast::Changed => {
                        let set = self.faults.borrow_and_update().clone();
                        if let Some(control) = pipeline.replace(&set, Instant::now(), &mut self.rng)
                        {
                            return end_for(control);
                        }
                        continue;
                    }
                }
            }
            let control = pipeline.advance(Instant::now(), &mut self.rng, &mut out);
            while let Some(chunk) = out.pop_front() {
                if chunk.eof {
                    let _ = socket2::SockRef::from(&*self.dst).shutdown(Shutdown::Write);
                    return LinkEnd::Finished;
                }
                if let Err(end) = self.write(&chunk.data).await {
                    return end;
                }
            }
            if let Some(control) = control {
                return end_for(control);
            }
            held.set(pipeline.held());
            let can_read = !src_done && held.value < self.shared.limits.max_held_bytes;
            let deadline = pipeline.deadline();
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => return LinkEnd::Cancelled,
                changed = self.faults.changed() => {
                    if changed.is_err() {
                        return LinkEnd::Cancelled;
                    }
                    let set = self.faults.borrow_and_update().clone();
                    if let Some(control) = pipeline.replace(&set, Instant::now(), &mut self.rng) {
                        return end_for(control);
                    }
                }
                ready = self.src.readable(), if can_read => {
                    if ready.is_err() {
                        return LinkEnd::Reset;
                    }
                    let mut buf = BytesMut::with_capacity(BUFFER_SIZE);
                    match self.src.try_read_buf(&mut buf) {
                        Ok(0) => {
                            src_done = true;
                            pipeline.push(Chunk::eof(Instant::now()), &mut self.rng);
                        }
                        Ok(_) => pipeline.push(Chunk::data(buf.freeze(), Instant::now()), &mut self.rng),
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => return LinkEnd::Reset,
                    }
                }
                () = sleep_until(deadline), if deadline.is_some() => {}
            }
        }
    }

    async fn fast_path(&mut self) -> Fast {
        loop {
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => return Fast::End(LinkEnd::Cancelled),
                changed = self.faults.changed() => {
                    return match changed {
                        Ok(()) => Fast::Changed,
                        Err(_) => Fast::End(LinkEnd::Cancelled),
                    };
                }
                ready = self.src.readable() => {
                    if ready.is_err() {
                        return Fast::End(LinkEnd::Reset);
                    }
                }
            }
            let mut buf = self.shared.buffers.take();
            let result = self.drain_readable(&mut buf).await;
            self.shared.buffers.put(buf);
            if let Some(fast) = result {
                return fast;
            }
        }
    }

    /// Copies until the source would block. `None` means "go back to waiting".
    async fn drain_readable(&mut self, buf: &mut [u8]) -> Option<Fast> {
        loop {
            match self.src.try_read(buf) {
                Ok(0) => {
                    let _ = socket2::SockRef::from(&*self.dst).shutdown(Shutdown::Write);
                    return Some(Fast::End(LinkEnd::Finished));
                }
                Ok(n) => {
                    if let Err(end) = self.write(&buf[..n]).await {
                        return Some(Fast::End(end));
                    }
                    if self.faults.has_changed().unwrap_or(true) {
                        return Some(Fast::Changed);
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return None,
                Err(_) => return Some(Fast::End(LinkEnd::Reset)),
            }
        }
    }

    async fn write(&self, data: &[u8]) -> Result<(), LinkEnd> {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(LinkEnd::Cancelled),
            written = write_all(&self.dst, data) => match written {
                Ok(()) => {
                    self.shared.stats.bytes(self.direction).fetch_add(data.len() as u64, Ordering::Relaxed);
                    Ok(())
                }
                Err(_) => Err(LinkEnd::Reset),
            },
        }
    }
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

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
