//! The zero-copy relay of the fast path: `splice(2)` moves bytes from the
//! source socket into a pipe and from the pipe into the destination socket,
//! so the payload never crosses into user space (Linux only).
//!
//! Pipes come from a bounded [`PipePool`] and are held only while data is in
//! flight: a link takes one when its source turns readable and gives it back,
//! empty, as soon as the source would block. An idle connection holds no pipe.
//!
//! A pipe is always filled only when it is empty and asked for no more than
//! its capacity, so `EAGAIN` from the fill can only mean "the socket has no
//! data" and is safe to hand to tokio as readiness (`try_io`). Bytes still in a
//! pipe when a link must leave the fast path are read out into memory
//! ([`Pipe::take_bytes`]) and carried into the faulted path in order.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use nix::errno::Errno;
use nix::fcntl::{fcntl, splice, FcntlArg, OFlag, SpliceFFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// The pipe capacity asked for by default: large pipes are the main lever of
/// splice throughput (64 KiB pipes reach about two thirds of what 1 MiB pipes do).
pub const DEFAULT_PIPE_SIZE: usize = 1024 * 1024;

fn flags() -> SpliceFFlags {
    SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK
}

/// True for the errors that mean "splice cannot work on these descriptors"
/// (rather than "the connection failed"); the link then copies instead.
pub fn is_unsupported(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error().map(Errno::from_raw),
        Some(Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP | Errno::EBADF)
    )
}

/// One non-blocking pipe and the count of bytes in it.
#[derive(Debug)]
pub struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
    len: usize,
}

impl Pipe {
    /// A new pipe of `size` bytes if the kernel grants it, else of its default
    /// size (over `pipe-user-pages-soft` or above `pipe-max-size`).
    ///
    /// # Errors
    /// The OS error of `pipe2` (out of descriptors).
    pub fn new(size: usize) -> io::Result<Self> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        let wanted = i32::try_from(size).unwrap_or(i32::MAX);
        let granted = fcntl(write.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(wanted))
            .or_else(|_| fcntl(write.as_raw_fd(), FcntlArg::F_GETPIPE_SZ))?;
        Ok(Self {
            read,
            write,
            capacity: usize::try_from(granted).unwrap_or(0).max(4096),
            len: 0,
        })
    }

    /// Bytes the pipe holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes in the pipe now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the pipe holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Moves what `src` has ready into the (empty) pipe. `Ok(0)` is the end of
    /// the stream. A `WouldBlock` error means the socket has nothing and its
    /// read readiness was cleared.
    ///
    /// # Errors
    /// `WouldBlock`, the socket's error (a reset), or an error for which
    /// [`is_unsupported`] is true.
    pub fn fill_from(&mut self, src: &TcpStream) -> io::Result<usize> {
        debug_assert!(self.is_empty(), "a pipe is filled only when empty");
        let n = src.try_io(Interest::READABLE, || {
            splice(
                src.as_fd(),
                None,
                self.write.as_fd(),
                None,
                self.capacity,
                flags(),
            )
            .map_err(io::Error::from)
        })?;
        self.len += n;
        Ok(n)
    }

    /// Moves bytes from the pipe into `dst`; returns how many. A `WouldBlock`
    /// error means the socket's send buffer is full and its write readiness
    /// was cleared.
    ///
    /// # Errors
    /// `WouldBlock`, or the socket's error (reset, broken pipe).
    pub fn drain_into(&mut self, dst: &TcpStream) -> io::Result<usize> {
        let n = dst.try_io(Interest::WRITABLE, || {
            splice(
                self.read.as_fd(),
                None,
                dst.as_fd(),
                None,
                self.len,
                flags(),
            )
            .map_err(io::Error::from)
        })?;
        if n == 0 && self.len > 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        self.len -= n;
        Ok(n)
    }

    /// Reads everything in the pipe into memory, leaving it empty: how bytes
    /// already spliced in leave the fast path without being lost.
    ///
    /// # Errors
    /// The OS error of `read` (none is expected on a pipe we own).
    pub fn take_bytes(&mut self) -> io::Result<Bytes> {
        let mut out = BytesMut::zeroed(self.len);
        let mut filled = 0;
        while filled < out.len() {
            match nix::unistd::read(self.read.as_raw_fd(), &mut out[filled..]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => filled += n,
                Err(Errno::EINTR) => {}
                Err(err) => return Err(err.into()),
            }
        }
        self.len = 0;
        Ok(out.freeze())
    }
}

