//! The loopback server every measurement talks to, directly or through a
//! proxy. One listener serves every kind of load, so a peer proxy needs only
//! one upstream: the first byte a client sends picks the mode.
//!
//! - `S` sink: reads to the end, then answers with the byte count and the time
//!   from the first byte to the end (two little-endian `u64`s) and closes.
//! - `E` echo: sends every byte back; half-closes when the client does.
//! - `O` one shot: answers one byte with that byte and closes (the server
//!   closes first, so TIME_WAIT stays on the server side, not on the
//!   client's ephemeral ports).

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Mode byte: sink.
pub const SINK: u8 = b'S';
/// Mode byte: echo.
pub const ECHO: u8 = b'E';
/// Mode byte: one request, one answer, close.
pub const ONE_SHOT: u8 = b'O';

/// Read buffer of the sink and the echo.
const BUFFER: usize = 256 * 1024;

/// Starts the server on the current runtime; it stops when `stop` is cancelled.
///
/// # Errors
/// The OS error of binding `127.0.0.1:0`.
pub async fn start(stop: CancellationToken) -> io::Result<SocketAddr> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let listener = socket.listen(4096)?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = stop.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, _)) => {
                    let stop = stop.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            () = stop.cancelled() => {}
                            _ = serve(stream) => {}
                        }
                    });
                }
                // Out of descriptors under the 10 000-connection load: that
                // client fails and is counted; the server goes on.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(1)).await,
            }
        }
    });
    Ok(addr)
}

async fn serve(mut stream: TcpStream) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut mode = [0u8; 1];
    stream.read_exact(&mut mode).await?;
    match mode[0] {
        SINK => sink(stream).await,
        ECHO => echo(stream).await,
        ONE_SHOT => {
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).await?;
            stream.write_all(&byte).await
        }
        _ => Ok(()),
    }
}

/// Reads `stream` to its end, then answers with 16 bytes: the byte count and
/// the nanoseconds from the first byte to the end (both little-endian u64).
/// Also the fidelity testbed's sink (`faultline-fidelity`).
///
/// # Errors
/// The stream's read or write error.
pub async fn sink(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; BUFFER];
    let mut total = 0u64;
    let mut first: Option<Instant> = None;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        first.get_or_insert_with(Instant::now);
        total += n as u64;
    }
    let window = first.map_or(0, |f| f.elapsed().as_nanos() as u64);
    let mut report = [0u8; 16];
    report[..8].copy_from_slice(&total.to_le_bytes());
    report[8..].copy_from_slice(&window.to_le_bytes());
    stream.write_all(&report).await?;
    stream.shutdown().await
}

/// Holds no buffer while idle (the buffer exists only between readiness and
/// the write), so an idle echo connection costs the same few hundred bytes
/// every time and the memory-per-connection subtraction stays clean. Reads
/// go through tokio's `AsyncRead`, which takes a short read as "drained", so
/// a message costs one read and one write, as in a typical tokio server.
async fn echo(mut stream: TcpStream) -> io::Result<()> {
    loop {
        stream.readable().await?;
        let mut buf = Vec::with_capacity(16 * 1024);
        if stream.read_buf(&mut buf).await? == 0 {
            return stream.shutdown().await;
        }
        stream.write_all(&buf).await?;
    }
}
