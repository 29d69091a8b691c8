//! Bringing a scenario's world up and down: services (already running, or
//! spawned and supervised), and one proxy per link, placed in-process or on a
//! region's agent.
//!
//! Order matters: every spawned service's listen address is chosen and every
//! proxy created before any command starts, so each command's placeholders
//! (`{listen}`, `{link:FROM->TO:SERVICE}`) resolve to real addresses and a
//! region's service reaches another region only through its link's proxy.
//!
//! Nothing outlives the drill: each spawned service runs in the process group
//! of a small supervisor (`/bin/sh`, see [`SUPERVISOR`]) whose stdin is a pipe
//! only the drill holds. When the drill process dies, however it dies
//! (SIGKILL included), the kernel closes that pipe; the supervisor reads EOF
//! and signals its whole group (the service and the service's own children):
//! SIGTERM, then SIGKILL a second later. A clean stop signals the group itself
//! (SIGTERM, a grace period, SIGKILL) and reaps the supervisor.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use faultline_proxies::ProxySpec;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::plane::{LinkProxy, Plane, PlaneError, IN_PROCESS};
use crate::runfile::{ProcessEntry, ProcessId, RunFile};
use crate::scenario::{Endpoint, LinkId, Ready, Scenario};
use crate::workload::client::HttpClient;

/// How long a spawned service gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The supervisor of one spawned service, run by `/bin/sh`.
///
/// It leads the process group the service joins, ignores the signals a
/// terminal or a group kill sends, and waits for EOF on stdin (a pipe whose
/// other end only the drill holds: the kernel closes it when the drill dies).
/// Then it signals its group: SIGTERM to let the service flush, SIGKILL one
/// second later (which ends the supervisor too). A shell script rather than a
/// `faultline` subcommand: `/bin/sh` is on every host, while the `faultline`
/// binary is not where a `cargo test` of the Rust API runs (its
/// `current_exe()` is the test binary); and no `pre_exec` (unsafe) is needed.
/// PR_SET_PDEATHSIG is not used: it fires when the forking *thread* exits,
/// and tokio's blocking threads come and go.
pub const SUPERVISOR: &str = "trap '' INT TERM HUP QUIT; while read -r _; do :; done; kill -TERM 0 2>/dev/null; sleep 1; kill -KILL 0";