#[derive(Debug)]
struct PoolInner {
    free: Mutex<Vec<Pipe>>,
    /// Pipes that exist now, in use or free.
    live: AtomicUsize,
    size: usize,
    max: usize,
    keep: usize,
}

/// A bounded pool of pipes shared by a proxy's links.
///
/// At most `max` pipes exist at once (a pipe's capacity counts against the
/// user's `pipe-user-pages-soft`, 64 MiB by default); at most `keep` of them
/// are kept free for reuse. When the pool is exhausted, [`PipePool::take`]
/// returns `None` and the link copies through a buffer instead.
#[derive(Debug, Clone)]
pub struct PipePool {
    inner: Arc<PoolInner>,
}

impl PipePool {
    /// A pool of pipes of `size` bytes, at most `max` alive and `keep` free.
    pub fn new(size: usize, max: usize, keep: usize) -> Self {
        Self {
            inner: Arc::new(PoolInner {
                free: Mutex::new(Vec::new()),
                live: AtomicUsize::new(0),
                size,
                max,
                keep: keep.min(max),
            }),
        }
    }

    /// An empty pipe, reused when one is free; `None` when `max` pipes are in
    /// use or the OS refuses a new one.
    pub fn take(&self) -> Option<PooledPipe> {
        let reused = self.inner.free.lock().ok().and_then(|mut free| free.pop());
        if let Some(pipe) = reused {
            return Some(PooledPipe {
                pipe: Some(pipe),
                pool: self.inner.clone(),
            });
        }
        let claimed = self
            .inner
            .live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |live| {
                (live < self.inner.max).then_some(live + 1)
            });
        if claimed.is_err() {
            return None;
        }
        match Pipe::new(self.inner.size) {
            Ok(pipe) => Some(PooledPipe {
                pipe: Some(pipe),
                pool: self.inner.clone(),
            }),
            Err(err) => {
                tracing::debug!(%err, "cannot create a pipe; copying instead");
                self.inner.live.fetch_sub(1, Ordering::AcqRel);
                None
            }
        }
    }

    /// Pipes that exist now (in use or free).
    pub fn live(&self) -> usize {
        self.inner.live.load(Ordering::Acquire)
    }

    /// Pipes kept free for reuse now.
    pub fn free(&self) -> usize {
        self.inner.free.lock().map_or(0, |free| free.len())
    }
}

/// A pipe on loan from a [`PipePool`]; given back on drop. A pipe that still
/// holds bytes (its link was cancelled mid-transfer) is closed, never reused.
#[derive(Debug)]
pub struct PooledPipe {
    /// Always `Some` until dropped.
    pipe: Option<Pipe>,
    pool: Arc<PoolInner>,
}

impl std::ops::Deref for PooledPipe {
    type Target = Pipe;
    fn deref(&self) -> &Pipe {
        self.pipe
            .as_ref()
            .expect("a pooled pipe is present until dropped")
    }
}

impl std::ops::DerefMut for PooledPipe {
    fn deref_mut(&mut self) -> &mut Pipe {
        self.pipe
            .as_mut()
            .expect("a pooled pipe is present until dropped")
    }
}

