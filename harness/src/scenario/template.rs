//! Placeholders in the commands (and environment) of spawned services.
//!
//! A spawned service learns its own address and the addresses of the proxies
//! it must use through placeholders, so a region's service reaches another
//! region only through a link:
//!
//! | placeholder | becomes |
//! |---|---|
//! | `{listen}` | the `host:port` the service must listen on |
//! | `{host}`, `{port}` | the two halves of `{listen}` |
//! | `{region}` | the service's region |
//! | `{service}` | the service's name |
//! | `{link:FROM->TO:SERVICE}` | the `host:port` of that link's proxy |
//! | `{link_host:FROM->TO:SERVICE}`, `{link_port:…}` | its two halves (for programs that take them apart, `redis-server --replicaof HOST PORT`) |
//! | `{addr}` | client commands only: the `host:port` of the region's instance the client calls |
//!
//! `{{` and `}}` stand for literal braces. Every `{link:…}` must name a link
//! the scenario declares; that is checked before anything starts.

use std::fmt;

use super::link::LinkId;

/// One placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placeholder {
    /// `{listen}`: the address the service listens on.
    Listen,
    /// `{host}`: the host of `{listen}`.
    Host,
    /// `{port}`: the port of `{listen}`.
    Port,
    /// `{region}`: the service's region.
    Region,
    /// `{service}`: the service's name.
    Service,
    /// `{link:FROM->TO:SERVICE}`: the proxy address of a link.
    Link(LinkId),
    /// `{link_host:FROM->TO:SERVICE}`: the host of a link's proxy address.
    LinkHost(LinkId),
    /// `{link_port:FROM->TO:SERVICE}`: the port of a link's proxy address.
    LinkPort(LinkId),
    /// `{addr}`: in a client command, the address of the instance it calls.
    Addr,
}

