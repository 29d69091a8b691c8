//! The zero-fault fast path of a link: bursts relayed with a probe read,
//! then splice(2) through a pooled pipe or a copy through a pooled buffer,
//! until the fault set changes (see the [`super`] module documentation).

use std::future::poll_fn;
use std::io::{self, Read};
use std::net::Shutdown;

use bytes::Bytes;
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::{LinkEnd, LinkState};
use crate::splice::{self, PooledPipe};

/// Why the fast path handed control back to the link.
pub(super) enum Fast {
    /// The fault set changed. The bytes already read off the source but not
    /// yet written (from a pipe or a buffer) come along, to go first through
    /// the new faults.
    Changed(Option<Bytes>),
    /// The link is over.
    End(LinkEnd),
}

/// What a fast-path link waiting on a full destination met first.
enum Blocked {
    /// The destination takes bytes again.
    Writable,
    /// The fault set changed: what is unwritten goes to the new faults.
    Changed,
    /// The link ends.
    End(LinkEnd),
}

/// How much a burst reads before it takes the source for a bulk stream.
const PROBE: usize = 16 * 1024;

std::thread_local! {
    /// The probe read's buffer: one per thread, never held across an await.
    static PROBE_BUFFER: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0u8; PROBE].into_boxed_slice());
}

/// What a probe read did.
enum Probe {
    /// Nothing to read (the readiness was stale and is now cleared).
    Empty,
    /// The source ended.
    Eof,
    /// A socket failed.
    Failed,
    /// Every byte read was written; `drained` when the read was short.
    Relayed {
        /// The read was short: the source has nothing more for now.
        drained: bool,
    },
    /// The destination took only part; `rest` waits for it.
    Partial {
        /// The bytes still to write.
        rest: Bytes,
        /// The read was short.
        drained: bool,
    },
}

impl LinkState {
    /// The zero-fault path: relays bursts of readable data until the fault set
    /// changes or the link ends.
    ///
    /// Each burst starts with one read of at most [`PROBE`] bytes into a
    /// per-thread buffer, written straight on: a small message (request and
    /// response traffic) costs a read and a write, no allocation, no lock,
    /// and a short read tells that the socket is drained without a third
    /// call. A read that fills the probe marks a bulk stream, which goes on
    /// through a pipe with splice(2) when it can ([`LinkState::bulk`]).
    pub(super) async fn fast_path(&mut self) -> Fast {
        // Registered once for the whole stretch, not once per message.
        let mut watcher = self.faults.clone();
        let changed = watcher.changed();
        tokio::pin!(changed);
        let cancelled = self.cancel.clone().cancelled_owned();
        tokio::pin!(cancelled);
        loop {
            tokio::select! {
                biased;
                () = &mut cancelled => return Fast::End(LinkEnd::Cancelled),
                changed = &mut changed => {
                    return match changed {
                        Ok(()) => Fast::Changed(None),
                        Err(_) => Fast::End(LinkEnd::Cancelled),
                    };
                }
                // Polled in place (no waiter stored in this future): an idle
                // link is mostly this wait, and it is kept small.
                ready = poll_fn(|cx| self.src.poll_read_ready(cx)) => {
                    if ready.is_err() {
                        return Fast::End(LinkEnd::Reset);
                    }
                }
            }
            let (written, probe) = self.probe();
            self.count(written);
            let bulk = match probe {
                Probe::Empty => continue,
                Probe::Eof => return self.finish(),
                Probe::Failed => return Fast::End(LinkEnd::Reset),
                Probe::Relayed { drained } => !drained,
                Probe::Partial { rest, drained } => {
                    // The destination is full: wait for it (boxed: a slow path).
                    if let Some(fast) = Box::pin(self.write_fast(&rest)).await {
                        return fast;
                    }
                    !drained
                }
            };
            if self.faults.has_changed().unwrap_or(true) {
                return Fast::Changed(None);
            }
            if bulk {
                // The burst's state is boxed and its pipe or buffer is held
                // only for the burst: an idle link holds none of them.
                if let Some(fast) = Box::pin(self.bulk()).await {
                    return fast;
                }
            }
        }
    }

