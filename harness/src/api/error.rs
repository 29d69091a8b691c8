//! API errors, and the one place where each becomes an HTTP status.
//!
//! Every failure a handler can meet is an [`ApiError`]; [`ApiError::status`]
//! is the only mapping from meaning to status code, and
//! [`ApiError::into_response`] the only place an error body is written:
//! `{"error": "...", "status": N, "detail": "..."}`, Toxiproxy's shape plus
//! one field. `error` is Toxiproxy 2.12's own text for each case Toxiproxy
//! has ([`Toxiproxy`]: `proxy not found`, `missing required field: name`, …),
//! so clients that match on it work; `detail` is faultline's full message
//! (the name, the field path, the known types), always present.

use std::io;

use bytes::Bytes;
use faultline_proxies::{FaultError, ProxyError, RegistryError};
use http_body_util::Full;
use hyper::{header, Response, StatusCode};

pub use crate::wire::error::{ErrorBody, Toxiproxy};
use crate::wire::ShapeError;

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// A case Toxiproxy has: its text goes in `error`, faultline's message
    /// (what this error displays) in `detail`.
    #[error("{detail}")]
    Toxiproxy {
        /// Which of Toxiproxy's errors.
        known: Toxiproxy,
        /// faultline's message.
        detail: String,
    },
    /// The body, a field or a path segment is not acceptable.
    #[error("{0}")]
    BadRequest(String),
    /// A mutating request without the right bearer token.
    #[error("missing or wrong bearer token: send `Authorization: Bearer <token>`")]
    Unauthorized,
    /// No proxy, toxic or route of that name.
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not for this method.
    #[error("method {method} not allowed here; allowed: {allow}")]
    MethodNotAllowed {
        /// The method asked for.
        method: String,
        /// The methods the route answers, comma-separated.
        allow: &'static str,
    },
    /// A proxy or toxic of that name exists, or the listen address is taken.
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than the limit.
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// faultline itself failed.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of this error: the single mapping of the API.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Toxiproxy { known, .. } => known.status(),
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The same error with `prefix: ` before its message (status unchanged).
    pub fn context(self, prefix: &str) -> Self {
        let with = |message: String| format!("{prefix}: {message}");
        match self {
            ApiError::Toxiproxy { known, detail } => ApiError::Toxiproxy {
                known,
                detail: with(detail),
            },
            ApiError::BadRequest(m) => ApiError::BadRequest(with(m)),
            ApiError::NotFound(m) => ApiError::NotFound(with(m)),
            ApiError::Conflict(m) => ApiError::Conflict(with(m)),
            ApiError::Internal(m) => ApiError::Internal(with(m)),
            other => other,
        }
    }

    /// One of Toxiproxy's errors, with faultline's message as its detail.
    pub fn toxiproxy(known: Toxiproxy, detail: impl Into<String>) -> Self {
        ApiError::Toxiproxy {
            known,
            detail: detail.into(),
        }
    }

    /// A browser asked (a web page must not drive the API).
    pub fn forbidden() -> Self {
        Self::toxiproxy(
            Toxiproxy::UserAgentNotAllowed,
            "User agent not allowed: browsers may not drive the faultline API",
        )
    }

    /// A path no route matches.
    pub fn no_route(path: &str) -> Self {
        Self::toxiproxy(Toxiproxy::PageNotFound, format!("no such route: {path}"))
    }

    /// The error as its JSON body.
    pub fn body(&self) -> ErrorBody {
        let detail = self.to_string();
        let error = match self {
            ApiError::Toxiproxy { known, .. } => known.text(),
            _ => detail.clone(),
        };
        ErrorBody {
            error,
            status: self.status().as_u16(),
            detail: Some(detail),
        }
    }

    /// The error as an HTTP response.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let status = self.status();
        let body = serde_json::to_vec(&self.body()).unwrap_or_else(|_| b"{}".to_vec());
        let mut builder = Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/json");
        match &self {
            ApiError::MethodNotAllowed { allow, .. } => {
                builder = builder.header(header::ALLOW, *allow)
            }
            ApiError::Unauthorized => builder = builder.header(header::WWW_AUTHENTICATE, "Bearer"),
            _ => {}
        }
        builder
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_else(|_| {
                // Only a malformed header value can fail the builder; ours are constants.
                let mut response = Response::new(Full::new(Bytes::new()));
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                response
            })
    }
}

impl From<ShapeError> for ApiError {
    fn from(err: ShapeError) -> Self {
        match err.toxiproxy() {
            Some(known) => ApiError::toxiproxy(known, err.to_string()),
            None => ApiError::BadRequest(err.to_string()),
        }
    }
}

impl From<FaultError> for ApiError {
    fn from(err: FaultError) -> Self {
        ShapeError::from(err).into()
    }
}

impl From<RegistryError> for ApiError {
    fn from(err: RegistryError) -> Self {
        match err {
            RegistryError::NotFound(name) => ApiError::toxiproxy(
                Toxiproxy::ProxyNotFound,
                format!("proxy not found: {name:?}"),
            ),
            RegistryError::Exists(name) => ApiError::toxiproxy(
                Toxiproxy::ProxyAlreadyExists,
                format!("proxy already exists: {name:?}"),
            ),
            RegistryError::Proxy(err) => err.into(),
        }
    }
}

impl From<ProxyError> for ApiError {
    fn from(err: ProxyError) -> Self {
        match err {
            ProxyError::FaultExists(name) => ApiError::toxiproxy(
                Toxiproxy::ToxicAlreadyExists,
                format!("toxic already exists: {name:?}"),
            ),
            ProxyError::FaultNotFound(name) => ApiError::toxiproxy(
                Toxiproxy::ToxicNotFound,
                format!("toxic not found: {name:?}"),
            ),
            ProxyError::Fault(err) => err.into(),
            ProxyError::Bind { address, source } => bind_error(&address, &source),
        }
    }
}

/// A listen address that cannot be bound: taken (409), out of the machine's
/// resources (500), or not an address this host can listen on (400).
fn bind_error(address: &str, source: &io::Error) -> ApiError {
    let message = format!("listen: cannot listen on {address}: {source}");
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    const ENOBUFS: i32 = 105;
    const ENOMEM: i32 = 12;
    match source.kind() {
        io::ErrorKind::AddrInUse => {
            ApiError::toxiproxy(Toxiproxy::AddressInUse(address.to_owned()), message)
        }
        _ if matches!(
            source.raw_os_error(),
            Some(EMFILE | ENFILE | ENOBUFS | ENOMEM)
        ) =>
        {
            ApiError::Internal(message)
        }
        _ => ApiError::BadRequest(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_in_use_is_a_conflict_that_names_the_address() {
        let err = ApiError::from(ProxyError::Bind {
            address: "127.0.0.1:1".into(),
            source: io::Error::from(io::ErrorKind::AddrInUse),
        });
        assert_eq!(err.status(), StatusCode::CONFLICT);
        assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
    }

    #[test]
    fn running_out_of_descriptors_is_an_internal_error() {
        let err = bind_error("127.0.0.1:1", &io::Error::from_raw_os_error(24));
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn error_bodies_repeat_the_status() {
        let body = ApiError::from(RegistryError::NotFound("x".into())).body();
        assert_eq!(body.status, 404);
        assert_eq!(body.error, "proxy not found");
        assert_eq!(body.detail.as_deref(), Some("proxy not found: \"x\""));
    }
}
