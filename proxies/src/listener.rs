//! The proxy's listening socket: binding it, holding its port with a bound,
//! non-listening socket while it does not listen, and its [`Gate`]: what the
//! kernel does with a new connection's SYN while a fault covers the whole
//! listener.
//!
//! A userspace listener completes every handshake before the proxy sees the
//! connection, so a proxy cannot make one connect() hang or be refused. The
//! kernel can, for the whole listener (FIDELITY.md, docs/fidelity.md):
//! - [`Gate::DropSyns`] (an upstream `blackhole` with toxicity 1): the
//!   backlog goes to 0 and a placeholder connection of the proxy's own fills
//!   the accept queue, so the kernel drops every SYN: connect() hangs, a
//!   connect timeout fires, and on the heal the client's own SYN
//!   retransmission completes the connect.
//! - [`Gate::Refuse`] (a `reject` with toxicity 1): a reservation socket
//!   holds the port and the listener stops listening (`shutdown(SHUT_RD)`),
//!   so the kernel answers SYNs with a reset: ECONNREFUSED at once. The heal
//!   binds and listens again on the same port.
//!
//! The changes are plain syscalls on the listener's descriptor, made where
//! the fault set is published, so they are in force when `add_fault` or
//! `remove_fault` returns.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::fault::{ActiveFault, Direction, FaultKind};

/// The listen backlog while no fault closes the gate.
pub(crate) const BACKLOG: i32 = 1024;

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
        match socket
            .bind(addr)
            .and_then(|()| socket.listen(BACKLOG as u32))
        {
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

/// What the listener does with a new connection's SYN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Gate {
    /// Handshakes complete and the accept loop takes connections.
    #[default]
    Open,
    /// SYNs are dropped: connect() hangs (an upstream blackhole).
    DropSyns,
    /// SYNs are answered with a reset: ECONNREFUSED (a reject).
    Refuse,
}

impl Gate {
    /// The gate the proxy's faults ask for. Only faults with toxicity 1 act
    /// on the listener (it cannot pick connections); the others are rolled
    /// per connection at admission.
    pub(crate) fn of(faults: &[Arc<ActiveFault>]) -> Gate {
        let whole = || faults.iter().filter(|f| f.fault.toxicity >= 1.0);
        if whole().any(|f| f.fault.kind == FaultKind::Reject) {
            Gate::Refuse
        } else if whole().any(|f| {
            f.fault.direction == Direction::Upstream
                && matches!(f.fault.kind, FaultKind::Blackhole { .. })
        }) {
            Gate::DropSyns
        } else {
            Gate::Open
        }
    }
}

/// Moves the listener `fd` bound to `bound` from gate `from` to gate `to`.
/// `refusing` keeps the port's reservation while the gate refuses.
///
/// # Errors
/// The failed syscall's error; the listener is then left as it was after
/// the last step that worked.
pub(crate) fn set_gate(
    fd: &OwnedFd,
    bound: SocketAddr,
    from: Gate,
    to: Gate,
    refusing: &mut Option<socket2::Socket>,
) -> io::Result<()> {
    let listener = socket2::SockRef::from(fd);
    if from == Gate::Refuse {
        // A listener bound to port 0 lost its port when it stopped
        // listening (the reservation kept it; getsockname still shows it),
        // so it binds again; one bound to an explicit port kept it, and the
        // kernel refuses a second bind with EINVAL.
        match listener.bind(&bound.into()) {
            Err(err) if err.raw_os_error() != Some(nix::libc::EINVAL) => return Err(err),
            _ => {}
        }
        listener.listen(BACKLOG)?;
        // SO_REUSEPORT was only for the handover to the reservation.
        let _ = listener.set_reuse_port(false);
        *refusing = None;
    }
    match to {
        Gate::Open if from == Gate::DropSyns => listener.listen(BACKLOG),
        Gate::Open => Ok(()),
        Gate::DropSyns => listener.listen(0),
        Gate::Refuse => {
            // Reserve first, stop listening second, so the port is never free.
            listener.set_reuse_port(true)?;
            let reservation = reservation(bound, true)?;
            listener.shutdown(Shutdown::Read)?;
            let _ = reservation.set_reuse_port(false);
            *refusing = Some(reservation);
            Ok(())
        }
    }
}

/// The proxy's own connection that fills the accept queue of a listener
/// with backlog 0, so the kernel drops every other SYN. The accept loop
/// recognises it by its address when the gate opens again, and drops it.
#[derive(Debug)]
pub(crate) struct Placeholder {
    _socket: socket2::Socket,
    /// Its local address: the peer address the listener will accept.
    pub(crate) address: SocketAddr,
}

impl Placeholder {
    /// Starts a non-blocking connect to the listener bound to `bound`.
    ///
    /// # Errors
    /// When the socket cannot be made or the connect fails at once.
    pub(crate) fn connect(bound: SocketAddr) -> io::Result<Self> {
        let target = match bound.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                SocketAddr::new(Ipv4Addr::LOCALHOST.into(), bound.port())
            }
            IpAddr::V6(ip) if ip.is_unspecified() => {
                SocketAddr::new(Ipv6Addr::LOCALHOST.into(), bound.port())
            }
            _ => bound,
        };
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(target),
            socket2::Type::STREAM,
            None,
        )?;
        socket.set_nonblocking(true)?;
        match socket.connect(&target.into()) {
            Ok(()) => {}
            Err(err) if err.raw_os_error() == Some(nix::libc::EINPROGRESS) => {}
            Err(err) => return Err(err),
        }
        let address = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("the placeholder has no address"))?;
        Ok(Self {
            _socket: socket,
            address,
        })
    }
}
