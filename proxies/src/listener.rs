//! The proxy's listening socket: binding it, and holding its port with a
//! bound, non-listening socket while it does not listen.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::time::Instant;

/// How long re-binding a port the proxy holds reserved waits for it to be
/// bindable again (see [`bind`]).
pub(crate) const REBIND_PATIENCE: Duration = Duration::from_millis(200);

/// Binds and listens on `address`. When the proxy holds the port reserved
/// (`reserved_here`), a bind that finds it busy is retried for up to
/// [`REBIND_PATIENCE`]: closing the old listener's connections can leave the
/// port in use in the kernel's tables for a moment (seen here: one retry of
/// 1 ms). Nothing else can take the port meanwhile: the reserved socket
/// holds it until the new listener is bound.
pub(crate) async fn bind(address: &str, reserved_here: bool) -> io::Result<TcpListener> {
    let give_up = Instant::now() + REBIND_PATIENCE;
    loop {
        match bind_once(address).await {
            Err(err)
                if reserved_here
                    && err.kind() == io::ErrorKind::AddrInUse
                    && Instant::now() < give_up =>
            {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            result => return result,
        }
    }
}

async fn bind_once(address: &str) -> io::Result<TcpListener> {
    // Go's ":8474" means every interface; accept the same spelling.
    let normalized = if address.starts_with(':') {
        format!("0.0.0.0{address}")
    } else {
        address.to_owned()
    };
    let mut last = io::Error::new(
        io::ErrorKind::InvalidInput,
        "the address resolved to nothing",
    );
    for addr in tokio::net::lookup_host(&normalized).await? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        };
        let socket = socket?;
        let _ = socket.set_reuseaddr(true);
        match socket.bind(addr).and_then(|()| socket.listen(1024)) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A bound, non-listening socket on `address` (SO_REUSEADDR): it keeps the
/// port from anyone else, and the kernel answers a SYN to it with a reset, so
/// a connect() is refused. `reuse_port` lets it bind next to a listener that
/// has SO_REUSEPORT too, so the port is never free for a moment.
pub(crate) fn reservation(address: SocketAddr, reuse_port: bool) -> io::Result<socket2::Socket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(reuse_port)?;
    socket.bind(&address.into())?;
    Ok(socket)
}
