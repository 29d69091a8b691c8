//! A small client of the API: what `faultline fault` and remote agents use.
//!
//! It speaks plain HTTP/1 (hyper-util's pooled client), sends the bearer
//! token when it has one, and turns error answers into [`ClientError::Api`]
//! with the server's message.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{header, Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::ErrorBody;
use super::links::{LinkJson, RegionJson};
use super::shapes::{PopulateJson, ProxyConfig, ProxyJson, ToxicConfig, ToxicJson};

/// The API's address when none is given.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8474";

/// The environment variable naming the API's address.
pub const URL_ENV: &str = "FAULTLINE_URL";

/// How long one request may take, connecting included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest answer the client reads.
const MAX_ANSWER_BYTES: usize = 64 << 20;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL is unusable.
    #[error("bad API URL {url:?}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Nothing answered (refused, unreachable, timed out, or the connection broke).
    #[error("cannot reach the faultline API at {url}: {reason}")]
    Unreachable {
        /// The URL asked.
        url: String,
        /// What happened, with its cause chain.
        reason: String,
    },
    /// The server answered with an error.
    #[error("{message} (HTTP {})", .status.as_u16())]
    Api {
        /// The status.
        status: StatusCode,
        /// The server's message.
        message: String,
    },
    /// The server answered something this client does not understand.
    #[error("unexpected answer from {url}: {reason}")]
    Protocol {
        /// The URL asked.
        url: String,
        /// What is wrong with the answer.
        reason: String,
    },
}

/// A client of one API server.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    token: Option<String>,
    http: Client<HttpConnector, Full<Bytes>>,
    lease: Option<String>,
}

impl ApiClient {
    /// A client of the API at `url` (`http://host:port`), sending `token` as a
    /// bearer token when given.
    ///
    /// # Errors
    /// [`ClientError::Url`] for a URL that is not `http://host[:port][/prefix]`.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, ClientError> {
        let bad = |reason: &str| ClientError::Url {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(_) => return Err(bad("only http:// is supported")),
            None => return Err(bad("expected http://host:port")),
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if uri.query().is_some() {
            return Err(bad("a query string is not allowed"));
        }
        let base = format!("http://{authority}{}", uri.path().trim_end_matches('/'));
        let http = Client::builder(TokioExecutor::new()).build_http();
        Ok(Self {
            base,
            token: token.filter(|t| !t.is_empty()),
            http,
            lease: None,
        })
    }

    /// The same client, sending `X-Faultline-Lease: <lease>` with every
    /// request, so what it creates is covered by that lease.
    pub fn with_lease(mut self, lease: impl Into<String>) -> Self {
        self.lease = Some(lease.into());
        self
    }

    /// `POST /faultline/leases`: a new lease of `ttl` (the agent's default when `None`).
    ///
    /// # Errors
    /// As [`ApiClient::version`]; 404 from an agent without leases (Toxiproxy).
    pub async fn create_lease(
        &self,
        holder: &str,
        ttl: Option<Duration>,
    ) -> Result<super::leases::LeaseJson, ClientError> {
        let body = super::leases::LeaseConfig {
            holder: Some(holder.to_owned()),
            ttl,
        };
        self.json(Method::POST, "/faultline/leases", Some(&body))
            .await
    }

    /// `POST /faultline/leases/{id}`: renews it.
    ///
    /// # Errors
    /// As [`ApiClient::version`]; 404 once it lapsed.
    pub async fn renew_lease(&self, id: &str) -> Result<super::leases::LeaseJson, ClientError> {
        self.json(
            Method::POST,
            &format!("/faultline/leases/{}", encode(id)),
            None::<&()>,
        )
        .await
    }

    /// `DELETE /faultline/leases/{id}`: ends it; the agent heals what it covers.
    ///
    /// # Errors
    /// As [`ApiClient::version`]; 404 once it lapsed or ended.
    pub async fn end_lease(&self, id: &str) -> Result<(), ClientError> {
        self.send(
            Method::DELETE,
            &format!("/faultline/leases/{}", encode(id)),
            None,
        )
        .await?;
        Ok(())
    }

