//! `agents` entries: where a region's inbound links run, and how the drill
//! authenticates to that agent.
//!
//! An entry is either the agent's URL (`"http://10.0.0.2:8474"`; the token is
//! the drill's `--agent-token`/`FAULTLINE_TOKEN`) or an object naming the
//! environment variable that holds this agent's own token:
//!
//! ```json
//! "agents": {"eu-west": {"url": "http://10.0.0.2:8474", "token_env": "FAULTLINE_TOKEN_EU_WEST"}}
//! ```
//!
//! The token itself never appears in a scenario file (files are committed and
//! copied into reports); only the variable's name does.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// One `agents` entry as the file writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AgentConfig {
    /// Just the URL; the drill's default token applies.
    Url(String),
    /// The URL and where its token comes from.
    Entry(AgentEntry),
}

/// The object form of an `agents` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentEntry {
    /// `http://host:port` of the agent.
    pub url: String,
    /// Name of the environment variable holding this agent's bearer token
    /// (read by `faultline drill` when it starts; never stored in the file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
}

impl AgentConfig {
    /// The agent's URL.
    pub fn url(&self) -> &str {
        match self {
            AgentConfig::Url(url) => url,
            AgentConfig::Entry(entry) => &entry.url,
        }
    }

    /// The environment variable holding its token, if the entry names one.
    pub fn token_env(&self) -> Option<&str> {
        match self {
            AgentConfig::Url(_) => None,
            AgentConfig::Entry(entry) => entry.token_env.as_deref(),
        }
    }
}

impl From<&str> for AgentConfig {
    fn from(url: &str) -> Self {
        AgentConfig::Url(url.to_owned())
    }
}

impl From<String> for AgentConfig {
    fn from(url: String) -> Self {
        AgentConfig::Url(url)
    }
}

impl<'de> Deserialize<'de> for AgentConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AgentVisitor;

        impl<'de> Visitor<'de> for AgentVisitor {
            type Value = AgentConfig;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"an agent URL, or {"url": ..., "token_env": ...}"#)
            }

            fn visit_str<E: de::Error>(self, url: &str) -> Result<AgentConfig, E> {
                Ok(AgentConfig::Url(url.to_owned()))
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<AgentConfig, M::Error> {
                AgentEntry::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(AgentConfig::Entry)
            }
        }

        deserializer.deserialize_any(AgentVisitor)
    }
}

/// Whether `name` can be an environment variable's name: letters, digits and
/// `_`, not starting with a digit.
pub fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Why an agent's token could not be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("agents.{region}.token_env: environment variable {variable} is not set (or empty); it must hold the token of the agent at {url}")]
pub struct MissingToken {
    /// The region whose entry names the variable.
    pub region: String,
    /// The variable.
    pub variable: String,
    /// The agent.
    pub url: String,
}

/// The token of every agent whose entry names a `token_env`, keyed by the
/// agent's URL, read through `lookup` (the process environment, for the CLI).
///
/// # Errors
/// The first entry whose variable is unset or empty.
pub fn tokens_from(
    agents: &BTreeMap<String, AgentConfig>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, MissingToken> {
    let mut tokens = BTreeMap::new();
    for (region, agent) in agents {
        let Some(variable) = agent.token_env() else {
            continue;
        };
        match lookup(variable).filter(|t| !t.is_empty()) {
            Some(token) => {
                tokens.insert(agent.url().to_owned(), token);
            }
            None => {
                return Err(MissingToken {
                    region: region.clone(),
                    variable: variable.to_owned(),
                    url: agent.url().to_owned(),
                })
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_a_url_or_an_object_and_unknown_fields_are_refused() {
        let url: AgentConfig = serde_json::from_str(r#""http://10.0.0.2:8474""#).unwrap();
        assert_eq!(url, AgentConfig::Url("http://10.0.0.2:8474".into()));
        assert_eq!(url.token_env(), None);
        let entry: AgentConfig =
            serde_json::from_str(r#"{"url": "http://a:1", "token_env": "T_A"}"#).unwrap();
        assert_eq!(entry.url(), "http://a:1");
        assert_eq!(entry.token_env(), Some("T_A"));
        let typo = serde_json::from_str::<AgentConfig>(r#"{"url": "http://a:1", "token": "x"}"#)
            .unwrap_err()
            .to_string();
        assert!(typo.contains("unknown field `token`"), "{typo}");
        let number = serde_json::from_str::<AgentConfig>("7")
            .unwrap_err()
            .to_string();
        assert!(number.contains("an agent URL"), "{number}");
        // Both forms serialize back as written.
        assert_eq!(
            serde_json::to_string(&url).unwrap(),
            r#""http://10.0.0.2:8474""#
        );
        assert_eq!(
            serde_json::to_string(&entry).unwrap(),
            r#"{"url":"http://a:1","token_env":"T_A"}"#
        );
    }

    #[test]
    fn tokens_come_from_the_named_variables_and_a_missing_one_is_named() {
        let agents: BTreeMap<String, AgentConfig> = [
            ("eu-west".to_owned(), AgentConfig::Url("http://b:1".into())),
            (
                "us-east".to_owned(),
                AgentConfig::Entry(AgentEntry {
                    url: "http://a:1".into(),
                    token_env: Some("T_A".into()),
                }),
            ),
        ]
        .into();
        let tokens = tokens_from(&agents, |v| (v == "T_A").then(|| "s3cret".to_owned())).unwrap();
        assert_eq!(tokens.get("http://a:1").map(String::as_str), Some("s3cret"));
        assert_eq!(tokens.len(), 1);
        let err = tokens_from(&agents, |_| Some(String::new())).unwrap_err();
        assert_eq!(err.region, "us-east");
        assert!(err
            .to_string()
            .starts_with("agents.us-east.token_env: environment variable T_A"));
    }

    #[test]
    fn env_names_are_letters_digits_and_underscores() {
        assert!(is_env_name("FAULTLINE_TOKEN_EU_WEST"));
        assert!(is_env_name("_x1"));
        assert!(!is_env_name("1X"));
        assert!(!is_env_name("A-B"));
        assert!(!is_env_name(""));
    }
}
