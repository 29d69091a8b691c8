//! The body of every error answer, Toxiproxy's shape: what the server
//! writes and the client reads back into its error, and [`Toxiproxy`], the
//! cases Toxiproxy 2.12 itself answers with their exact texts.

use hyper::StatusCode;
use serde::{Deserialize, Serialize};

/// The JSON body of every error response (Toxiproxy's shape, plus `detail`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Toxiproxy's text for the case where it has one, else faultline's message.
    pub error: String,
    /// The HTTP status, repeated.
    pub status: u16,
    /// faultline's full message: the name, the field path, the known types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The errors Toxiproxy 2.12 itself answers (its `api.go`,
/// `toxic_collection.go` and `proxy_collection.go`), each with its exact text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Toxiproxy {
    /// `bad request body: <the decoder's message>` (400).
    BadRequestBody(String),
    /// `missing required field: <field>` (400); in `/populate`,
    /// `<field> at proxy <1-based index>`.
    MissingField(String),
    /// `proxy not found` (404).
    ProxyNotFound,
    /// `proxy already exists` (409).
    ProxyAlreadyExists,
    /// `stream was invalid, can be either upstream or downstream` (400).
    InvalidStream,
    /// `invalid toxic type` (400).
    InvalidToxicType,
    /// `toxic already exists` (409).
    ToxicAlreadyExists,
    /// `toxic not found` (404).
    ToxicNotFound,
    /// `User agent not allowed` (403).
    UserAgentNotAllowed,
    /// Go's own bind error, `listen tcp <address>: bind: address already in use`
    /// (Toxiproxy answers it with 500; faultline with 409).
    AddressInUse(String),
    /// gorilla/mux's `404 page not found` for a path no route matches.
    PageNotFound,
}

impl Toxiproxy {
    /// Toxiproxy's exact text.
    pub fn text(&self) -> String {
        match self {
            Toxiproxy::BadRequestBody(message) => format!("bad request body: {message}"),
            Toxiproxy::MissingField(field) => format!("missing required field: {field}"),
            Toxiproxy::ProxyNotFound => "proxy not found".into(),
            Toxiproxy::ProxyAlreadyExists => "proxy already exists".into(),
            Toxiproxy::InvalidStream => {
                "stream was invalid, can be either upstream or downstream".into()
            }
            Toxiproxy::InvalidToxicType => "invalid toxic type".into(),
            Toxiproxy::ToxicAlreadyExists => "toxic already exists".into(),
            Toxiproxy::ToxicNotFound => "toxic not found".into(),
            Toxiproxy::UserAgentNotAllowed => "User agent not allowed".into(),
            Toxiproxy::AddressInUse(address) => {
                format!("listen tcp {address}: bind: address already in use")
            }
            Toxiproxy::PageNotFound => "404 page not found".into(),
        }
    }

    /// The HTTP status faultline answers the case with.
    pub fn status(&self) -> StatusCode {
        match self {
            Toxiproxy::BadRequestBody(_)
            | Toxiproxy::MissingField(_)
            | Toxiproxy::InvalidStream
            | Toxiproxy::InvalidToxicType => StatusCode::BAD_REQUEST,
            Toxiproxy::ProxyNotFound | Toxiproxy::ToxicNotFound | Toxiproxy::PageNotFound => {
                StatusCode::NOT_FOUND
            }
            Toxiproxy::ProxyAlreadyExists
            | Toxiproxy::ToxicAlreadyExists
            | Toxiproxy::AddressInUse(_) => StatusCode::CONFLICT,
            Toxiproxy::UserAgentNotAllowed => StatusCode::FORBIDDEN,
        }
    }
}