/// Why the topology could not come up.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// A proxy could not be created or given its baseline.
    #[error("link {link}: {source}")]
    Proxy {
        /// The link.
        link: String,
        /// What the plane said.
        #[source]
        source: PlaneError,
    },
    /// No address could be reserved for a service.
    #[error("service {service} in {region}: cannot pick a listen address: {source}")]
    Reserve {
        /// Service.
        service: String,
        /// Region.
        region: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A command could not be started.
    #[error("service {service} in {region}: cannot start {program:?}: {source}")]
    Spawn {
        /// Service.
        service: String,
        /// Region.
        region: String,
        /// The program.
        program: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The drill was cancelled while the topology came up.
    #[error("cancelled while starting")]
    Cancelled,
    /// A spawned service never became ready, or exited.
    #[error("service {service} in {region}: {reason}{}", log.as_ref().map(|l| format!(" (its output: {})", l.display())).unwrap_or_default())]
    NotReady {
        /// Service.
        service: String,
        /// Region.
        region: String,
        /// What happened.
        reason: String,
        /// Where its output is.
        log: Option<PathBuf>,
    },
}

/// Which plane runs the proxy of a link.
pub trait PlaneFor: Send + Sync {
    /// The plane for `link` (its `agent`, or the in-process one).
    fn plane_for(&self, agent: Option<&str>) -> Arc<dyn Plane>;
}

/// A spawned service.
#[derive(Debug)]
struct Process {
    service: String,
    region: String,
    child: Child,
    log: Option<PathBuf>,
    /// Its supervisor; its pid is the process group of the service.
    supervisor: Child,
    pgid: i32,
}

impl Drop for Process {
    /// A topology dropped without [`Topology::stop`] (a cancelled future, a
    /// panic) still takes the whole group down, not only the service's pid.
    fn drop(&mut self) {
        if matches!(self.supervisor.try_wait(), Ok(None)) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(self.pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// The running world of a drill.
#[derive(Debug, Default)]
pub struct Topology {
    /// `(service, region)` → the address clients in that region use.
    pub services: BTreeMap<(String, String), String>,
    /// Link → its proxy.
    pub proxies: BTreeMap<LinkId, LinkProxy>,
    processes: Vec<Process>,
}

/// Where spawned services' output goes and how `fixture`/`faultline` resolve.
#[derive(Debug, Clone, Default)]
pub struct SpawnOptions {
    /// Folder for `logs/<service>-<region>.log`; `None` discards output.
    pub log_dir: Option<PathBuf>,
    /// Extra folders searched for a command's program before `PATH`
    /// (the folder of the running binary is always searched first).
    pub search: Vec<PathBuf>,
    /// The drill's run file, told about every process spawned.
    pub run_file: Option<Arc<RunFile>>,
}

impl Topology {
    /// Brings the scenario's world up. On error, whatever was started is stopped.
    ///
    /// # Errors
    /// A proxy that cannot be created, a service that cannot start or never
    /// becomes ready.
    /// Cancelling `stop` ends the wait for readiness; what was started is
    /// stopped and removed before this returns.
    pub async fn start(
        scenario: &Scenario,
        planes: &dyn PlaneFor,
        options: &SpawnOptions,
        stop: &tokio_util::sync::CancellationToken,
    ) -> Result<Self, TopologyError> {
        let mut topology = Topology::default();
        match topology.bring_up(scenario, planes, options, stop).await {
            Ok(()) => Ok(topology),
            Err(err) => {
                topology.stop().await;
                Err(err)
            }
        }
    }

    async fn bring_up(
        &mut self,
        scenario: &Scenario,
        planes: &dyn PlaneFor,
        options: &SpawnOptions,
        stop: &tokio_util::sync::CancellationToken,
    ) -> Result<(), TopologyError> {
        // 1. Where every instance is (or will listen).
        let mut to_spawn = Vec::new();
        for (service, regions) in &scenario.services {
            for (region, endpoint) in regions {
                let address = match endpoint {
                    Endpoint::Address(address) => address.to_string(),
                    Endpoint::Command(command) => {
                        let listen = match command.listen {
                            Some(listen) => listen,
                            None => reserve_port().map_err(|source| TopologyError::Reserve {
                                service: service.clone(),
                                region: region.clone(),
                                source,
                            })?,
                        };
                        to_spawn.push((command.clone(), listen));
                        listen.to_string()
                    }
                };
                self.services
                    .insert((service.clone(), region.clone()), address);
            }
        }
        // 2. One proxy per link, with its baseline.
        for link in &scenario.links {
            let name = link.id.to_string();
            let upstream = self.services[&(link.id.service.clone(), link.id.to.clone())].clone();
            let plane = planes.plane_for(link.agent.as_deref());
            let error = |source| TopologyError::Proxy {
                link: name.clone(),
                source,
            };
            let listen = plane
                .create_proxy(ProxySpec {
                    name: name.clone(),
                    listen: plane.proxy_listen(link.port.unwrap_or(0)),
                    upstream,
                    enabled: true,
                })
                .await
                .map_err(error)?;
            self.proxies.insert(
                link.id.clone(),
                LinkProxy {
                    plane: plane.clone(),
                    name: name.clone(),
                    listen,
                },
            );
            for fault in link.baseline_faults() {
                plane.add_fault(&name, fault).await.map_err(error)?;
            }
        }
        // 3. Spawn, then wait for every service to be ready.
        for (command, listen) in &to_spawn {
            let rendered = command.render(*listen, |id| {
                self.proxies
                    .get(id)
                    .map(|p| p.listen.clone())
                    .unwrap_or_default()
            });
            let program = resolve(&rendered.program, &options.search);
            let log = options.log_dir.as_ref().map(|dir| {
                dir.join("logs")
                    .join(format!("{}-{}.log", command.service, command.region))
            });
            let (stdout, stderr) = match &log {
                Some(path) => log_files(path).map_err(|source| TopologyError::Spawn {
                    service: command.service.clone(),
                    region: command.region.clone(),
                    program: rendered.program.clone(),
                    source,
                })?,
                None => (Stdio::null(), Stdio::null()),
            };
            let spawn_error = |source| TopologyError::Spawn {
                service: command.service.clone(),
                region: command.region.clone(),
                program: program.display().to_string(),
                source,
            };
            let mut supervisor = spawn_supervisor().map_err(spawn_error)?;
            let Some(pgid) = supervisor.id() else {
                return Err(spawn_error(io::Error::other(
                    "the supervisor exited at once",
                )));
            };
            let pgid = pgid as i32;
            let spawned = Command::new(&program)
                .args(&rendered.args)
                .envs(rendered.env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(stderr)
                .process_group(pgid)
                .kill_on_drop(true)
                .spawn();
            let child = match spawned {
                Ok(child) => child,
                Err(err) => {
                    let _ = supervisor.kill().await;
                    return Err(spawn_error(err));
                }
            };
            if let Some(run_file) = &options.run_file {
                let entry = ProcessEntry {
                    service: command.service.clone(),
                    region: command.region.clone(),
                    process: child.id().and_then(ProcessId::of).unwrap_or(ProcessId {
                        pid: child.id().unwrap_or(0),
                        start_time: 0,
                    }),
                    pgid,
                    supervisor: ProcessId::of(pgid as u32),
                    listen: Some(listen.to_string()),
                };
                run_file.update(|r| r.processes.push(entry));
            }
            self.processes.push(Process {
                service: command.service.clone(),
                region: command.region.clone(),
                child,
                log,
                supervisor,
                pgid,
            });
        }
        let client = HttpClient::new();
        for (index, (command, listen)) in to_spawn.iter().enumerate() {
            let deadline = Instant::now() + command.ready_timeout;
            loop {
                let process = &mut self.processes[index];
                if let Ok(Some(status)) = process.child.try_wait() {
                    return Err(TopologyError::NotReady {
                        service: process.service.clone(),
                        region: process.region.clone(),
                        reason: format!("exited with {status} before it was ready"),
                        log: process.log.clone(),
                    });
                }
                if is_ready(&command.ready, *listen, &client).await {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(TopologyError::NotReady {
                        service: process.service.clone(),
                        region: process.region.clone(),
                        reason: format!("not ready within {:?} at {listen}", command.ready_timeout),
                        log: process.log.clone(),
                    });
                }
                tokio::select! {
                    () = stop.cancelled() => return Err(TopologyError::Cancelled),
                    () = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
        }
        // A service that failed to bind exits; if something else answered on
        // its port, the readiness check alone would not notice.
        for process in &mut self.processes {
            if let Ok(Some(status)) = process.child.try_wait() {
                return Err(TopologyError::NotReady {
                    service: process.service.clone(),
                    region: process.region.clone(),
                    reason: format!("exited with {status} while the others were starting"),
                    log: process.log.clone(),
                });
            }
        }
        Ok(())
    }

    /// Whether some link's proxy runs on a remote agent.
    pub fn has_remote_links(&self) -> bool {
        self.proxies
            .values()
            .any(|proxy| proxy.plane.location() != IN_PROCESS)
    }

    /// The address of `service` in `region` (what that region's clients use).
    pub fn address(&self, service: &str, region: &str) -> Option<&str> {
        self.services
            .get(&(service.to_owned(), region.to_owned()))
            .map(String::as_str)
    }

    /// `region → address` of one service.
    pub fn addresses_of(&self, service: &str) -> BTreeMap<String, String> {
        self.services
            .iter()
            .filter(|((s, _), _)| s == service)
            .map(|((_, r), a)| (r.clone(), a.clone()))
            .collect()
    }

    /// How many spawned processes are still running.
    pub fn running_processes(&mut self) -> usize {
        self.processes
            .iter_mut()
            .map(|p| matches!(p.child.try_wait(), Ok(None)))
            .filter(|running| *running)
            .count()
    }

    /// Spawned services that have exited, as `service in region: status`
    /// (a crash during a drill is worth knowing when reading its verdicts).
    pub fn exited(&mut self) -> Vec<String> {
        self.processes
            .iter_mut()
            .filter_map(|p| match p.child.try_wait() {
                Ok(Some(status)) => Some(format!(
                    "{} in {} exited with {status}{}",
                    p.service,
                    p.region,
                    p.log
                        .as_ref()
                        .map(|l| format!(" (output: {})", l.display()))
                        .unwrap_or_default()
                )),
                _ => None,
            })
            .collect()
    }

    /// The process ids of the spawned services.
    pub fn process_ids(&self) -> Vec<u32> {
        self.processes.iter().filter_map(|p| p.child.id()).collect()
    }

    /// Stops every spawned service (SIGTERM, then SIGKILL after a grace
    /// period) and removes every proxy. Errors are logged, not returned: this
    /// runs on the way out, whatever happened.
    pub async fn stop(&mut self) {
        use nix::sys::signal::{killpg, Signal};
        use nix::unistd::Pid;
        for process in &self.processes {
            // The whole group: a shell wrapper's children go too. The
            // supervisor ignores SIGTERM.
            let _ = killpg(Pid::from_raw(process.pgid), Signal::SIGTERM);
        }
        for process in &mut self.processes {
            if tokio::time::timeout(STOP_GRACE, process.child.wait())
                .await
                .is_err()
            {
                tracing::warn!(service = %process.service, region = %process.region, "did not stop on SIGTERM; killing it");
            }
            // Whatever is left of the group (children that outlived the
            // service, the supervisor) ends here.
            let _ = killpg(Pid::from_raw(process.pgid), Signal::SIGKILL);
            let _ = process.child.wait().await;
            let _ = process.supervisor.wait().await;
        }
        self.processes.clear();
        for proxy in std::mem::take(&mut self.proxies).into_values() {
            if let Err(err) = proxy.plane.remove_proxy(&proxy.name).await {
                tracing::warn!(proxy = %proxy.name, %err, "could not remove proxy");
            }
        }
    }
}

/// Starts one service's supervisor ([`SUPERVISOR`]) in a process group of its own.
fn spawn_supervisor() -> io::Result<Child> {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(SUPERVISOR)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
}

/// A free loopback port for a spawned service to listen on.
///
/// It is picked below the kernel's ephemeral range
/// (`/proc/sys/net/ipv4/ip_local_port_range`), where nothing that binds port 0
/// is handed it, so the port stays free between this check and the service's
/// own bind (a port-0 reservation released and re-bound raced with every
/// other test binding port 0). Falls back to a port-0 pick if no port there is free.
fn reserve_port() -> io::Result<SocketAddr> {
    use rand::Rng;
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            text.split_whitespace()
                .next()
                .and_then(|low| low.parse::<u16>().ok())
        })
        .unwrap_or(32_768);
    let low = 10_000u16.min(ephemeral_low.saturating_sub(1_000));
    if ephemeral_low > low + 100 {
        let mut rng = rand::thread_rng();
        for _ in 0..200 {
            let port = rng.gen_range(low..ephemeral_low);
            if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) {
                return listener.local_addr();
            }
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

fn log_files(path: &Path) -> io::Result<(Stdio, Stdio)> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::File::create(path)?;
    Ok((Stdio::from(file.try_clone()?), Stdio::from(file)))
}

/// Finds `program`: as given if it has a slash; else next to the running
/// binary (so `fixture` and `faultline` resolve to the build they came with),
/// then in `search`, then on `PATH`.
pub fn resolve(program: &str, search: &[PathBuf]) -> PathBuf {
    if program.contains('/') {
        return PathBuf::from(program);
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            dirs.push(dir.to_owned());
            // Test binaries live in target/<profile>/deps; binaries one up.
            if dir.ends_with("deps") {
                if let Some(up) = dir.parent() {
                    dirs.push(up.to_owned());
                }
            }
        }
    }
    dirs.extend(search.iter().cloned());
    dirs.into_iter()
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(program))
}

async fn is_ready(ready: &Ready, listen: SocketAddr, client: &HttpClient) -> bool {
    match ready {
        Ready::Tcp => tokio::net::TcpStream::connect(listen).await.is_ok(),
        Ready::Http { path } => client
            .send(
                &listen.to_string(),
                "GET",
                path,
                None,
                &BTreeMap::new(),
                Duration::from_secs(1),
            )
            .await
            .status
            .is_some_and(|s| (200..300).contains(&s)),
    }
}