    /// `GET /faultline/leases`.
    ///
    /// # Errors
    /// As [`ApiClient::version`].
    pub async fn leases(&self) -> Result<Vec<super::leases::LeaseJson>, ClientError> {
        self.json(Method::GET, "/faultline/leases", None::<&()>)
            .await
    }

    /// The base URL requests go to.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// `GET /version`: the raw body.
    ///
    /// # Errors
    /// As every call: unreachable, an error answer, or an unreadable answer.
    pub async fn version(&self) -> Result<String, ClientError> {
        let body = self.send(Method::GET, "/version", None).await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// `GET /proxies`.
    ///
    /// # Errors
    /// As [`ApiClient::version`].
    pub async fn proxies(&self) -> Result<BTreeMap<String, ProxyJson>, ClientError> {
        self.json(Method::GET, "/proxies", None::<&()>).await
    }

    /// `GET /proxies/{name}`.
    ///
    /// # Errors
    /// As [`ApiClient::version`]; 404 for an unknown proxy.
    pub async fn proxy(&self, name: &str) -> Result<ProxyJson, ClientError> {
        self.json(
            Method::GET,
            &format!("/proxies/{}", encode(name)),
            None::<&()>,
        )
        .await
    }

    /// `POST /proxies`.
    ///
    /// # Errors
    /// As [`ApiClient::version`]; 409 for a duplicate name or a listen address in use.
    pub async fn create_proxy(&self, proxy: &ProxyConfig) -> Result<ProxyJson, ClientError> {
        self.json(Method::POST, "/proxies", Some(proxy)).await
    }

    /// `PATCH /proxies/{name}`: a partial update.
    ///
    /// # Errors
    /// As [`ApiClient::version`].
    pub async fn update_proxy(
        &self,
        name: &str,
        update: &ProxyConfig,
    ) -> Result<ProxyJson, ClientError> {
        self.json(
            Method::PATCH,
            &format!("/proxies/{}", encode(name)),
            Some(update),
        )
        .await
    }

    /// `DELETE /proxies/{name}`.
    ///
    /// # Errors
    /// As [`ApiClient::version`].
    pub async fn delete_proxy(&self, name: &str) -> Result<(), ClientError> {
        self.send(Method::DELETE, &format!("/proxies/{}", encode(name)), None)
            .await
            .map(drop)
    }

    /// `POST /populate`.
    ///
    /// # Errors
    /// As [`ApiClient::version`].
    pub async fn populate(&self, proxies: &[ProxyConfig]) -> Result<Vec<ProxyJson>, ClientError> {
        let answer: PopulateJson = self.json(Method::POST, "/populate", Some(&proxies)).await?;
        Ok(answer.proxies)
    }

    /// `GET /proxies/{proxy}/toxics`.
    ///
    /// # Errors
    /// As [`ApiClient::version`].
    pub async fn toxics(&self, proxy: &str) -> Result<Vec<ToxicJson>, ClientError> {
        self.json(
            Method::GET,
            &format!("/proxies/{}/toxics", encode(proxy)),
            None::<&()>,
        )
        .await
    }

    /// `POST /proxies/{proxy}/toxics`.
    ///
    /// # Errors
    /// As [`ApiClient::version`]; 400 naming the field for an invalid toxic.
    pub async fn add_toxic(
        &self,
        proxy: &str,
        toxic: &ToxicConfig,
    ) -> Result<ToxicJson, ClientError> {
        self.json(
            Method::POST,
            &format!("/proxies/{}/toxics", encode(proxy)),
            Some(toxic),
        )
        .await
    }

    /// `PATCH /proxies/{proxy}/toxics/{toxic}`: a partial update.
    ///
    /// # Errors
    /// As [`ApiClient::add_toxic`].
    pub async fn update_toxic(
        &self,
        proxy: &str,
        toxic: &str,
        update: &ToxicConfig,
    ) -> Result<ToxicJson, ClientError> {
        let path = format!("/proxies/{}/toxics/{}", encode(proxy), encode(toxic));
        self.json(Method::PATCH, &path, Some(update)).await
    }

    /// `DELETE /proxies/{proxy}/toxics/{toxic}`.
    ///
    /// # Errors
    /// As [`ApiClient::version`].
    pub async fn remove_toxic(&self, proxy: &str, toxic: &str) -> Result<(), ClientError> {
        let path = format!("/proxies/{}/toxics/{}", encode(proxy), encode(toxic));
        self.send(Method::DELETE, &path, None).await.map(drop)
    }

    /// `POST /reset`.
    ///
    /// # Errors
    /// As [`ApiClient::version`].
    pub async fn reset(&self) -> Result<(), ClientError> {
        self.send(Method::POST, "/reset", None).await.map(drop)
    }

    /// `GET /faultline/links`: the proxies named `FROM->TO:SERVICE`, in link-id order.
    ///
    /// # Errors
    /// As [`ApiClient::version`].
    pub async fn links(&self) -> Result<Vec<LinkJson>, ClientError> {
        self.json(Method::GET, "/faultline/links", None::<&()>)
            .await
    }

    /// `GET /faultline/regions`: every region a link names, sorted.
    ///
    /// # Errors
    /// As [`ApiClient::version`].
    pub async fn regions(&self) -> Result<Vec<RegionJson>, ClientError> {
        self.json(Method::GET, "/faultline/regions", None::<&()>)
            .await
    }

    /// `POST /faultline/schedules`: starts a schedule (`{"schedule": […],
    /// "seed": N, "duration": "…"}`) on the server's links.
    ///
    /// # Errors
    /// As [`ApiClient::version`]; 400 naming the field path for a bad body,
    /// 409 when the server runs too many schedules or its links cannot take one.
    pub async fn start_schedule<B: Serialize + ?Sized>(
        &self,
        body: &B,
    ) -> Result<StartedSchedule, ClientError> {
        self.json(Method::POST, "/faultline/schedules", Some(body))
            .await
    }

    /// `GET /faultline/schedules`: the schedules remembered, oldest first.
    ///
    /// # Errors
    /// As [`ApiClient::version`].
    pub async fn schedules(&self) -> Result<Vec<ScheduleEntry>, ClientError> {
        self.json(Method::GET, "/faultline/schedules", None::<&()>)
            .await
    }

    /// `GET /faultline/schedules/{id}`.
    ///
    /// # Errors
    /// As [`ApiClient::version`]; 404 for an unknown id.
    pub async fn schedule(&self, id: &str) -> Result<ScheduleDetail, ClientError> {
        self.json(
            Method::GET,
            &format!("/faultline/schedules/{}", encode(id)),
            None::<&()>,
        )
        .await
    }

    /// `DELETE /faultline/schedules/{id}`: cancels a running schedule; the
    /// server answers once every fault it applied is removed.
    ///
    /// # Errors
    /// As [`ApiClient::version`]; 404 for an unknown id.
    pub async fn cancel_schedule(&self, id: &str) -> Result<(), ClientError> {
        let path = format!("/faultline/schedules/{}", encode(id));
        self.send(Method::DELETE, &path, None).await.map(drop)
    }

    async fn json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let body =
            body.map(serde_json::to_vec)
                .transpose()
                .map_err(|err| ClientError::Protocol {
                    url: self.base.clone(),
                    reason: err.to_string(),
                })?;
        let answer = self.send(method, path, body).await?;
        serde_json::from_slice(&answer).map_err(|err| ClientError::Protocol {
            url: format!("{}{path}", self.base),
            reason: format!("cannot decode the answer: {err}"),
        })
    }

