//! Errors: Graph's error body, AADSTS errors of the identity platform, and the typed errors
//! of the library API.

use serde_json::{Value, json};

/// An error as Graph answers it: status, `error.code`, `error.message`, plus headers.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct GraphError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub headers: Vec<(String, String)>,
}

impl GraphError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> GraphError {
        GraphError {
            status,
            code: code.to_string(),
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> GraphError {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The JSON body, with `innerError` carrying date and request ids.
    pub fn body(&self, request_id: &str, client_request_id: &str, now: chrono::DateTime<chrono::Utc>) -> Value {
        json!({"error": {
            "code": self.code,
            "message": self.message,
            "innerError": {
                "date": now.format("%Y-%m-%dT%H:%M:%S").to_string(),
                "request-id": request_id,
                "client-request-id": client_request_id,
            }
        }})
    }

    pub fn bad_request(message: impl Into<String>) -> GraphError {
        GraphError::new(400, "BadRequest", message)
    }
    pub fn invalid_json() -> GraphError {
        GraphError::new(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )
    }
    pub fn body_read(message: impl Into<String>) -> GraphError {
        GraphError::new(400, "RequestBodyRead", message)
    }
    pub fn unknown_property(name: &str, ty: &str) -> GraphError {
        GraphError::body_read(format!(
            "The property '{name}' does not exist on type '{ty}'. Make sure to only use property names that are defined by the type or mark the type as open type."
        ))
    }
    pub fn bad_enum(value: &str, ty: &str) -> GraphError {
        GraphError::body_read(format!(
            "Cannot convert the literal '{value}' to the expected type '{ty}'."
        ))
    }
    pub fn item_not_found() -> GraphError {
        GraphError::new(
            404,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        )
    }
    pub fn id_malformed() -> GraphError {
        GraphError::new(400, "ErrorInvalidIdMalformed", "Id is malformed.")
    }
    pub fn invalid_user(user: &str) -> GraphError {
        GraphError::new(
            404,
            "ErrorInvalidUser",
            format!("The requested user '{user}' is invalid."),
        )
    }
    pub fn mailbox_not_enabled() -> GraphError {
        GraphError::new(
            404,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        )
    }
    pub fn raop() -> GraphError {
        GraphError::new(
            403,
            "ErrorAccessDenied",
            "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.",
        )
    }
    pub fn access_denied() -> GraphError {
        GraphError::new(
            403,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )
    }
    pub fn invalid_parameter(message: impl Into<String>) -> GraphError {
        GraphError::new(400, "ErrorInvalidParameter", message)
    }
    pub fn missing_window() -> GraphError {
        GraphError::invalid_parameter(
            "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
        )
    }
    pub fn token_empty() -> GraphError {
        GraphError::new(401, "InvalidAuthenticationToken", "Access token is empty.")
            .with_header("WWW-Authenticate", WWW_AUTHENTICATE)
    }
    pub fn token_invalid() -> GraphError {
        GraphError::new(
            401,
            "InvalidAuthenticationToken",
            "IDX14100: JWT is not well formed, there are no dots (.).",
        )
        .with_header("WWW-Authenticate", WWW_AUTHENTICATE)
    }
    pub fn token_expired() -> GraphError {
        GraphError::new(
            401,
            "InvalidAuthenticationToken",
            "Access token has expired or is not yet valid.",
        )
        .with_header("WWW-Authenticate", WWW_AUTHENTICATE)
    }
    pub fn throttled(message: &str, retry_after: u64) -> GraphError {
        GraphError::new(429, "ApplicationThrottled", message).with_header("Retry-After", retry_after.to_string())
    }
    pub fn precondition_failed() -> GraphError {
        GraphError::new(
            412,
            "ErrorIrresolvableConflict",
            "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
        )
    }
    pub fn timezone_not_supported(tz: &str) -> GraphError {
        GraphError::new(
            400,
            "TimeZoneNotSupportedException",
            format!("A valid TimeZone value must be specified. The following TimeZone value is not supported: '{tz}'."),
        )
    }
    pub fn not_found_segment(seg: &str) -> GraphError {
        GraphError::new(
            400,
            "BadRequest",
            format!("Resource not found for the segment '{seg}'."),
        )
    }
}

const WWW_AUTHENTICATE: &str = "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"";

/// The identity platform's error body (`error`, `error_description`, `error_codes`, ...).
pub fn aadsts(error: &str, code: u32, description: &str, now: chrono::DateTime<chrono::Utc>) -> Value {
    let trace = uuid::Uuid::new_v4().to_string();
    let corr = uuid::Uuid::new_v4().to_string();
    json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {corr} Timestamp: {}", now.format("%Y-%m-%d %H:%M:%SZ")),
        "error_codes": [code],
        "timestamp": now.format("%Y-%m-%d %H:%M:%SZ").to_string(),
        "trace_id": trace,
        "correlation_id": corr,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    })
}

/// Errors of the library API.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot bind {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("emulator thread failed: {0}")]
    Thread(String),
    #[error("invalid seed: {0}")]
    Seed(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}
