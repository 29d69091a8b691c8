//! One HTTP request with a timeout, and what its outcome means for a history.
//!
//! A response whose status is accepted is `ok`; any other response, a refused
//! connection or a reset is `fail`; a timeout is `unknown` (the request may or
//! may not have taken effect).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::history::Outcome;

/// A pooled HTTP/1 client.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

/// A completed (or abandoned) request.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The status, when a response arrived.
    pub status: Option<u16>,
    /// The body parsed as JSON (`null` if empty or not JSON).
    pub body: Value,
    /// A short description: the status and an error message if any.
    pub detail: String,
    /// Whether it timed out.
    pub timed_out: bool,
}

impl Reply {
    /// The history outcome, given which statuses count as success.
    pub fn outcome(&self, is_ok: impl Fn(u16) -> bool) -> Outcome {
        match self.status {
            Some(status) if is_ok(status) => Outcome::Ok,
            Some(_) => Outcome::Fail,
            None if self.timed_out => Outcome::Unknown,
            None => Outcome::Fail,
        }
    }
}

impl HttpClient {
    /// A client with a connection pool and no idle limit.
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(30)));
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Self { inner }
    }

    /// Sends one request to `http://{address}{path}` and waits at most `timeout`.
    pub async fn send(
        &self,
        address: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &std::collections::BTreeMap<String, String>,
        timeout: Duration,
    ) -> Reply {
        let uri = format!("http://{address}{path}");
        let mut builder = Request::builder().method(method).uri(&uri);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let payload = match body {
            Some(value) => {
                builder = builder.header("content-type", "application/json");
                Bytes::from(serde_json::to_vec(value).unwrap_or_default())
            }
            None => Bytes::new(),
        };
        let request = match builder.body(Full::new(payload)) {
            Ok(request) => request,
            Err(err) => return failed(format!("bad request {method} {uri}: {err}")),
        };
        let exchange = async {
            let response = self
                .inner
                .request(request)
                .await
                .map_err(|e| describe(&e))?;
            let status = response.status().as_u16();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>((status, bytes))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Err(_) => Reply {
                status: None,
                body: Value::Null,
                detail: format!("timeout after {timeout:?}"),
                timed_out: true,
            },
            Ok(Err(message)) => failed(message),
            Ok(Ok((status, bytes))) => {
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let detail = match body.get("error").and_then(Value::as_str) {
                    Some(error) => format!("{status}: {error}"),
                    None => status.to_string(),
                };
                Reply {
                    status: Some(status),
                    body,
                    detail,
                    timed_out: false,
                }
            }
        }
    }
}

fn failed(detail: String) -> Reply {
    Reply {
        status: None,
        body: Value::Null,
        detail,
        timed_out: false,
    }
}

/// The innermost error message (hyper's outer ones say little).
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        message = inner.to_string();
        source = inner.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_is_unknown_and_a_refusal_is_a_failure() {
        let timeout = Reply {
            status: None,
            body: Value::Null,
            detail: "timeout".into(),
            timed_out: true,
        };
        assert_eq!(timeout.outcome(|_| true), Outcome::Unknown);
        let refused = failed("connection refused".into());
        assert_eq!(refused.outcome(|_| true), Outcome::Fail);
        let served = Reply {
            status: Some(503),
            body: Value::Null,
            detail: "503".into(),
            timed_out: false,
        };
        assert_eq!(served.outcome(|s| s == 200), Outcome::Fail);
        assert_eq!(served.outcome(|s| s == 503), Outcome::Ok);
    }

    #[tokio::test]
    async fn a_refused_connection_fails_fast() {
        let unused = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let reply = HttpClient::new()
            .send(
                &unused.to_string(),
                "GET",
                "/",
                None,
                &Default::default(),
                Duration::from_secs(5),
            )
            .await;
        assert_eq!(reply.outcome(|_| true), Outcome::Fail);
        assert!(!reply.timed_out);
    }
}
