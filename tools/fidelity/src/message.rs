//! The request/response of every experiment: 1 KB each way, the request's
//! number in its first 8 bytes (little-endian) and echoed back, so a client
//! can tell which request an answer belongs to and that answers come in order.
//! A number may carry who sent it ([`Id`]), so a server's log can tell which
//! client and which of its connections a request came on.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes of a request and of its answer.
pub const SIZE: usize = 1024;

/// Request number `id`.
pub fn request(id: u64) -> [u8; SIZE] {
    let mut buf = [0u8; SIZE];
    buf[..8].copy_from_slice(&id.to_le_bytes());
    buf
}

/// A request number that names its client, the client's connection and the
/// request's place on that connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id {
    /// Which client (up to 65 535).
    pub client: u16,
    /// Which of the client's connections (up to 65 535).
    pub conn: u16,
    /// The request's number on that connection.
    pub seq: u32,
}

impl Id {
    /// As a request number.
    pub fn encode(self) -> u64 {
        (u64::from(self.client) << 48) | (u64::from(self.conn) << 32) | u64::from(self.seq)
    }

    /// From a request number.
    pub fn decode(id: u64) -> Self {
        Self {
            client: (id >> 48) as u16,
            conn: (id >> 32) as u16,
            seq: id as u32,
        }
    }
}

/// Reads answers one at a time. Cancel-safe: dropping [`ResponseReader::next`]
/// mid-answer loses nothing, the bytes read so far stay here, so it can sit in
/// a `select!` beside a ticker and a timeout.
#[derive(Debug)]
pub struct ResponseReader {
    buf: Box<[u8; SIZE]>,
    filled: usize,
}

impl Default for ResponseReader {
    fn default() -> Self {
        Self {
            buf: Box::new([0u8; SIZE]),
            filled: 0,
        }
    }
}

impl ResponseReader {
    /// The number of the next whole answer.
    ///
    /// # Errors
    /// The read's error; [`io::ErrorKind::UnexpectedEof`] if the stream ends.
    pub async fn next<R: AsyncRead + Unpin>(&mut self, src: &mut R) -> io::Result<u64> {
        while self.filled < SIZE {
            let n = src.read(&mut self.buf[self.filled..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.filled += n;
        }
        self.filled = 0;
        let mut id = [0u8; 8];
        id.copy_from_slice(&self.buf[..8]);
        Ok(u64::from_le_bytes(id))
    }
}

/// How an application names an I/O error: the errno name where there is one.
pub fn error_name(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::ConnectionReset => "ECONNRESET".into(),
        io::ErrorKind::ConnectionRefused => "ECONNREFUSED".into(),
        io::ErrorKind::ConnectionAborted => "ECONNABORTED".into(),
        io::ErrorKind::BrokenPipe => "EPIPE".into(),
        io::ErrorKind::TimedOut => "ETIMEDOUT".into(),
        io::ErrorKind::UnexpectedEof => "EOF (orderly close)".into(),
        _ => err.to_string(),
    }
}
