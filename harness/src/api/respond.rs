//! The replies handlers send: JSON, empty, text. Below every handler and the
//! routing table, so none of them imports another for a helper.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{header, Response, StatusCode};
use serde::Serialize;

use super::error::ApiError;

/// A JSON reply.
///
/// # Errors
/// [`ApiError::Internal`] if the value cannot be encoded.
pub fn json<T: Serialize>(
    status: StatusCode,
    value: &T,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let body = serde_json::to_vec(value)
        .map_err(|err| ApiError::Internal(format!("cannot encode the reply: {err}")))?;
    Ok(reply(status, "application/json", body.into()))
}

/// An empty 204 reply.
pub fn no_content() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// A text reply of `content_type`.
pub fn text(content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    reply(StatusCode::OK, content_type, body.into())
}

/// A reply of `status` with `body` of `content_type`.
pub fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}