impl Placeholder {
    /// The link a `{link…:…}` placeholder names.
    pub fn link(&self) -> Option<&LinkId> {
        match self {
            Placeholder::Link(link) | Placeholder::LinkHost(link) | Placeholder::LinkPort(link) => {
                Some(link)
            }
            _ => None,
        }
    }
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Placeholder::Listen => f.write_str("{listen}"),
            Placeholder::Host => f.write_str("{host}"),
            Placeholder::Port => f.write_str("{port}"),
            Placeholder::Region => f.write_str("{region}"),
            Placeholder::Service => f.write_str("{service}"),
            Placeholder::Link(link) => write!(f, "{{link:{link}}}"),
            Placeholder::LinkHost(link) => write!(f, "{{link_host:{link}}}"),
            Placeholder::LinkPort(link) => write!(f, "{{link_port:{link}}}"),
            Placeholder::Addr => f.write_str("{addr}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Placeholder(Placeholder),
}

/// A string with placeholders, parsed once at validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text`.
    ///
    /// # Errors
    /// An unclosed or stray brace, an unknown placeholder, or a `{link:…}`
    /// that is not `FROM->TO:SERVICE`; the message says which.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(index) = rest.find(['{', '}']) {
            literal.push_str(&rest[..index]);
            let brace = &rest[index..];
            if brace.starts_with("{{") || brace.starts_with("}}") {
                literal.push_str(&brace[..1]);
                rest = &brace[2..];
                continue;
            }
            if brace.starts_with('}') {
                return Err(format!(
                    "a stray \"}}\" in {text:?} (write \"}}}}\" for a literal brace)"
                ));
            }
            let Some(end) = brace.find('}') else {
                return Err(format!(
                    "an unclosed \"{{\" in {text:?} (write \"{{{{\" for a literal brace)"
                ));
            };
            let name = &brace[1..end];
            let placeholder = match name {
                "listen" => Placeholder::Listen,
                "host" => Placeholder::Host,
                "port" => Placeholder::Port,
                "region" => Placeholder::Region,
                "service" => Placeholder::Service,
                "addr" => Placeholder::Addr,
                _ => {
                    let link = |kind: fn(LinkId) -> Placeholder, id: &str| {
                        id.parse().map(kind).map_err(|e| format!("{{{name}}}: {e}"))
                    };
                    if let Some(id) = name.strip_prefix("link:") {
                        link(Placeholder::Link, id)?
                    } else if let Some(id) = name.strip_prefix("link_host:") {
                        link(Placeholder::LinkHost, id)?
                    } else if let Some(id) = name.strip_prefix("link_port:") {
                        link(Placeholder::LinkPort, id)?
                    } else {
                        return Err(format!(
                            "unknown placeholder {{{name}}} (known: {{listen}}, {{host}}, {{port}}, {{region}}, {{service}}, {{link:FROM->TO:SERVICE}}, {{link_host:…}}, {{link_port:…}}, and {{addr}} in client commands)"
                        ));
                    }
                }
            };
            if !literal.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut literal)));
            }
            parts.push(Part::Placeholder(placeholder));
            rest = &brace[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Self {
            text: text.to_owned(),
            parts,
        })
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The placeholders, in order.
    pub fn placeholders(&self) -> impl Iterator<Item = &Placeholder> {
        self.parts.iter().filter_map(|part| match part {
            Part::Placeholder(placeholder) => Some(placeholder),
            Part::Text(_) => None,
        })
    }

    /// The text with every placeholder replaced by `value(placeholder)`.
    pub fn render(&self, mut value: impl FnMut(&Placeholder) -> String) -> String {
        let mut out = String::with_capacity(self.text.len());
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Placeholder(placeholder) => out.push_str(&value(placeholder)),
            }
        }
        out
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &str) -> String {
        Template::parse(text).unwrap().render(|p| match p {
            Placeholder::Listen => "127.0.0.1:7000".into(),
            Placeholder::Link(link) => format!("<{link}>"),
            other => format!("[{other}]"),
        })
    }

    #[test]
    fn placeholders_are_replaced_and_text_is_kept() {
        assert_eq!(render("--listen={listen}"), "--listen=127.0.0.1:7000");
        assert_eq!(
            render("eu-west={link:us-east->eu-west:inventory}"),
            "eu-west=<us-east->eu-west:inventory>"
        );
        assert_eq!(
            render("{region}/{service}:{port}"),
            "[{region}]/[{service}]:[{port}]"
        );
    }

    #[test]
    fn doubled_braces_are_literal() {
        assert_eq!(render(r#"{{"a": 1}}"#), r#"{"a": 1}"#);
        assert!(Template::parse("{{listen}}")
            .unwrap()
            .placeholders()
            .next()
            .is_none());
    }

    #[test]
    fn bad_placeholders_are_refused_with_a_reason() {
        assert!(Template::parse("{lsten}")
            .unwrap_err()
            .contains("unknown placeholder {lsten}"));
        assert!(Template::parse("{listen").unwrap_err().contains("unclosed"));
        assert!(Template::parse("listen}").unwrap_err().contains("stray"));
        assert!(Template::parse("{link:us-east:inventory}")
            .unwrap_err()
            .contains("FROM->TO:SERVICE"));
    }

    #[test]
    fn link_halves_and_addr_parse() {
        let template = Template::parse("{link_host:a->b:kv} {link_port:a->b:kv} {addr}").unwrap();
        let names: Vec<String> = template.placeholders().map(|p| p.to_string()).collect();
        assert_eq!(
            names,
            ["{link_host:a->b:kv}", "{link_port:a->b:kv}", "{addr}"]
        );
        assert!(template.placeholders().take(2).all(|p| p.link().is_some()));
        assert!(Template::parse("{link_host:a:kv}").is_err());
    }

    #[test]
    fn link_placeholders_carry_their_link() {
        let template = Template::parse("{link:a->b:kv},{link:a->c:kv}").unwrap();
        let links: Vec<String> = template.placeholders().map(|p| p.to_string()).collect();
        assert_eq!(links, ["{link:a->b:kv}", "{link:a->c:kv}"]);
    }
}