    /// One read of at most [`PROBE`] bytes into this thread's buffer, written
    /// on at once as far as the destination takes it. Returns the bytes
    /// written and what happened.
    fn probe(&self) -> (usize, Probe) {
        PROBE_BUFFER.with(|cell| {
            let mut buf = cell.borrow_mut();
            let (n, drained) = match read_clearing(&self.src, &mut buf[..]) {
                Ok((0, _)) => return (0, Probe::Eof),
                Ok(read) => read,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return (0, Probe::Empty),
                Err(_) => return (0, Probe::Failed),
            };
            let mut written = 0;
            while written < n {
                match self.dst.try_write(&buf[written..n]) {
                    Ok(0) => return (written, Probe::Failed),
                    Ok(w) => written += w,
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                        let rest = Bytes::copy_from_slice(&buf[written..n]);
                        return (written, Probe::Partial { rest, drained });
                    }
                    Err(_) => return (written, Probe::Failed),
                }
            }
            (written, Probe::Relayed { drained })
        })
    }

    /// Relays a bulk stream until the source would block (`None`): through
    /// a pipe when splice is on and the pool has one, else through a buffer.
    async fn bulk(&mut self) -> Option<Fast> {
        if self.splice {
            if let Some(pipe) = self.shared.pipes.take() {
                return self.splice_burst(pipe).await;
            }
        }
        let mut buf = self.shared.buffers.take();
        let fast = self.copy(&mut buf).await;
        self.shared.buffers.put(buf);
        fast
    }

    /// Copies through `buf` until the source would block (`None`).
    async fn copy(&mut self, buf: &mut [u8]) -> Option<Fast> {
        loop {
            let (n, drained) = match read_clearing(&self.src, buf) {
                Ok((0, _)) => return Some(self.finish()),
                Ok(read) => read,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return None,
                Err(_) => return Some(Fast::End(LinkEnd::Reset)),
            };
            if let Some(fast) = self.write_fast(&buf[..n]).await {
                return Some(fast);
            }
            if let Some(fast) = self.between_bursts().await {
                return Some(fast);
            }
            if drained {
                return None;
            }
        }
    }

    /// Splices socket → pipe → socket until the source would block (`None`).
    async fn splice_burst(&mut self, mut pipe: PooledPipe) -> Option<Fast> {
        loop {
            match pipe.fill_from(&self.src) {
                Ok(0) => return Some(self.finish()),
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return None,
                Err(err) if splice::is_unsupported(&err) => {
                    tracing::debug!(%err, "splice refused; copying instead");
                    self.splice = false;
                    return None;
                }
                Err(_) => return Some(Fast::End(LinkEnd::Reset)),
            }
            while !pipe.is_empty() {
                match pipe.drain_into(&self.dst) {
                    Ok(n) => self.count(n),
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                        match self.wait_for_destination().await {
                            Blocked::Writable => {}
                            Blocked::End(end) => return Some(Fast::End(end)),
                            // Leave now, with what the pipe holds, rather than
                            // wait for a slow reader: the new faults apply to
                            // these bytes too.
                            Blocked::Changed => {
                                return Some(match pipe.take_bytes() {
                                    Ok(rest) => Fast::Changed(Some(rest)),
                                    Err(_) => Fast::End(LinkEnd::Reset),
                                })
                            }
                        }
                    }
                    Err(err) if splice::is_unsupported(&err) => {
                        self.splice = false;
                        let rest = match pipe.take_bytes() {
                            Ok(rest) => rest,
                            Err(_) => return Some(Fast::End(LinkEnd::Reset)),
                        };
                        if let Some(fast) = self.write_fast(&rest).await {
                            return Some(fast);
                        }
                        return None;
                    }
                    Err(_) => return Some(Fast::End(LinkEnd::Reset)),
                }
            }
            if let Some(fast) = self.between_bursts().await {
                return Some(fast);
            }
        }
    }

    /// The chunk boundary of the fast path: a changed fault set or a cancel
    /// is noticed here, and a link that always has data yields to its
    /// neighbours once its cooperative budget is spent.
    async fn between_bursts(&mut self) -> Option<Fast> {
        if self.faults.has_changed().unwrap_or(true) {
            return Some(Fast::Changed(None));
        }
        if self.cancel.is_cancelled() {
            return Some(Fast::End(LinkEnd::Cancelled));
        }
        tokio::task::consume_budget().await;
        None
    }

    /// Waits, with the destination full, until it takes bytes again, the
    /// fault set changes or the link is cancelled, whichever comes first.
    async fn wait_for_destination(&mut self) -> Blocked {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Blocked::End(LinkEnd::Cancelled),
            changed = self.faults.changed() => match changed {
                Ok(()) => Blocked::Changed,
                Err(_) => Blocked::End(LinkEnd::Cancelled),
            },
            ready = self.dst.writable() => match ready {
                Ok(()) => Blocked::Writable,
                Err(_) => Blocked::End(LinkEnd::Reset),
            },
        }
    }

    /// Writes `data` on the fast path; on a fault change while the destination
    /// is full, hands back what is left unwritten.
    async fn write_fast(&mut self, mut data: &[u8]) -> Option<Fast> {
        while !data.is_empty() {
            match self.dst.try_write(data) {
                Ok(0) => return Some(Fast::End(LinkEnd::Reset)),
                Ok(n) => {
                    self.count(n);
                    data = &data[n..];
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    match self.wait_for_destination().await {
                        Blocked::Writable => {}
                        Blocked::End(end) => return Some(Fast::End(end)),
                        Blocked::Changed => {
                            return Some(Fast::Changed(Some(Bytes::copy_from_slice(data))))
                        }
                    }
                }
                Err(_) => return Some(Fast::End(LinkEnd::Reset)),
            }
        }
        None
    }

    /// The source finished: pass the half-close on.
    fn finish(&self) -> Fast {
        let _ = socket2::SockRef::from(&*self.dst).shutdown(Shutdown::Write);
        Fast::End(LinkEnd::Finished)
    }
}

/// Reads from `src` into `buf`; returns the count and whether the read was
/// short. A short read means the socket's receive queue was emptied, so its
/// read readiness is cleared then and there (as tokio's own `poll_read`
/// does), saving the call that would only say `WouldBlock`. tokio clears
/// readiness only if no new readiness event arrived meanwhile, so bytes that
/// land during the read still wake the link.
fn read_clearing(src: &TcpStream, buf: &mut [u8]) -> io::Result<(usize, bool)> {
    let mut short = 0;
    let read = src.try_io(Interest::READABLE, || {
        let n = loop {
            match (&*socket2::SockRef::from(src)).read(buf) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                read => break read?,
            }
        };
        if n > 0 && n < buf.len() {
            short = n;
            // Reported as WouldBlock so that try_io clears the readiness.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match read {
        Err(err) if err.kind() == io::ErrorKind::WouldBlock && short > 0 => Ok((short, true)),
        Err(err) => Err(err),
        Ok(n) => Ok((n, false)),
    }
}
