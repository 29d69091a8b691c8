//! What a load is pointed at: the server directly, faultline's proxy running
//! in this process, or a peer proxy started from a command template.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::time::Instant;

use crate::probe;

/// A peer proxy to compare with: a name and a command template.
///
/// The template is run by `sh -c` after its placeholders are filled in:
/// `{listen}` (`127.0.0.1:PORT`), `{listen_port}` (`PORT`) and `{upstream}`
/// (`127.0.0.1:PORT` of the benchmark's server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    /// Column name in the report.
    pub name: String,
    /// The command template.
    pub command: String,
}

impl PeerSpec {
    /// Parses `NAME=COMMAND`, or a bare `COMMAND` named after its program.
    pub fn parse(text: &str) -> Self {
        if let Some((name, command)) = text.split_once('=') {
            let plain = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if plain {
                return Self {
                    name: name.to_owned(),
                    command: command.to_owned(),
                };
            }
        }
        let program = text.split_whitespace().next().unwrap_or("peer");
        let name = program.rsplit('/').next().unwrap_or(program).to_owned();
        Self {
            name,
            command: text.to_owned(),
        }
    }

    /// The command with its placeholders filled in.
    pub fn render(&self, listen: SocketAddr, upstream: SocketAddr) -> String {
        self.command
            .replace("{listen_port}", &listen.port().to_string())
            .replace("{listen}", &listen.to_string())
            .replace("{upstream}", &upstream.to_string())
    }
}

/// A running peer proxy, in its own process group; killed (the whole group)
/// when dropped.
#[derive(Debug)]
pub struct PeerProcess {
    child: Child,
    /// Where it listens.
    pub listen: SocketAddr,
}

impl PeerProcess {
    /// Starts `spec` in front of `upstream` and waits (up to 10 s) until it accepts.
    ///
    /// # Errors
    /// The spawn error, or a timeout if it never accepts.
    pub async fn start(spec: &PeerSpec, upstream: SocketAddr) -> io::Result<Self> {
        let listen = free_port()?;
        let command = spec.render(listen, upstream);
        // The peer's output goes to a file (a pipe nobody reads could fill
        // and stall it); its tail explains a peer that never listens.
        let log_path = std::env::temp_dir().join(format!(
            "faultline-bench-{}-{}.log",
            spec.name,
            listen.port()
        ));
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()?;
        let peer = Self { child, listen };
        let give_up = Instant::now() + Duration::from_secs(10);
        loop {
            if tokio::net::TcpStream::connect(listen).await.is_ok() {
                return Ok(peer);
            }
            if Instant::now() > give_up {
                let output = std::fs::read_to_string(&log_path).unwrap_or_default();
                let tail: Vec<&str> = output.lines().rev().take(5).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "it never listened on {listen} within 10 s; command: {command}; its output ({}): {}",
                        log_path.display(),
                        tail.join(" | ")
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The process id of the shell (the root of the peer's process tree).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (bound, then released for the peer to take).
fn free_port() -> io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// Thread-name prefixes of faultline's proxy in this process: the runtime the
/// benchmark starts for it and the proxy's release-timer thread.
pub const PROXY_THREADS: [&str; 2] = ["fl-proxy", "faultline-timer"];

/// Where a load goes and how its cost is read.
#[derive(Debug)]
pub enum Target {
    /// Straight to the server.
    Direct(SocketAddr),
    /// Through faultline's proxy in this process.
    Faultline(SocketAddr),
    /// Through a peer proxy process.
    Peer(PeerProcess),
}

/// A CPU reading of a target, to subtract from a later one.
#[derive(Debug, Clone)]
pub struct CpuMark {
    process: Duration,
    proxy: Duration,
    tree: Option<probe::TreeCpu>,
}

impl Target {
    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Target::Direct(addr) | Target::Faultline(addr) => *addr,
            Target::Peer(peer) => peer.listen,
        }
    }

    /// Reads the CPU counters.
    pub fn cpu_mark(&self) -> CpuMark {
        CpuMark {
            process: probe::self_cpu(),
            proxy: probe::threads_cpu(&PROXY_THREADS),
            tree: match self {
                Target::Peer(peer) => Some(probe::TreeCpu::read(peer.pid())),
                _ => None,
            },
        }
    }

    /// CPU used since `mark`: (this whole process, the proxy alone). For a
    /// peer the proxy figure is its process tree's; for direct it is zero.
    pub fn cpu_since(&self, mark: &CpuMark) -> (Duration, Duration) {
        let now = self.cpu_mark();
        let process = now.process.saturating_sub(mark.process);
        let proxy = match (&mark.tree, &now.tree) {
            (Some(before), Some(after)) => before.since(after),
            _ if matches!(self, Target::Faultline(_)) => now.proxy.saturating_sub(mark.proxy),
            _ => Duration::ZERO,
        };
        (process, proxy)
    }

    /// Memory that grows with connections: this process's RSS, or the peer's
    /// process-tree PSS.
    pub fn memory(&self) -> u64 {
        match self {
            Target::Peer(peer) => probe::tree_pss(peer.pid()),
            _ => probe::self_rss(),
        }
    }
}
