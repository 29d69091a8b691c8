//! The zero-fault copy: the fast path's fallback when `splice(2)` is off,
//! refused, or out of pipes (see [`crate::splice`]). A buffer is held only
//! while data is in flight, so an idle connection costs no buffer at all.

use std::io;
use std::sync::Mutex;

use tokio::net::TcpStream;

/// Default size of one copy buffer.
pub const BUFFER_SIZE: usize = 64 * 1024;

/// A bounded pool of copy buffers shared by a proxy's connections.
#[derive(Debug)]
pub struct BufferPool {
    free: Mutex<Vec<Box<[u8]>>>,
    keep: usize,
    size: usize,
}

impl BufferPool {
    /// A pool of [`BUFFER_SIZE`] buffers that keeps at most `keep` free ones around.
    pub fn new(keep: usize) -> Self {
        Self::with_size(keep, BUFFER_SIZE)
    }

    /// A pool of `size`-byte buffers that keeps at most `keep` free ones around.
    pub fn with_size(keep: usize, size: usize) -> Self {
        Self {
            free: Mutex::new(Vec::new()),
            keep,
            size: size.max(1),
        }
    }

    /// A buffer of the pool's size, reused when one is free.
    pub fn take(&self) -> Box<[u8]> {
        let reused = self.free.lock().map(|mut free| free.pop()).unwrap_or(None);
        reused.unwrap_or_else(|| vec![0u8; self.size].into_boxed_slice())
    }

    /// Returns a buffer; it is freed if the pool is full.
    pub fn put(&self, buffer: Box<[u8]>) {
        if let Ok(mut free) = self.free.lock() {
            if free.len() < self.keep {
                free.push(buffer);
            }
        }
    }
}

/// Writes all of `data` to `dst`, waiting for writability as needed.
///
/// # Errors
/// The socket's write error (the peer reset or closed).
pub async fn write_all(dst: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match dst.try_write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => dst.writable().await?,
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_reuses_buffers_up_to_its_bound() {
        let pool = BufferPool::new(1);
        let a = pool.take();
        let b = pool.take();
        let a_ptr = a.as_ptr();
        pool.put(a);
        pool.put(b);
        assert_eq!(pool.free.lock().unwrap().len(), 1);
        let again = pool.take();
        assert_eq!(again.as_ptr(), a_ptr);
    }
}
