//! The testbed: the proxy's own runtime, the loopback echo server and sink
//! every experiment talks to, and a fresh in-process proxy per experiment, so
//! faults of one experiment never reach another's connections.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline_proxies::{Fault, Limits, Proxy, ProxySpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::message::SIZE;
use crate::FidelityError;

/// Entries a logged echo keeps at most.
const LOG_BOUND: usize = 100_000;

/// What a logged echo server received: each request's number and when.
#[derive(Debug, Clone, Default)]
pub struct EchoLog(Arc<Mutex<Vec<(u64, Instant)>>>);

impl EchoLog {
    fn push(&self, id: u64, at: Instant) {
        let mut log = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if log.len() < LOG_BOUND {
            log.push((id, at));
        }
    }

    /// Every request received so far, in arrival order.
    pub fn entries(&self) -> Vec<(u64, Instant)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What the experiments share. Cloning gives another handle to the same testbed.
#[derive(Debug, Clone)]
pub struct Testbed {
    proxy_runtime: Handle,
    /// The echo server: answers every 1 KB request with the same 1 KB, in one write.
    pub echo: SocketAddr,
    /// The sink: reads to the end of the stream, then answers with the byte
    /// count and the nanoseconds from the first byte to the end (two
    /// little-endian `u64`s) and closes.
    pub sink: SocketAddr,
    stop: CancellationToken,
}

impl Testbed {
    /// Starts the echo server and the sink on the current runtime; proxies
    /// will run on `proxy_runtime`. Everything stops when `stop` is cancelled.
    ///
    /// # Errors
    /// [`FidelityError::Io`] if a listener cannot bind `127.0.0.1:0`.
    pub async fn start(
        proxy_runtime: Handle,
        stop: CancellationToken,
    ) -> Result<Self, FidelityError> {
        let echo = serve(stop.clone(), |stream| Box::pin(echo(stream))).await?;
        let sink = serve(stop.clone(), |stream| {
            Box::pin(faultline_bench::server::sink(stream))
        })
        .await?;
        Ok(Self {
            proxy_runtime,
            echo,
            sink,
            stop,
        })
    }

    /// A separate echo server that also logs every request it answers, for an
    /// experiment that asks what reached the server, not only what the client saw.
    ///
    /// # Errors
    /// [`FidelityError::Io`] if it cannot bind `127.0.0.1:0`.
    pub async fn logged_echo(&self) -> Result<(SocketAddr, EchoLog), FidelityError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(FidelityError::io("binding a logged echo"))?;
        let addr = listener
            .local_addr()
            .map_err(FidelityError::io("reading a logged echo's address"))?;
        let log = EchoLog::default();
        let stop = self.stop.clone();
        let server_log = log.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((mut stream, _)) = accepted else {
                    tokio::task::yield_now().await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let (stop, log) = (stop.clone(), server_log.clone());
                tokio::spawn(async move {
                    let mut buf = [0u8; SIZE];
                    loop {
                        let read = tokio::select! {
                            () = stop.cancelled() => return,
                            read = stream.read_exact(&mut buf) => read,
                        };
                        if read.is_err() {
                            return;
                        }
                        let mut id = [0u8; 8];
                        id.copy_from_slice(&buf[..8]);
                        log.push(u64::from_le_bytes(id), Instant::now());
                        if stream.write_all(&buf).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Ok((addr, log))
    }

    /// A new proxy in front of `upstream`, on the proxy runtime, with default
    /// limits, and the faults already set (so the first connection meets them).
    ///
    /// # Errors
    /// [`FidelityError::Proxy`] if it cannot listen or a fault is refused.
    pub async fn proxy(
        &self,
        name: &str,
        upstream: SocketAddr,
        seed: u64,
        faults: Vec<Fault>,
    ) -> Result<Proxy, FidelityError> {
        let spec = ProxySpec {
            name: name.to_owned(),
            listen: "127.0.0.1:0".to_owned(),
            upstream: upstream.to_string(),
            enabled: true,
        };
        let stop = self.stop.clone();
        let proxy = self
            .proxy_runtime
            .spawn(async move { Proxy::start(spec, seed, Limits::default(), &stop).await })
            .await
            .map_err(|err| FidelityError::Task(err.to_string()))??;
        for fault in faults {
            proxy.add_fault(fault)?;
        }
        Ok(proxy)
    }

    /// Shuts a proxy down (closing its connections) and waits for its tasks.
    pub async fn retire(&self, proxy: Proxy) {
        proxy.clear_faults();
        let handle = self
            .proxy_runtime
            .spawn(async move { proxy.shutdown().await });
        let _ = tokio::time::timeout(Duration::from_secs(5), handle).await;
    }

    /// Stops the servers and every proxy still running.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }
}

type Served = std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>>;

/// Binds `127.0.0.1:0` and hands every accepted connection to `handler`.
async fn serve(
    stop: CancellationToken,
    handler: fn(TcpStream) -> Served,
) -> Result<SocketAddr, FidelityError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(FidelityError::io("binding a testbed server"))?;
    let addr = listener
        .local_addr()
        .map_err(FidelityError::io("reading a testbed server's address"))?;
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = stop.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            let Ok((stream, _)) = accepted else {
                // One failed accept (a client that reset first) ends nothing.
                tokio::task::yield_now().await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = stop.cancelled() => {}
                    _ = handler(stream) => {}
                }
            });
        }
    });
    Ok(addr)
}

/// Answers each 1 KB request with the same 1 KB, one write per answer.
async fn echo(mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; SIZE];
    loop {
        match stream.read_exact(&mut buf).await {
            Ok(_) => stream.write_all(&buf).await?,
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(err) => return Err(err),
        }
    }
}
