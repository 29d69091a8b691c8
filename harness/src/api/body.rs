//! Request bodies: read whole, never more than [`MAX_BODY_BYTES`].

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Incoming};
use hyper::{header, Request};

use super::error::ApiError;

/// The largest request body the API reads (1 MiB); larger ones get 413.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Reads the request's body, refusing one larger than [`MAX_BODY_BYTES`].
///
/// # Errors
/// [`ApiError::PayloadTooLarge`] when the body (or its announced length) is
/// over the limit; [`ApiError::BadRequest`] when the client breaks off.
pub async fn read(request: Request<Incoming>) -> Result<Bytes, ApiError> {
    let too_large = ApiError::PayloadTooLarge {
        limit: MAX_BODY_BYTES,
    };
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large);
    }
    let body = request.into_body();
    if body.size_hint().lower() > MAX_BODY_BYTES as u64 {
        return Err(too_large);
    }
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err)
            if err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large)
        }
        Err(err) => Err(ApiError::BadRequest(format!("bad request body: {err}"))),
    }
}
