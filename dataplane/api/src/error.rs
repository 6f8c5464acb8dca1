//! Errors as the API carries them: `ApiError` (what a backend or the server's own checks
//! return: an HTTP status, a message, and the request field at fault when there is one) and
//! `ErrorBody`, its JSON form on the wire: `{ "error": "...", "field": "..." }`.
//!
//! The message is written to stand alone on an operator's terminal, so it names the field
//! itself; `field` repeats it for programs (cni-sriov, scripts) that want to react to it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// HTTP status codes the API uses, named so backends need not depend on `http`.
pub mod status {
    /// The request is malformed or a value is invalid.
    pub const BAD_REQUEST: u16 = 400;
    /// The named object (in the path or referenced by the body) does not exist.
    pub const NOT_FOUND: u16 = 404;
    /// The path exists but not with this method.
    pub const METHOD_NOT_ALLOWED: u16 = 405;
    /// The object exists already, or is in use.
    pub const CONFLICT: u16 = 409;
    /// The request body is larger than the server accepts.
    pub const PAYLOAD_TOO_LARGE: u16 = 413;
    /// The daemon failed while doing what was asked.
    pub const INTERNAL: u16 = 500;
    /// The operation exists in the API but this daemon does not do it yet.
    pub const NOT_IMPLEMENTED: u16 = 501;
    /// The daemon cannot do it now (starting, stopping, a resource exhausted).
    pub const UNAVAILABLE: u16 = 503;
}

/// The JSON body of every non-2xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, for a human; names the field when one is at fault.
    pub error: String,
    /// The request field at fault (`prefix`, `next_hops[0].via`, `vni`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A refusal or failure with its HTTP status. Backends return it; the server sends it as an
/// [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status (see [`status`]).
    pub status: u16,
    /// Human-readable reason; should stand alone (name the field and the value).
    pub message: String,
    /// The request field at fault, if any.
    pub field: Option<String>,
}

impl ApiError {
    /// Any status.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            field: None,
        }
    }

    /// 400 for an invalid value of `field`. The message is prefixed with the field's name.
    pub fn invalid(field: impl Into<String>, message: impl fmt::Display) -> Self {
        let field = field.into();
        ApiError {
            status: status::BAD_REQUEST,
            message: format!("{field}: {message}"),
            field: Some(field),
        }
    }

    /// 400 with no particular field (for example, a body that is not JSON at all).
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(status::BAD_REQUEST, message)
    }

    /// 404: the named object does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(status::NOT_FOUND, message)
    }

    /// 409: the object exists already or is in use.
    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(status::CONFLICT, message)
    }

    /// 500: the daemon failed.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(status::INTERNAL, message)
    }

    /// 501: not done by this daemon yet.
    pub fn not_implemented(what: &str) -> Self {
        ApiError::new(
            status::NOT_IMPLEMENTED,
            format!("{what} is not implemented by this dataplane yet"),
        )
    }

    /// 503: cannot do it now.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(status::UNAVAILABLE, message)
    }

    /// Attaches the field at fault (keeps the message as it is).
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The wire form.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.message.clone(),
            field: self.field.clone(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (HTTP {})", self.message, self.status)
    }
}

impl std::error::Error for ApiError {}
