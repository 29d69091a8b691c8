//! Client processes: a program that drives a system under test for faultline,
//! speaking JSON Lines on its stdin and stdout (the protocol is in
//! `docs/clients.md` and [`crate::workload::process`]).
//!
//! ```json
//! "client": {"command": [".venv/bin/python", "suites/clients/redis_client.py", "{addr}"],
//!            "env": {"REGION": "{region}"}, "ready_timeout": "10s"}
//! ```
//!
//! A workload, a replication probe or a final read with a `client` sends its
//! operations to the client instead of making HTTP requests. faultline starts
//! one process per region (and per workload, probe or final read using it).
//! Its command and environment take the placeholders of services
//! ([`super::template`]) except `{listen}`, plus `{addr}`: the `host:port` of
//! the region's instance the client calls (`{host}` and `{port}` are its two
//! halves).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::link::LinkId;
use super::service::{host_port_halves, RenderedCommand};
use super::template::{Placeholder, Template};
use crate::base::duration;
use crate::base::{FieldPath, Problems};

/// How long a client may take to say hello unless told otherwise.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A client process as the scenario file writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Program and arguments, with placeholders.
    pub command: Vec<String>,
    /// Extra environment variables; values may hold placeholders.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// How long it may take to write its hello line (default `"10s"`).
    #[serde(
        default,
        with = "duration::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub ready_timeout: Option<Duration>,
}

impl ClientConfig {
    /// A client started with `command` (placeholders allowed).
    pub fn new<I, S>(command: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            command: command.into_iter().map(Into::into).collect(),
            env: BTreeMap::new(),
            ready_timeout: None,
        }
    }

    /// With an environment variable (placeholders allowed in the value).
    #[must_use]
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    /// With this hello deadline.
    #[must_use]
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = Some(timeout);
        self
    }

    /// Checks the command; `links` says whether a `{link…}` names a declared link.
    pub(crate) fn check(
        &self,
        path: &FieldPath,
        links: &dyn Fn(&LinkId) -> bool,
        problems: &mut Problems,
    ) -> Option<ClientCommand> {
        let before = problems.len();
        if self.command.is_empty() || self.command[0].trim().is_empty() {
            problems.push(&path.key("command"), "must name a program");
        }
        let mut template = |text: &str, at: FieldPath| match Template::parse(text) {
            Ok(template) => {
                for placeholder in template.placeholders() {
                    if *placeholder == Placeholder::Listen {
                        problems.push(
                            &at,
                            "{listen} is for services; a client calls {addr} (the region's instance)",
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
        let argv: Vec<Option<Template>> = self
            .command
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
        let ready_timeout = self.ready_timeout.unwrap_or(DEFAULT_READY_TIMEOUT);
        if ready_timeout.is_zero() {
            problems.push(&path.key("ready_timeout"), "must be greater than zero");
        }
        if problems.len() != before {
            return None;
        }
        Some(ClientCommand {
            argv: argv.into_iter().flatten().collect(),
            env: env.into_iter().filter_map(|(k, v)| Some((k, v?))).collect(),
            ready_timeout,
        })
    }
}

/// A validated client command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCommand {
    /// Program and arguments, with placeholders.
    pub argv: Vec<Template>,
    /// Extra environment, values with placeholders.
    pub env: BTreeMap<String, Template>,
    /// The hello deadline.
    pub ready_timeout: Duration,
}

impl ClientCommand {
    /// Replaces the placeholders for the client of `service` in `region`
    /// calling `addr`; `link` gives a link's proxy address.
    pub fn render(
        &self,
        service: &str,
        region: &str,
        addr: &str,
        link: impl Fn(&LinkId) -> String,
    ) -> RenderedCommand {
        let (host, port) = host_port_halves(addr);
        let value = |placeholder: &Placeholder| match placeholder {
            Placeholder::Addr => addr.to_owned(),
            Placeholder::Host => host.clone(),
            Placeholder::Port => port.clone(),
            Placeholder::Region => region.to_owned(),
            Placeholder::Service => service.to_owned(),
            Placeholder::Link(id) => link(id),
            Placeholder::LinkHost(id) => host_port_halves(&link(id)).0,
            Placeholder::LinkPort(id) => host_port_halves(&link(id)).1,
            // Refused at validation.
            Placeholder::Listen => String::new(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(config: &ClientConfig) -> (Option<ClientCommand>, Vec<String>) {
        let mut problems = Problems::new();
        let known = LinkId::new("eu-west", "us-east", "redis");
        let command = config.check(
            &FieldPath::root().key("workload").index(0).key("client"),
            &|link| *link == known,
            &mut problems,
        );
        (
            command,
            problems
                .into_vec()
                .into_iter()
                .map(|p| p.to_string())
                .collect(),
        )
    }

    #[test]
    fn a_client_command_renders_addr_and_its_halves() {
        let config = ClientConfig::new(["python3", "client.py", "{addr}", "{host}", "{port}"])
            .env("VIA", "{link_port:eu-west->us-east:redis}")
            .env("WHERE", "{region}/{service}");
        let (Some(command), problems) = check(&config) else {
            panic!("invalid")
        };
        assert!(problems.is_empty(), "{problems:?}");
        let rendered = command.render("redis", "us-east", "127.0.0.1:7001", |_| {
            "127.0.0.1:9000".to_owned()
        });
        assert_eq!(rendered.program, "python3");
        assert_eq!(
            rendered.args,
            ["client.py", "127.0.0.1:7001", "127.0.0.1", "7001"]
        );
        assert_eq!(
            rendered.env,
            [
                ("VIA".to_owned(), "9000".to_owned()),
                ("WHERE".to_owned(), "us-east/redis".to_owned())
            ]
        );
    }

    #[test]
    fn a_client_cannot_listen_or_name_an_undeclared_link() {
        let config = ClientConfig::new(["client", "{listen}", "{link:us-east->eu-west:redis}"])
            .ready_timeout(Duration::ZERO);
        let (command, problems) = check(&config);
        assert!(command.is_none());
        assert_eq!(
            problems,
            [
                "workload[0].client.command[1]: {listen} is for services; a client calls {addr} (the region's instance)",
                "workload[0].client.command[2]: {link:us-east->eu-west:redis} names a link the scenario does not declare",
                "workload[0].client.ready_timeout: must be greater than zero",
            ]
        );
        assert_eq!(
            check(&ClientConfig::new(Vec::<String>::new())).1,
            ["workload[0].client.command: must name a program"]
        );
    }
}