    /// Sends one request; a 2xx answer's body, or the error.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, ClientError> {
        let url = format!("{}{path}", self.base);
        let unreachable = |reason: String| ClientError::Unreachable {
            url: url.clone(),
            reason,
        };
        let mut request = Request::builder().method(method).uri(&url).header(
            header::USER_AGENT,
            concat!("faultline/", env!("CARGO_PKG_VERSION")),
        );
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(lease) = &self.lease {
            request = request.header(super::leases::LEASE_HEADER, lease.as_str());
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|err| ClientError::Url {
                url: url.clone(),
                reason: err.to_string(),
            })?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|err| unreachable(chain(&err)))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|err| unreachable(format!("the answer broke off: {err}")))?
                .to_bytes();
            Ok::<_, ClientError>((status, body))
        };
        let (status, body) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| unreachable(format!("no answer within {REQUEST_TIMEOUT:?}")))??;
        if status.is_success() {
            return Ok(body);
        }
        // faultline's detail when the server sends one (Toxiproxy's text otherwise).
        let message = serde_json::from_slice::<ErrorBody>(&body)
            .map(|e| e.detail.unwrap_or(e.error))
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).trim().to_owned());
        Err(ClientError::Api { status, message })
    }
}

/// The answer to `POST /faultline/schedules`: the id and the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartedSchedule {
    /// The schedule's id (`sched-1`).
    pub id: String,
    /// One row per proxy fault change.
    pub plan: Vec<PlannedRow>,
}

