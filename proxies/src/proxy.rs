//! One proxy: a listener, the connections it accepted, and the fault sets of
//! its two directions.
//!
//! The control side never edits a running connection: it publishes a new
//! immutable [`FaultSet`] per direction and every link picks it up at its next
//! chunk boundary.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admission::{admit, Admission};
use crate::fault::{ActiveFault, Direction, Fault, FaultError, FaultKind, FaultSet};
use crate::link::{Link, LinkEnd};
use crate::listener::{self, Gate, Placeholder};
use crate::shared::{Limits, Shared, StatsSnapshot};

/// What a proxy is asked to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySpec {
    /// Unique name.
    pub name: String,
    /// Address to listen on, `host:port`; port 0 picks a free one.
    pub listen: String,
    /// Address to forward to, `host:port`, resolved at each connection.
    pub upstream: String,
    /// A disabled proxy does not listen.
    pub enabled: bool,
}

/// A proxy as it is now.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyInfo {
    /// Unique name.
    pub name: String,
    /// The address it listens on (the real port when 0 was asked), or the
    /// requested address while disabled.
    pub listen: String,
    /// Where it forwards.
    pub upstream: String,
    /// Whether it listens.
    pub enabled: bool,
    /// Its faults, both directions, in the order they were added.
    pub faults: Vec<Fault>,
}

/// Why a proxy operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The listen address could not be resolved or bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A fault of that name exists already.
    #[error("fault {0:?} already exists")]
    FaultExists(String),
    /// No fault of that name.
    #[error("fault {0:?} not found")]
    FaultNotFound(String),
    /// A fault attribute is out of range.
    #[error(transparent)]
    Fault(#[from] FaultError),
}

#[derive(Debug)]
struct State {
    spec: ProxySpec,
    bound: Option<SocketAddr>,
    /// Cancels the current listener and its connections.
    generation: CancellationToken,
    /// The current accept loop; awaited when listening stops so the listener
    /// is closed by the time `set_enabled(false)` returns.
    accept_task: Option<tokio::task::JoinHandle<()>>,
    /// The connections the current listener accepted; awaited with the
    /// accept loop, so a disabled proxy has closed them all on return (and
    /// none of them still holds the listening port as its local port).
    connections: TaskTracker,
    /// While disabled: a bound, non-listening socket on the port the proxy
    /// listened on, so nothing else takes the port (connects to it are still
    /// refused) and enabling binds the same port again.
    reserved: Option<socket2::Socket>,
    /// While listening: a duplicate of the listener's descriptor, so that
    /// disabling can bind `reserved` before the listener closes (see
    /// [`Proxy::set_enabled`]). Dropped whenever listening stops, or the
    /// listener would outlive its accept loop.
    listener_fd: Option<std::os::fd::OwnedFd>,
    /// What the listener does with SYNs now (see [`Gate`]).
    gate: Gate,
    /// While the gate refuses: the socket that holds the port.
    refusing: Option<socket2::Socket>,
    /// While the gate drops SYNs, and after until the listener hands it
    /// back: the proxy's own connection that fills the accept queue.
    placeholder: Option<Placeholder>,
    faults: Vec<Arc<ActiveFault>>,
    next_fault_id: u64,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    upstream_faults: watch::Sender<Arc<FaultSet>>,
    downstream_faults: watch::Sender<Arc<FaultSet>>,
    /// The listener's gate and the placeholder's address, for the accept loop.
    gate: watch::Sender<(Gate, Option<SocketAddr>)>,
    shared: Arc<Shared>,
    seed: u64,
    connection_ids: AtomicU64,
    tasks: TaskTracker,
    root: CancellationToken,
    permits: Arc<Semaphore>,
}

/// A running proxy. Cloning gives another handle to the same proxy.
#[derive(Debug, Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

