//! Who may drive the API (DESIGN §4).
//!
//! - A request whose User-Agent starts with `Mozilla/` is a browser: 403, as in
//!   Toxiproxy, so a web page cannot drive the API through the user's browser.
//! - With a token, every mutating request (anything but GET, HEAD, OPTIONS)
//!   must carry `Authorization: Bearer <token>`: 401 otherwise.
//! - Bound to anything but loopback, the API refuses to start without a token.

use std::net::IpAddr;

use hyper::{header, HeaderMap, Method};

use super::error::ApiError;

/// The environment variable `faultline serve` and `faultline fault` read the token from.
pub const TOKEN_ENV: &str = "FAULTLINE_TOKEN";

/// Refuses browsers, and mutating requests without the token when there is one.
///
/// # Errors
/// [`ApiError::forbidden`] for a browser; [`ApiError::Unauthorized`] for a
/// mutating request without the right bearer token.
pub fn check(method: &Method, headers: &HeaderMap, token: Option<&str>) -> Result<(), ApiError> {
    let user_agent = headers
        .get(header::USER_AGENT)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if user_agent.starts_with(b"Mozilla/") {
        return Err(ApiError::forbidden());
    }
    let Some(token) = token else { return Ok(()) };
    if !is_mutating(method) {
        return Ok(());
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(presented) if same(presented.as_bytes(), token.as_bytes()) => Ok(()),
        _ => Err(ApiError::Unauthorized),
    }
}

/// True for methods that change state.
pub fn is_mutating(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Compares without stopping at the first difference, so the time taken does
/// not tell an attacker how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, byte) in a.iter().enumerate() {
        diff |= usize::from(byte ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

/// Why the API may not listen where it was asked to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refusing to serve the API on {address} without a token: anyone who can reach it could inject faults; \
     pass --token or set {TOKEN_ENV}, or listen on loopback (127.0.0.1)"
)]
pub struct ExposureError {
    /// The non-loopback address asked for.
    pub address: IpAddr,
}

/// Checks the exposure rule before anything binds: a non-loopback address
/// needs a non-empty token.
///
/// # Errors
/// [`ExposureError`] for a non-loopback address without a token.
pub fn check_exposure(address: IpAddr, token: Option<&str>) -> Result<(), ExposureError> {
    if address.is_loopback() || token.is_some_and(|t| !t.is_empty()) {
        Ok(())
    } else {
        Err(ExposureError { address })
    }
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn browsers_are_refused_even_for_reads() {
        let h = headers(&[(header::USER_AGENT, "Mozilla/5.0 (X11; Linux x86_64)")]);
        assert_eq!(check(&Method::GET, &h, None), Err(ApiError::forbidden()));
    }

    #[test]
    fn a_token_is_needed_to_mutate_but_not_to_read() {
        let none = headers(&[]);
        assert_eq!(check(&Method::GET, &none, Some("s3cret")), Ok(()));
        assert_eq!(
            check(&Method::POST, &none, Some("s3cret")),
            Err(ApiError::Unauthorized)
        );
        let wrong = headers(&[(header::AUTHORIZATION, "Bearer s3cre")]);
        assert_eq!(
            check(&Method::DELETE, &wrong, Some("s3cret")),
            Err(ApiError::Unauthorized)
        );
        let right = headers(&[(header::AUTHORIZATION, "Bearer s3cret")]);
        assert_eq!(check(&Method::PATCH, &right, Some("s3cret")), Ok(()));
    }

    #[test]
    fn only_loopback_may_go_without_a_token() {
        assert!(check_exposure("127.0.0.1".parse().unwrap(), None).is_ok());
        assert!(check_exposure("::1".parse().unwrap(), None).is_ok());
        assert!(check_exposure("0.0.0.0".parse().unwrap(), None).is_err());
        assert!(check_exposure("0.0.0.0".parse().unwrap(), Some("")).is_err());
        assert!(check_exposure("0.0.0.0".parse().unwrap(), Some("t")).is_ok());
    }
}