/// One planned proxy fault change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedRow {
    /// When, in milliseconds after the start.
    pub at_ms: f64,
    /// The schedule step.
    pub step: u32,
    /// Which activation of the step (a flap's cycle, a nemesis draw), if several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<u32>,
    /// `start`, `update` or `end` of the step's fault.
    pub action: String,
    /// The link changed.
    pub link: String,
    /// `add`, `update` or `remove`.
    pub op: String,
    /// The toxic (for a removal, the one removed).
    pub fault: ToxicJson,
}

/// Where a schedule is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleState {
    /// Being played.
    Running,
    /// Ran to its end and was healed.
    Finished,
    /// Cancelled (DELETE or the server stopping) and healed.
    Cancelled,
    /// A change failed; what it had applied was healed.
    Failed,
}

impl ScheduleState {
    /// The state as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleState::Running => "running",
            ScheduleState::Finished => "finished",
            ScheduleState::Cancelled => "cancelled",
            ScheduleState::Failed => "failed",
        }
    }
}

/// One schedule of `GET /faultline/schedules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleEntry {
    /// Its id.
    pub id: String,
    /// Its state.
    pub state: ScheduleState,
    /// When it started (RFC 3339).
    pub started_at: String,
}

/// One schedule of `GET /faultline/schedules/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleDetail {
    /// Its id.
    pub id: String,
    /// Its state.
    pub state: ScheduleState,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// Every entry applied so far.
    pub changes: Vec<AppliedRow>,
    /// What failed, if anything did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One timeline entry as the server applied it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedRow {
    /// The schedule step.
    pub step: u32,
    /// Which activation of the step, if several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<u32>,
    /// `start`, `update` or `end`.
    pub action: String,
    /// The links it changed.
    pub links: Vec<String>,
    /// When it was due, in milliseconds after the start.
    pub planned_ms: f64,
    /// When it was applied, in milliseconds after the start.
    pub actual_ms: f64,
}

/// An error and its causes, `: `-separated.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Percent-encodes a path segment (everything but unreserved characters).
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_plain_http() {
        assert!(ApiClient::new("http://127.0.0.1:8474", None).is_ok());
        assert_eq!(
            ApiClient::new("http://127.0.0.1:8474/", None)
                .unwrap()
                .url(),
            "http://127.0.0.1:8474"
        );
        assert!(ApiClient::new("https://127.0.0.1:8474", None).is_err());
        assert!(ApiClient::new("127.0.0.1:8474", None).is_err());
        assert!(ApiClient::new("not a url", None).is_err());
    }

    #[test]
    fn names_are_percent_encoded() {
        assert_eq!(encode("my db/1"), "my%20db%2F1");
        assert_eq!(encode("redis_primary-1.x"), "redis_primary-1.x");
    }
}
