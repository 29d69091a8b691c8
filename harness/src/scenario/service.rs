//! Services: what runs in each region, at a fixed address or spawned by the runner.
//!
//! `services` maps a service name to its regions, and each region to either an
//! address that is already listening (`{"address": "127.0.0.1:7000"}`) or a
//! command the runner spawns (`{"command": ["fixture", "kv", "--listen",
//! "{listen}"], "ready": {"http": "/health"}}`). Commands and environment
//! values use the placeholders of [`super::template`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::link::LinkId;
use super::template::{Placeholder, Template};
use crate::base::duration;
use crate::base::{FieldPath, Problems};

/// How long a spawned service may take to become ready unless told otherwise.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// One region's instance of a service, as the scenario file writes it.
/// Exactly one of `address` or `command`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// `host:port` of a service that is already running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Program and arguments to spawn; the first element `fixture` means the
    /// fixture binary built with this workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// For a command: the fixed `ip:port` it listens on (default: a free
    /// loopback port the runner picks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// For a command: how the runner knows it is ready (default `{"tcp": true}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<ReadyConfig>,
    /// For a command: how long it may take to become ready (default `"10s"`).
    #[serde(
        default,
        with = "duration::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub ready_timeout: Option<Duration>,
    /// For a command: extra environment variables; values may hold placeholders.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

impl ServiceConfig {
    /// A service already listening at `address` (`host:port`).
    pub fn address(address: impl Into<String>) -> Self {
        Self {
            address: Some(address.into()),
            ..Self::default()
        }
    }

    /// A service the runner spawns with `command` (placeholders allowed).
    pub fn command<I, S>(command: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            command: Some(command.into_iter().map(Into::into).collect()),
            ..Self::default()
        }
    }

    /// Ready once `GET path` answers 2xx.
    #[must_use]
    pub fn ready_http(mut self, path: impl Into<String>) -> Self {
        self.ready = Some(ReadyConfig::Http(path.into()));
        self
    }

    /// With this readiness deadline.
    #[must_use]
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = Some(timeout);
        self
    }

    /// With an environment variable (placeholders allowed in the value).
    #[must_use]
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    /// Checks this instance of `service` in `region`; `link_exists` says
    /// whether a `{link:…}` placeholder names a declared link.
    pub(crate) fn check(
        &self,
        service: &str,
        region: &str,
        path: &FieldPath,
        links: &dyn Fn(&LinkId) -> bool,
        problems: &mut Problems,
    ) -> Option<Endpoint> {
        let before = problems.len();
        match (&self.address, &self.command) {
            (Some(address), None) => {
                for (field, set) in [
                    ("listen", self.listen.is_some()),
                    ("ready", self.ready.is_some()),
                    ("ready_timeout", self.ready_timeout.is_some()),
                    ("env", !self.env.is_empty()),
                ] {
                    if set {
                        problems.push(
                            &path.key(field),
                            "applies only to a spawned `command`, not to an `address`",
                        );
                    }
                }
                match HostPort::parse(address) {
                    Ok(address) if problems.len() == before => Some(Endpoint::Address(address)),
                    Ok(_) => None,
                    Err(message) => {
                        problems.push(&path.key("address"), message);
                        None
                    }
                }
            }
            (None, Some(command)) => {
                self.check_command(command, service, region, path, links, problems)
            }
            (Some(_), Some(_)) => {
                problems.push(path, "give either `address` or `command`, not both");
                None
            }
            (None, None) => {
                problems.push(
                    path,
                    "needs an `address` (already running) or a `command` (spawned)",
                );
                None
            }
        }
    }

    fn check_command(
        &self,
        command: &[String],
        service: &str,
        region: &str,
        path: &FieldPath,
        links: &dyn Fn(&LinkId) -> bool,
        problems: &mut Problems,
    ) -> Option<Endpoint> {
        let before = problems.len();
        if command.is_empty() || command[0].trim().is_empty() {
            problems.push(&path.key("command"), "must name a program");
        }
        let mut template = |text: &str, at: FieldPath| match Template::parse(text) {
            Ok(template) => {
                for placeholder in template.placeholders() {
                    if *placeholder == Placeholder::Addr {
                        problems.push(
                            &at,
                            "{addr} is for client commands (the address a client calls); a service uses {listen} and {link:…}",
                        );
                    }
                    if let Some(link) = placeholder.link() {
                        if !links(link) {
                            problems.push(
                                &at,
                                format!("{placeholder} names a link the scenario does not declare"),
                            );
                        }
                    }
                }
                Some(template)
            }
            Err(message) => {
                problems.push(&at, message);
                None
            }
        };
        let argv: Vec<Option<Template>> = command
            .iter()
            .enumerate()
            .map(|(index, arg)| template(arg, path.key("command").index(index)))
            .collect();
        let env: BTreeMap<String, Option<Template>> = self
            .env
            .iter()
            .map(|(name, value)| (name.clone(), template(value, path.key("env").key(name))))
            .collect();
        for name in self.env.keys() {
            if name.is_empty() || name.contains(['=', '\0']) {
                problems.push(
                    &path.key("env").key(name),
                    "is not an environment variable name",
                );
            }
        }
        let listen = match self.listen.as_deref().map(str::parse::<SocketAddr>) {
            None => None,
            Some(Ok(addr)) => Some(addr),
            Some(Err(_)) => {
                problems.push(
                    &path.key("listen"),
                    format!(
                        "{:?} is not an ip:port address",
                        self.listen.as_deref().unwrap_or("")
                    ),
                );
                None
            }
        };
        let uses_listen = argv
            .iter()
            .chain(env.values())
            .flatten()
            .flat_map(Template::placeholders)
            .any(|p| matches!(p, Placeholder::Listen | Placeholder::Port));
        if !uses_listen && self.listen.is_none() {
            problems.push(
                &path.key("command"),
                "never says where to listen: use {listen} or {port} in the command or env, or set `listen`",
            );
        }
        let ready = match &self.ready {
            None | Some(ReadyConfig::Tcp(true)) => Ready::Tcp,
            Some(ReadyConfig::Tcp(false)) => {
                problems.push(
                    &path.key("ready").key("tcp"),
                    "must be true (leave `ready` out for the default)",
                );
                Ready::Tcp
            }
            Some(ReadyConfig::Http(http)) => {
                if !http.starts_with('/') {
                    problems.push(
                        &path.key("ready").key("http"),
                        format!("{http:?} must be a path starting with \"/\""),
                    );
                }
                Ready::Http { path: http.clone() }
            }
        };
        let ready_timeout = self.ready_timeout.unwrap_or(DEFAULT_READY_TIMEOUT);
        if ready_timeout.is_zero() {
            problems.push(&path.key("ready_timeout"), "must be greater than zero");
        }
        if problems.len() != before {
            return None;
        }
        Some(Endpoint::Command(Command {
            region: region.to_owned(),
            service: service.to_owned(),
            argv: argv.into_iter().flatten().collect(),
            env: env.into_iter().filter_map(|(k, v)| Some((k, v?))).collect(),
            listen,
            ready,
            ready_timeout,
        }))
    }
}