impl Drop for PooledPipe {
    fn drop(&mut self) {
        let Some(pipe) = self.pipe.take() else {
            return;
        };
        if pipe.is_empty() {
            if let Ok(mut free) = self.pool.free.lock() {
                if free.len() < self.pool.keep {
                    free.push(pipe);
                    return;
                }
            }
        }
        drop(pipe);
        self.pool.live.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// Two ends of one loopback connection (also the link tests' sockets).
    pub(crate) async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, server)
    }

    /// Fills the pipe from `src`, waiting for readiness as a link does.
    async fn fill(pipe: &mut Pipe, src: &TcpStream) -> usize {
        loop {
            src.readable().await.unwrap();
            match pipe.fill_from(src) {
                Ok(n) => return n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => panic!("fill failed: {err}"),
            }
        }
    }

    #[test]
    fn a_pipe_gets_the_size_asked_for_or_the_default() {
        let pipe = Pipe::new(DEFAULT_PIPE_SIZE).unwrap();
        assert!(pipe.capacity() >= 4096);
        assert!(pipe.is_empty());
        // More than pipe-max-size is refused without privilege; the pipe still works.
        let huge = Pipe::new(1 << 30).unwrap();
        assert!(huge.capacity() >= 4096);
    }

    #[tokio::test]
    async fn bytes_move_socket_to_pipe_to_socket_unchanged() {
        let (mut a, b) = pair().await;
        let (c, mut d) = pair().await;
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        a.write_all(&data).await.unwrap();
        a.shutdown().await.unwrap();
        let mut pipe = Pipe::new(64 * 1024).unwrap();
        let mut moved = 0;
        loop {
            let n = fill(&mut pipe, &b).await;
            if n == 0 {
                break;
            }
            assert_eq!(pipe.len(), n);
            while !pipe.is_empty() {
                match pipe.drain_into(&c) {
                    Ok(n) => moved += n,
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                        c.writable().await.unwrap();
                    }
                    Err(err) => panic!("drain failed: {err}"),
                }
            }
        }
        assert_eq!(moved, data.len());
        drop(c);
        let mut got = Vec::new();
        d.read_to_end(&mut got).await.unwrap();
        assert!(got == data, "bytes changed on the way through the pipe");
    }

    #[tokio::test]
    async fn take_bytes_empties_the_pipe_in_order() {
        let (mut a, b) = pair().await;
        a.write_all(b"in the pipe, in order").await.unwrap();
        let mut pipe = Pipe::new(64 * 1024).unwrap();
        let n = fill(&mut pipe, &b).await;
        assert_eq!(n, 21);
        let bytes = pipe.take_bytes().unwrap();
        assert_eq!(&bytes[..], b"in the pipe, in order");
        assert!(pipe.is_empty());
        assert!(pipe.take_bytes().unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_empty_source_says_would_block_and_an_ended_one_says_zero() {
        let (mut a, b) = pair().await;
        let mut pipe = Pipe::new(64 * 1024).unwrap();
        // Nothing sent: not ready, or ready and then WouldBlock.
        let err = pipe.fill_from(&b).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        a.shutdown().await.unwrap();
        assert_eq!(fill(&mut pipe, &b).await, 0);
    }

    #[test]
    fn the_pool_is_bounded_and_reuses_empty_pipes() {
        let pool = PipePool::new(64 * 1024, 2, 1);
        let first = pool.take().unwrap();
        let second = pool.take().unwrap();
        assert!(pool.take().is_none(), "a third pipe beyond the bound");
        assert_eq!(pool.live(), 2);
        drop(first);
        drop(second);
        // One is kept for reuse, the other closed.
        assert_eq!((pool.live(), pool.free()), (1, 1));
        let again = pool.take().unwrap();
        assert_eq!((pool.live(), pool.free()), (1, 0));
        drop(again);
    }

    #[tokio::test]
    async fn a_pipe_returned_with_bytes_in_it_is_closed_not_reused() {
        let (mut a, b) = pair().await;
        a.write_all(b"left behind").await.unwrap();
        let pool = PipePool::new(64 * 1024, 4, 4);
        let mut pipe = pool.take().unwrap();
        assert_eq!(fill(&mut pipe, &b).await, 11);
        drop(pipe);
        assert_eq!((pool.live(), pool.free()), (0, 0));
    }

    #[test]
    fn unsupported_means_einval_not_a_reset() {
        assert!(is_unsupported(&io::Error::from_raw_os_error(
            Errno::EINVAL as i32
        )));
        assert!(!is_unsupported(&io::Error::from_raw_os_error(
            Errno::ECONNRESET as i32
        )));
    }
}
