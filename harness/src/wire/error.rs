//! The body of every error answer, Toxiproxy's shape: what the server
//! writes and the client reads back into its error.

use serde::{Deserialize, Serialize};

/// The JSON body of every error response (Toxiproxy's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, naming the field at fault.
    pub error: String,
    /// The HTTP status, repeated.
    pub status: u16,
}