/// How the runner knows a spawned service is ready, as the file writes it:
/// `{"tcp": true}` or `{"http": "/health"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadyConfig {
    /// `{"tcp": true}`: ready once its listen address accepts a connection.
    Tcp(bool),
    /// `{"http": "/health"}`: ready once `GET` of this path answers 2xx.
    Http(String),
}

/// A validated instance of a service in one region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Already running at this address.
    Address(HostPort),
    /// Spawned by the runner.
    Command(Command),
}

/// A `host:port` address; the host may be a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl HostPort {
    /// Parses `host:port` or `[v6]:port`.
    ///
    /// # Errors
    /// A message saying what is missing.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(Self {
                host: addr.ip().to_string(),
                port: addr.port(),
            });
        }
        let bad = || format!("{text:?} is not a host:port address");
        let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let valid_host = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            && !host.starts_with(['-', '.']);
        if !valid_host {
            return Err(bad());
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// How the runner knows a spawned service is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ready {
    /// Its listen address accepts a TCP connection.
    Tcp,
    /// `GET path` on its listen address answers 2xx.
    Http {
        /// The path, starting with `/`.
        path: String,
    },
}

/// A validated command to spawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The region it runs in (for `{region}`).
    pub region: String,
    /// The service it is (for `{service}`).
    pub service: String,
    /// Program and arguments, with placeholders.
    pub argv: Vec<Template>,
    /// Extra environment, values with placeholders.
    pub env: BTreeMap<String, Template>,
    /// A fixed listen address, or `None` for one the runner picks.
    pub listen: Option<SocketAddr>,
    /// The readiness check.
    pub ready: Ready,
    /// The readiness deadline.
    pub ready_timeout: Duration,
}

/// A command with every placeholder replaced, ready to spawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedCommand {
    /// The program (`fixture` still to be resolved by the runner).
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