impl Proxy {
    /// Starts a proxy (binding its listener when `spec.enabled`).
    ///
    /// `seed` derives every RNG stream of the proxy; `shutdown` stops it.
    ///
    /// # Errors
    /// [`ProxyError::Bind`] if the listen address cannot be bound.
    pub async fn start(
        spec: ProxySpec,
        seed: u64,
        limits: Limits,
        shutdown: &CancellationToken,
    ) -> Result<Self, ProxyError> {
        let root = shutdown.child_token();
        let proxy = Proxy {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    spec: spec.clone(),
                    bound: None,
                    generation: root.child_token(),
                    accept_task: None,
                    connections: TaskTracker::new(),
                    reserved: None,
                    listener_fd: None,
                    gate: Gate::Open,
                    refusing: None,
                    placeholder: None,
                    faults: Vec::new(),
                    next_fault_id: 1,
                }),
                upstream_faults: watch::Sender::new(Arc::default()),
                downstream_faults: watch::Sender::new(Arc::default()),
                gate: watch::Sender::new((Gate::Open, None)),
                shared: Arc::new(Shared::new(limits)),
                seed,
                connection_ids: AtomicU64::new(0),
                tasks: TaskTracker::new(),
                root,
                permits: Arc::new(Semaphore::new(limits.max_connections)),
            }),
        };
        if spec.enabled {
            proxy.listen().await?;
        }
        Ok(proxy)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock is a bug of ours; the state stays usable.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The proxy's name.
    pub fn name(&self) -> String {
        self.state().spec.name.clone()
    }

    /// The bound address, while enabled.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.state().bound
    }

    /// What the proxy is now.
    pub fn info(&self) -> ProxyInfo {
        let state = self.state();
        ProxyInfo {
            name: state.spec.name.clone(),
            listen: state
                .bound
                .map_or_else(|| state.spec.listen.clone(), |a| a.to_string()),
            upstream: state.spec.upstream.clone(),
            enabled: state.spec.enabled,
            faults: state.faults.iter().map(|f| f.fault.clone()).collect(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> StatsSnapshot {
        let stats = &self.inner.shared.stats;
        let state = self.state();
        let count = |d: Direction| {
            state
                .faults
                .iter()
                .filter(|f| f.fault.direction == d)
                .count() as u64
        };
        StatsSnapshot {
            bytes_upstream: stats.bytes_upstream.load(Ordering::Relaxed),
            bytes_downstream: stats.bytes_downstream.load(Ordering::Relaxed),
            connections_total: stats.connections_total.load(Ordering::Relaxed),
            connections_active: stats.connections_active.load(Ordering::Relaxed),
            bytes_held: stats.held.load(Ordering::Relaxed),
            faults_upstream: count(Direction::Upstream),
            faults_downstream: count(Direction::Downstream),
        }
    }

    async fn listen(&self) -> Result<(), ProxyError> {
        let address = self.state().spec.listen.clone();
        let listener = self.bind_again(&address).await?;
        let bound = listener.local_addr().map_err(|source| ProxyError::Bind {
            address: address.clone(),
            source,
        })?;
        // A failed dup only costs the disable-time handover (see set_enabled).
        let listener_fd = std::os::fd::AsFd::as_fd(&listener)
            .try_clone_to_owned()
            .ok();
        self.stop_listening().await;
        let generation = self.inner.root.child_token();
        let connections = TaskTracker::new();
        let proxy = self.clone();
        let task = self.inner.tasks.spawn({
            let generation = generation.clone();
            let connections = connections.clone();
            async move {
                proxy
                    .clone()
                    .accept_loop(listener, generation, connections)
                    .await;
                // Stopped by the proxy's root token (not replaced by a
                // newer listener): close the listener's duplicate too.
                let mut state = proxy.state();
                if state.generation.is_cancelled() {
                    state.listener_fd = None;
                }
            }
        });
        let mut state = self.state();
        state.generation = generation;
        state.bound = Some(bound);
        state.accept_task = Some(task);
        state.connections = connections;
        state.reserved = None;
        state.listener_fd = listener_fd;
        // A new listener starts open; the faults may close it at once.
        state.gate = Gate::Open;
        self.apply_gate(&mut state);
        Ok(())
    }

    /// Binds `address`. When the proxy holds it reserved (it was disabled),
    /// a bind that finds the port busy is retried for up to
    /// [`listener::REBIND_PATIENCE`]: closing the old listener's connections can leave
    /// the port in use in the kernel's tables for a moment (seen here: one
    /// retry of 1 ms). Nothing else can take the port meanwhile: the reserved
    /// socket holds it until the new listener is bound.
    async fn bind_again(&self, address: &str) -> Result<TcpListener, ProxyError> {
        let reserved_here = {
            let state = self.state();
            state
                .reserved
                .as_ref()
                .and_then(|r| r.local_addr().ok()?.as_socket())
                .is_some_and(|bound| bound.to_string() == address)
        };
        listener::bind(address, reserved_here)
            .await
            .map_err(|source| ProxyError::Bind {
                address: address.to_owned(),
                source,
            })
    }

    /// Keeps `address` bound (SO_REUSEADDR, not listening) while disabled;
    /// enabling binds next to it and then lets it go. Given the `listener`, it is
    /// called while the listener still listens, so the port is never free
    /// for a moment: the listener and the new socket both get SO_REUSEPORT,
    /// which lets the second bind ([`Proxy::set_enabled`] clears it again).
    fn reserve(&self, address: SocketAddr, listener: Option<&std::os::fd::OwnedFd>) {
        if let Some(listener) = listener {
            let _ = socket2::SockRef::from(listener).set_reuse_port(true);
        }
        let reserved = listener::reservation(address, listener.is_some());
        let mut state = self.state();
        // A proxy asked for port 0 keeps the port it got, as Toxiproxy's does.
        if address.port() != 0 && state.spec.listen.ends_with(":0") {
            state.spec.listen = address.to_string();
        }
        state.reserved = reserved.ok();
    }

    /// Closes the listener and every connection it accepted.
    async fn stop_listening(&self) {
        let (task, connections) = {
            let mut state = self.state();
            state.generation.cancel();
            state.generation = self.inner.root.child_token();
            state.bound = None;
            state.listener_fd = None;
            state.refusing = None;
            state.placeholder = None;
            state.gate = Gate::Open;
            (
                state.accept_task.take(),
                std::mem::take(&mut state.connections),
            )
        };
        if let Some(task) = task {
            let _ = task.await;
        }
        // No more are accepted; each ends at the cancel.
        connections.close();
        connections.wait().await;
    }

    /// Enables or disables the proxy. Disabling closes the listener and every
    /// connection (as Toxiproxy does); enabling listens again.
    ///
    /// # Errors
    /// [`ProxyError::Bind`] when enabling fails to bind.
    pub async fn set_enabled(&self, enabled: bool) -> Result<(), ProxyError> {
        let was = std::mem::replace(&mut self.state().spec.enabled, enabled);
        match (was, enabled) {
            (false, true) => {
                if let Err(err) = self.listen().await {
                    self.state().spec.enabled = false;
                    return Err(err);
                }
            }
            (true, false) => {
                // Reserve first, close second: in between, another socket
                // (an ephemeral port, another proxy's port 0) could take it.
                let bound = self.listen_addr();
                let listener = self.state().listener_fd.take();
                if let Some(bound) = bound {
                    self.reserve(bound, listener.as_ref());
                }
                drop(listener);
                self.stop_listening().await;
                let state = self.state();
                match &state.reserved {
                    // Only the handover needed SO_REUSEPORT.
                    Some(reserved) => {
                        let _ = reserved.set_reuse_port(false);
                    }
                    // The handover failed (no duplicate of the listener):
                    // reserve the now closed port after all.
                    None => {
                        drop(state);
                        if let Some(bound) = bound {
                            self.reserve(bound, None);
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Changes the listen and/or upstream address. A changed address restarts
    /// the proxy: open connections are closed (Toxiproxy's behaviour).
    ///
    /// # Errors
    /// [`ProxyError::Bind`] if the new listen address cannot be bound; the
    /// proxy then keeps its old addresses and listener.
    pub async fn set_addresses(
        &self,
        listen: Option<String>,
        upstream: Option<String>,
    ) -> Result<(), ProxyError> {
        let (old, enabled) = {
            let state = self.state();
            (state.spec.clone(), state.spec.enabled)
        };
        let bound = self.listen_addr().map(|a| a.to_string());
        let listen_changed = listen
            .as_ref()
            .is_some_and(|l| *l != old.listen && Some(l) != bound.as_ref());
        let upstream_changed = upstream.as_ref().is_some_and(|u| *u != old.upstream);
        if !listen_changed && !upstream_changed {
            return Ok(());
        }
        {
            let mut state = self.state();
            if let Some(listen) = listen.filter(|_| listen_changed) {
                state.spec.listen = listen;
            }
            if let Some(upstream) = upstream {
                state.spec.upstream = upstream;
            }
        }
        if enabled {
            if listen_changed {
                // Bind the new address before letting go of the old one.
                if let Err(err) = self.listen().await {
                    self.state().spec = old;
                    return Err(err);
                }
            } else {
                self.stop_listening().await;
                if let Err(err) = self.listen().await {
                    self.state().spec = old;
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    /// Adds a fault at the end of its direction's pipeline.
    ///
    /// # Errors
    /// [`ProxyError::FaultExists`] for a duplicate name, [`ProxyError::Fault`]
    /// for an attribute out of range.
    pub fn add_fault(&self, fault: Fault) -> Result<(), ProxyError> {
        fault.validate()?;
        let mut state = self.state();
        if state.faults.iter().any(|f| f.fault.name == fault.name) {
            return Err(ProxyError::FaultExists(fault.name));
        }
        let id = state.next_fault_id;
        state.next_fault_id += 1;
        state.faults.push(Arc::new(ActiveFault { id, fault }));
        self.publish(&mut state);
        Ok(())
    }

    /// Replaces the fault of the same name, keeping its place and identity
    /// (connections it reached keep their toxicity roll and its start time).
    ///
    /// # Errors
    /// [`ProxyError::FaultNotFound`], or [`ProxyError::Fault`] for an attribute out of range.
    pub fn replace_fault(&self, fault: Fault) -> Result<(), ProxyError> {
        fault.validate()?;
        let mut state = self.state();
        let slot = state
            .faults
            .iter_mut()
            .find(|f| f.fault.name == fault.name)
            .ok_or_else(|| ProxyError::FaultNotFound(fault.name.clone()))?;
        *slot = Arc::new(ActiveFault { id: slot.id, fault });
        self.publish(&mut state);
        Ok(())
    }

    /// Removes a fault by name and returns it.
    ///
    /// # Errors
    /// [`ProxyError::FaultNotFound`].
    pub fn remove_fault(&self, name: &str) -> Result<Fault, ProxyError> {
        let mut state = self.state();
        let index = state
            .faults
            .iter()
            .position(|f| f.fault.name == name)
            .ok_or_else(|| ProxyError::FaultNotFound(name.to_owned()))?;
        let removed = state.faults.remove(index);
        self.publish(&mut state);
        Ok(removed.fault.clone())
    }

    /// The fault of that name.
    pub fn fault(&self, name: &str) -> Option<Fault> {
        self.state()
            .faults
            .iter()
            .find(|f| f.fault.name == name)
            .map(|f| f.fault.clone())
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        let mut state = self.state();
        state.faults.clear();
        self.publish(&mut state);
    }

    /// Adds a fault and returns a guard that removes it when dropped.
    ///
    /// # Errors
    /// As [`Proxy::add_fault`].
    pub fn fault_guard(&self, fault: Fault) -> Result<FaultGuard, ProxyError> {
        let name = fault.name.clone();
        self.add_fault(fault)?;
        Ok(FaultGuard {
            proxy: self.clone(),
            name,
        })
    }

    fn publish(&self, state: &mut State) {
        self.apply_gate(state);
        // The round trip the latency faults add, both directions together.
        let path_round_trip: Duration = state
            .faults
            .iter()
            .filter(|f| f.fault.toxicity >= 1.0)
            .filter_map(|f| match f.fault.kind {
                FaultKind::Latency { latency, .. } => Some(latency),
                _ => None,
            })
            .sum();
        for direction in Direction::BOTH {
            let faults: Vec<Arc<ActiveFault>> = state
                .faults
                .iter()
                .filter(|f| f.fault.direction == direction)
                .cloned()
                .collect();
            // Only a loss stage reads it: a direction without one is not
            // republished (its links keep their fast path) when it changes.
            let has_loss = faults
                .iter()
                .any(|f| matches!(f.fault.kind, FaultKind::Loss { .. }));
            let round_trip = if has_loss {
                path_round_trip
            } else {
                Duration::ZERO
            };
            self.sender(direction).send_if_modified(|current| {
                let same = current.faults.len() == faults.len()
                    && current.round_trip == round_trip
                    && current
                        .faults
                        .iter()
                        .zip(&faults)
                        .all(|(a, b)| Arc::ptr_eq(a, b));
                if !same {
                    *current = Arc::new(FaultSet { faults, round_trip });
                }
                !same
            });
        }
    }

    /// Brings the listener's gate in line with the faults (see [`Gate`]).
    fn apply_gate(&self, state: &mut State) {
        let want = Gate::of(&state.faults);
        if want == state.gate {
            return;
        }
        let (Some(fd), Some(bound)) = (state.listener_fd.as_ref(), state.bound) else {
            return;
        };
        match listener::set_gate(fd, bound, state.gate, want, &mut state.refusing) {
            Ok(()) => {
                state.gate = want;
                match want {
                    // Filled now, before anyone's SYN can take the one slot.
                    Gate::DropSyns if state.placeholder.is_none() => {
                        state.placeholder = Placeholder::connect(bound)
                            .inspect_err(|err| tracing::warn!(%err, "no placeholder connection"))
                            .ok();
                    }
                    // Stopping to listen reset it with the accept queue.
                    Gate::Refuse => state.placeholder = None,
                    _ => {}
                }
                self.publish_gate(state);
            }
            Err(err) => {
                tracing::warn!(%err, ?want, "the listener cannot follow the faults");
            }
        }
    }

    fn publish_gate(&self, state: &State) {
        let placeholder = state.placeholder.as_ref().map(|p| p.address);
        self.inner.gate.send_replace((state.gate, placeholder));
    }

    /// The accept loop took the placeholder off the queue: with the gate
    /// still dropping SYNs (it raced the change), the queue needs a new one.
    fn placeholder_accepted(&self, peer: SocketAddr) {
        let mut state = self.state();
        if state.placeholder.as_ref().map(|p| p.address) != Some(peer) {
            return;
        }
        state.placeholder = match (state.gate, state.bound) {
            (Gate::DropSyns, Some(bound)) => Placeholder::connect(bound).ok(),
            _ => None,
        };
        self.publish_gate(&state);
    }

    fn sender(&self, direction: Direction) -> &watch::Sender<Arc<FaultSet>> {
        match direction {
            Direction::Upstream => &self.inner.upstream_faults,
            Direction::Downstream => &self.inner.downstream_faults,
        }
    }

    /// Stops the proxy: closes the listener and every connection and waits
    /// for their tasks to finish.
    pub async fn shutdown(&self) {
        self.state().listener_fd = None;
        self.inner.root.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }

    async fn accept_loop(
        self,
        listener: TcpListener,
        generation: CancellationToken,
        connections: TaskTracker,
    ) {
        let mut gate = self.inner.gate.subscribe();
        let mut listener = Some(listener);
        let mut refused = false;
        loop {
            let current = gate.borrow_and_update().0;
            if current != Gate::Open {
                refused |= current == Gate::Refuse;
                tokio::select! {
                    () = generation.cancelled() => return,
                    changed = gate.changed() => if changed.is_err() { return },
                }
                continue;
            }
            if std::mem::take(&mut refused) {
                // Not listening made the kernel report a hang-up, which
                // tokio keeps for good: register the listener afresh.
                listener = listener
                    .and_then(|l| l.into_std().ok())
                    .and_then(|l| TcpListener::from_std(l).ok());
            }
            let Some(listening) = listener.as_ref() else {
                tracing::warn!("the listener was lost while it refused connections");
                return;
            };
            let permit = tokio::select! {
                biased;
                () = generation.cancelled() => return,
                _ = gate.changed() => continue,
                permit = self.inner.permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
            };
            let accepted = tokio::select! {
                biased;
                () = generation.cancelled() => return,
                _ = gate.changed() => continue,
                accepted = listening.accept() => accepted,
            };
            let placeholder = gate.borrow().1;
            let client = match accepted {
                Ok((_, peer)) if placeholder == Some(peer) => {
                    self.placeholder_accepted(peer);
                    continue;
                }
                Ok((client, _)) => client,
                Err(err) => {
                    // Out of descriptors or a connection reset before accept:
                    // this one connection fails; the listener goes on.
                    tracing::debug!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
            };
            let id = self.inner.connection_ids.fetch_add(1, Ordering::Relaxed);
            let proxy = self.clone();
            let cancel = generation.child_token();
            self.inner.tasks.spawn(connections.track_future(async move {
                let stats = &proxy.inner.shared.stats;
                stats.connections_total.fetch_add(1, Ordering::Relaxed);
                stats.connections_active.fetch_add(1, Ordering::Relaxed);
                proxy.serve_connection(id, client, cancel).await;
                stats.connections_active.fetch_sub(1, Ordering::Relaxed);
                drop(permit);
            }));
        }
    }

    /// The RNG stream of one link: derived from the proxy seed, the connection
    /// number and the direction, so a seed replays the same fault decisions.
    fn link_rng(&self, connection: u64, stream: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.inner.seed);
        rng.set_stream(connection.wrapping_mul(4).wrapping_add(stream));
        rng
    }

    async fn serve_connection(&self, id: u64, client: TcpStream, cancel: CancellationToken) {
        let _ = client.set_nodelay(true);
        // Scoped so the RNG (320 bytes) is not kept for the connection's life.
        let admission = {
            let mut admission_rng = self.link_rng(id, 2);
            let upstream = self.inner.upstream_faults.subscribe();
            let downstream = self.inner.downstream_faults.subscribe();
            admit(upstream, downstream, &client, &mut admission_rng, &cancel).await
        };
        match admission {
            Admission::Connect => {}
            Admission::Reset => return reset(&client),
            Admission::Cancelled => return,
        }
        let upstream_address = self.state().spec.upstream.clone();
        let dialed = Instant::now();
        let server = tokio::select! {
            () = cancel.cancelled() => return,
            server = TcpStream::connect(&upstream_address) => server,
        };
        // The handshake's round trip: the floor under a loss fault's model.
        let rtt_floor = dialed.elapsed();
        let server = match server {
            Ok(server) => server,
            Err(err) => {
                tracing::debug!(%err, upstream = %upstream_address, "upstream connect failed");
                return reset(&client);
            }
        };
        let _ = server.set_nodelay(true);
        let client = Arc::new(client);
        let server = Arc::new(server);
        let up = Link {
            direction: Direction::Upstream,
            src: client.clone(),
            dst: server.clone(),
            faults: self.inner.upstream_faults.subscribe(),
            rng: self.link_rng(id, 0),
            shared: self.inner.shared.clone(),
            cancel: cancel.clone(),
            rtt_floor,
        }
        .run();
        let down = Link {
            direction: Direction::Downstream,
            src: server.clone(),
            dst: client.clone(),
            faults: self.inner.downstream_faults.subscribe(),
            rng: self.link_rng(id, 1),
            shared: self.inner.shared.clone(),
            cancel: cancel.clone(),
            rtt_floor,
        }
        .run();
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        while !(up_done && down_done) {
            let end = tokio::select! {
                end = &mut up, if !up_done => { up_done = true; end }
                end = &mut down, if !down_done => { down_done = true; end }
            };
            match end {
                LinkEnd::Finished => {}
                LinkEnd::Reset => {
                    cancel.cancel();
                    reset(&client);
                    reset(&server);
                    return;
                }
                LinkEnd::Close | LinkEnd::Cancelled => {
                    cancel.cancel();
                    return;
                }
            }
        }
    }
}

/// Arms a reset: with SO_LINGER 0 the close, when the last handle drops, sends RST.
fn reset(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

/// Removes its fault from the proxy when dropped (a test's fault lives exactly
/// as long as the guard).
#[derive(Debug)]
pub struct FaultGuard {
    proxy: Proxy,
    name: String,
}

impl FaultGuard {
    /// The guarded fault's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        let _ = self.proxy.remove_fault(&self.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_loss_fault_learns_the_round_trip_of_both_directions_latency() {
        let spec = ProxySpec {
            name: "rtt".into(),
            listen: "127.0.0.1:0".into(),
            upstream: "127.0.0.1:9".into(),
            enabled: true,
        };
        let stop = CancellationToken::new();
        let proxy = Proxy::start(spec, 1, Limits::default(), &stop)
            .await
            .unwrap();
        let round_trip = |direction| proxy.sender(direction).borrow().round_trip;
        let latency = |direction, ms| {
            Fault::new(
                direction,
                FaultKind::Latency {
                    latency: Duration::from_millis(ms),
                    jitter: Duration::ZERO,
                },
            )
        };
        proxy.add_fault(latency(Direction::Upstream, 30)).unwrap();
        proxy.add_fault(latency(Direction::Downstream, 50)).unwrap();
        // No loss yet: nothing needs the round trip.
        assert_eq!(round_trip(Direction::Upstream), Duration::ZERO);
        proxy
            .add_fault(Fault::new(
                Direction::Upstream,
                FaultKind::Loss {
                    probability: 0.01,
                    correlation: 0.0,
                    rto: Duration::from_millis(200),
                    throughput: crate::fault::Throughput::Cubic,
                },
            ))
            .unwrap();
        assert_eq!(round_trip(Direction::Upstream), Duration::from_millis(80));
        assert_eq!(round_trip(Direction::Downstream), Duration::ZERO);
        // Changing the other direction's latency reaches the loss stage.
        proxy.remove_fault("latency_downstream").unwrap();
        assert_eq!(round_trip(Direction::Upstream), Duration::from_millis(30));
        proxy.shutdown().await;
    }
}