impl Command {
    /// Replaces the placeholders: `listen` is the address the service listens
    /// on, `link` gives a link's proxy address (every link the command names
    /// was checked to exist at validation).
    pub fn render(&self, listen: SocketAddr, link: impl Fn(&LinkId) -> String) -> RenderedCommand {
        let value = |placeholder: &Placeholder| match placeholder {
            Placeholder::Listen => listen.to_string(),
            Placeholder::Host => listen.ip().to_string(),
            Placeholder::Port => listen.port().to_string(),
            Placeholder::Region => self.region.clone(),
            Placeholder::Service => self.service.clone(),
            Placeholder::Link(id) => link(id),
            Placeholder::LinkHost(id) => host_port_halves(&link(id)).0,
            Placeholder::LinkPort(id) => host_port_halves(&link(id)).1,
            // Refused at validation for services.
            Placeholder::Addr => String::new(),
        };
        let mut argv = self.argv.iter().map(|arg| arg.render(value));
        RenderedCommand {
            program: argv.next().unwrap_or_default(),
            args: argv.collect(),
            env: self
                .env
                .iter()
                .map(|(name, template)| (name.clone(), template.render(value)))
                .collect(),
        }
    }
}

/// `host:port` (or `[v6]:port`) split into its host and port, for the
/// `{…_host}`/`{…_port}` placeholders.
pub(crate) fn host_port_halves(address: &str) -> (String, String) {
    match address.rsplit_once(':') {
        Some((host, port)) => (
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port.to_owned(),
        ),
        None => (address.to_owned(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(config: &ServiceConfig) -> (Option<Endpoint>, Vec<String>) {
        let mut problems = Problems::new();
        let known = LinkId::new("us-east", "eu-west", "kv");
        let path = FieldPath::root().key("services").key("kv").key("us-east");
        let endpoint = config.check(
            "kv",
            "us-east",
            &path,
            &|link| *link == known,
            &mut problems,
        );
        (
            endpoint,
            problems
                .into_vec()
                .into_iter()
                .map(|p| p.to_string())
                .collect(),
        )
    }

    #[test]
    fn a_command_renders_its_placeholders() {
        let config = ServiceConfig::command([
            "fixture",
            "kv",
            "--region",
            "{region}",
            "--listen",
            "{listen}",
            "--peer",
            "eu-west={link:us-east->eu-west:kv}",
        ])
        .env("PORT", "{port}");
        let (Some(Endpoint::Command(command)), problems) = check(&config) else {
            panic!("not a command")
        };
        assert!(problems.is_empty(), "{problems:?}");
        let rendered = command.render("127.0.0.1:7001".parse().unwrap(), |link| {
            format!("proxy-of-{link}")
        });
        assert_eq!(rendered.program, "fixture");
        assert_eq!(
            rendered.args,
            [
                "kv",
                "--region",
                "us-east",
                "--listen",
                "127.0.0.1:7001",
                "--peer",
                "eu-west=proxy-of-us-east->eu-west:kv"
            ]
        );
        assert_eq!(rendered.env, [("PORT".to_owned(), "7001".to_owned())]);
    }

    #[test]
    fn a_placeholder_naming_an_undeclared_link_is_refused() {
        let config = ServiceConfig::command([
            "fixture",
            "--listen",
            "{listen}",
            "--peer",
            "{link:us-east->ap-south:kv}",
        ]);
        let (endpoint, problems) = check(&config);
        assert!(endpoint.is_none());
        assert_eq!(
            problems,
            ["services.kv.us-east.command[4]: {link:us-east->ap-south:kv} names a link the scenario does not declare"]
        );
    }

    #[test]
    fn a_command_must_learn_where_to_listen() {
        let (_, problems) = check(&ServiceConfig::command(["fixture", "kv"]));
        assert!(
            problems[0].contains("never says where to listen"),
            "{problems:?}"
        );
        let fixed = ServiceConfig {
            listen: Some("127.0.0.1:7000".into()),
            ..ServiceConfig::command(["server"])
        };
        assert!(check(&fixed).1.is_empty());
    }

    #[test]
    fn address_and_command_exclude_each_other() {
        let both = ServiceConfig {
            address: Some("127.0.0.1:1".into()),
            ..ServiceConfig::command(["x", "{listen}"])
        };
        assert!(check(&both).1[0].contains("not both"));
        assert!(check(&ServiceConfig::default()).1[0].contains("needs an `address`"));
        let stray = ServiceConfig::address("127.0.0.1:7000").ready_http("/health");
        assert!(check(&stray).1[0].contains("services.kv.us-east.ready: applies only"));
    }

    #[test]
    fn addresses_may_name_hosts() {
        assert_eq!(
            HostPort::parse("db.internal:5432").unwrap().to_string(),
            "db.internal:5432"
        );
        assert_eq!(HostPort::parse("[::1]:80").unwrap().to_string(), "[::1]:80");
        assert!(HostPort::parse("localhost").is_err());
        assert!(HostPort::parse(":80").is_err());
        assert!(HostPort::parse("host:99999").is_err());
    }
}
