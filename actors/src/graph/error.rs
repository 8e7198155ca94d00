//! The client's typed errors, from the HTTP status and Graph's `error.code`.
//!
//! Each Graph-originated error carries [`ErrorInfo`]: status, code and the
//! request ids an admin needs to open a case with Microsoft. Display never
//! shows Graph's `message` (it can quote the user's address): that text is
//! only reachable through [`ErrorInfo::raw_message`], for sealed storage.

use std::fmt;
use std::time::Duration;

use hcal_schemas::graph::{AadError, GraphErrorBody};

/// Status, code and request ids of a failed Graph or identity-platform call.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ErrorInfo {
    /// HTTP status (absent for errors hcal raised itself).
    pub status: Option<u16>,
    /// Graph's `error.code` (e.g. `ErrorInvalidUser`) or the identity platform's `error`
    /// (e.g. `invalid_client`).
    pub code: String,
    /// Graph's `request-id` (header, else `innerError`) or the identity platform's trace id.
    pub request_id: Option<String>,
    /// The GUID hcal sent as `client-request-id`.
    pub client_request_id: Option<String>,
    raw_message: Option<String>,
}

impl ErrorInfo {
    pub fn new(status: Option<u16>, code: impl Into<String>) -> Self {
        ErrorInfo {
            status,
            code: code.into(),
            ..Default::default()
        }
    }

    /// From a Graph error body (tolerates a body that is not one).
    pub(crate) fn from_graph(status: u16, body: &[u8], request_id: Option<String>, crid: Option<String>) -> Self {
        let parsed = serde_json::from_slice::<GraphErrorBody>(body).ok();
        let (code, message, inner_rid) = match parsed {
            Some(b) => {
                let rid = b.error.request_id().map(String::from);
                (b.error.code, b.error.message, rid)
            }
            None => (String::new(), None, None),
        };
        ErrorInfo {
            status: Some(status),
            code,
            request_id: request_id.or(inner_rid),
            client_request_id: crid,
            raw_message: message,
        }
    }

    /// From an identity-platform (AADSTS) error body.
    pub(crate) fn from_aad(status: u16, err: &AadError, crid: Option<String>) -> Self {
        ErrorInfo {
            status: Some(status),
            code: err.error.clone(),
            request_id: err.trace_id.clone(),
            client_request_id: crid,
            raw_message: err.error_description.clone(),
        }
    }

    /// Graph's (or the identity platform's) message as sent. It may quote a user's
    /// address or other content: store it sealed, never log it.
    pub fn raw_message(&self) -> Option<&str> {
        self.raw_message.as_deref()
    }
}

impl fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(s) => write!(f, "HTTP {s}")?,
            None => f.write_str("no status")?,
        }
        if !self.code.is_empty() {
            write!(f, " {}", self.code)?;
        }
        if let Some(r) = &self.request_id {
            write!(f, ", request-id {r}")?;
        }
        if let Some(c) = &self.client_request_id {
            write!(f, ", client-request-id {c}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorInfo")
            .field("status", &self.status)
            .field("code", &self.code)
            .field("request_id", &self.request_id)
            .field("client_request_id", &self.client_request_id)
            .field("raw_message", &self.raw_message.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What went wrong with a Graph call. [`ErrorInfo`] is boxed to keep the error (and every
/// `Result` carrying it) small.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// 403 `ErrorAccessDenied` naming the application access policy (`[RAOP]`): the
    /// mailbox is outside the scope the tenant's admin gave hcal. Not worth retrying
    /// until the admin changes the policy (which Graph applies with a delay of up to hours).
    #[error("mailbox outside the tenant's application access policy ({info})")]
    AccessDeniedByPolicy { info: Box<ErrorInfo> },
    /// Any other 403: a missing permission, or admin consent revoked (then the next
    /// token request fails with `Auth`).
    #[error("access denied ({info})")]
    AccessDenied { info: Box<ErrorInfo> },
    /// 404 `ErrorInvalidUser`: no such user in the tenant.
    #[error("unknown user ({info})")]
    InvalidUser { info: Box<ErrorInfo> },
    /// 404 `MailboxNotEnabledForRESTAPI`: unlicensed, soft-deleted or on-premises mailbox.
    #[error("mailbox not enabled for the REST API ({info})")]
    MailboxNotEnabledForRest { info: Box<ErrorInfo> },
    /// 404 `ErrorItemNotFound` and any other 404 (event deleted, subscription gone).
    #[error("item not found ({info})")]
    ItemNotFound { info: Box<ErrorInfo> },
    /// 412 (or 409 `ErrorIrresolvableConflict`): the `If-Match` change key is stale.
    #[error("precondition failed: the item changed ({info})")]
    PreconditionFailed { info: Box<ErrorInfo> },
    /// 429 still answered after the retries, or a `Retry-After` longer than the client
    /// waits inside a call.
    #[error("throttled by Graph, retry after {retry_after:?} ({info})")]
    Throttled {
        retry_after: Option<Duration>,
        info: Box<ErrorInfo>,
    },
    /// hcal's own per-mailbox budget is spent; no request was sent.
    #[error("per-mailbox request budget spent, retry after {retry_after:?}")]
    BudgetExhausted { retry_after: Duration },
    /// 401 from Graph after a fresh token, or the token endpoint refused: `info.code` is
    /// the identity platform's `error` (`invalid_client`, `unauthorized_client`, ...) and
    /// `aadsts` its number (700016: the app is not in the tenant, i.e. consent is gone;
    /// 7000215: wrong secret).
    #[error("authentication failed (AADSTS {aadsts:?}; {info})")]
    Auth { aadsts: Option<u64>, info: Box<ErrorInfo> },
    /// Delta token expired or unknown (`syncStateNotFound`/`resyncRequired` without a
    /// `Location`): start a new round with `calendar_view_delta`.
    #[error("delta sync state not found ({info})")]
    SyncStateNotFound { info: Box<ErrorInfo> },
    /// 410 Gone with a `Location`: resync from that URL (pass it to
    /// `calendar_view_delta_continue`) and replace local state with what it returns.
    #[error("delta reset by Graph ({info})")]
    DeltaReset { location: String, info: Box<ErrorInfo> },
    /// 400 `InvalidRequest` on a subscription create: the notification endpoint failed
    /// Graph's validation handshake (or the request was otherwise refused as invalid).
    #[error("subscription validation failed ({info})")]
    ValidationFailed { info: Box<ErrorInfo> },
    /// Any other 4xx.
    #[error("request refused ({info})")]
    BadRequest { code: String, info: Box<ErrorInfo> },
    /// 5xx after the retries.
    #[error("Graph server error {status} ({info})")]
    Server {
        status: u16,
        code: String,
        info: Box<ErrorInfo>,
    },
    /// Connection failure or timeout after the retries. No URL in the text.
    #[error("transport error ({kind}): {detail}")]
    Transport { kind: TransportKind, detail: String },
    /// A 2xx whose body did not parse. The text names where, never what was read.
    #[error("cannot decode Graph's answer to {route}: {detail}")]
    Decode { route: &'static str, detail: String },
    /// A next/delta/Location link that does not point at the configured Graph host: not
    /// followed, so the bearer token never leaves for another host.
    #[error("refused to follow a link outside the configured Graph host")]
    UntrustedLink,
}

/// Why a request got no HTTP answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    Connect,
    Timeout,
    Other,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "connect",
            TransportKind::Timeout => "timeout",
            TransportKind::Other => "other",
        })
    }
}

impl GraphError {
    pub fn info(&self) -> Option<&ErrorInfo> {
        match self {
            GraphError::AccessDeniedByPolicy { info }
            | GraphError::AccessDenied { info }
            | GraphError::InvalidUser { info }
            | GraphError::MailboxNotEnabledForRest { info }
            | GraphError::ItemNotFound { info }
            | GraphError::PreconditionFailed { info }
            | GraphError::Throttled { info, .. }
            | GraphError::Auth { info, .. }
            | GraphError::SyncStateNotFound { info }
            | GraphError::DeltaReset { info, .. }
            | GraphError::ValidationFailed { info }
            | GraphError::BadRequest { info, .. }
            | GraphError::Server { info, .. } => Some(info.as_ref()),
            GraphError::BudgetExhausted { .. }
            | GraphError::Transport { .. }
            | GraphError::Decode { .. }
            | GraphError::UntrustedLink => None,
        }
    }

    /// Graph's `error.code` (or the identity platform's `error`).
    pub fn code(&self) -> Option<&str> {
        self.info().map(|i| i.code.as_str()).filter(|c| !c.is_empty())
    }

    pub fn status(&self) -> Option<u16> {
        self.info().and_then(|i| i.status)
    }

    pub fn request_id(&self) -> Option<&str> {
        self.info().and_then(|i| i.request_id.as_deref())
    }

    /// When to try again, where Graph or the budget said so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            GraphError::Throttled { retry_after, .. } => *retry_after,
            GraphError::BudgetExhausted { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// Worth trying again later without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            GraphError::Throttled { .. }
                | GraphError::BudgetExhausted { .. }
                | GraphError::Server { .. }
                | GraphError::Transport { .. }
        )
    }

    /// Classify a non-2xx Graph answer.
    pub(crate) fn from_status(
        status: u16,
        info: ErrorInfo,
        retry_after: Option<Duration>,
        location: Option<String>,
        subscription_create: bool,
    ) -> GraphError {
        let code = info.code.clone();
        let info = Box::new(info);
        let is = |c: &str| code.eq_ignore_ascii_case(c);
        if is("syncStateNotFound") || is("resyncRequired") || status == 410 {
            return match location {
                Some(location) if status == 410 => GraphError::DeltaReset { location, info },
                _ => GraphError::SyncStateNotFound { info },
            };
        }
        match status {
            401 => GraphError::Auth { aadsts: None, info },
            403 => {
                let msg = info.raw_message().unwrap_or("").to_ascii_lowercase();
                if is("ErrorAccessDenied") && (msg.contains("[raop]") || msg.contains("accesspolicy")) {
                    GraphError::AccessDeniedByPolicy { info }
                } else {
                    GraphError::AccessDenied { info }
                }
            }
            404 if is("ErrorInvalidUser") => GraphError::InvalidUser { info },
            404 if is("MailboxNotEnabledForRESTAPI") => GraphError::MailboxNotEnabledForRest { info },
            404 => GraphError::ItemNotFound { info },
            412 => GraphError::PreconditionFailed { info },
            409 if is("ErrorIrresolvableConflict") => GraphError::PreconditionFailed { info },
            429 => GraphError::Throttled { retry_after, info },
            400 if subscription_create && is("InvalidRequest") => GraphError::ValidationFailed { info },
            s if s >= 500 => GraphError::Server { status: s, code, info },
            _ => GraphError::BadRequest { code, info },
        }
    }

    /// From a reqwest error, without its URL (which can hold an address).
    pub(crate) fn transport(e: &reqwest::Error) -> GraphError {
        let kind = if e.is_timeout() {
            TransportKind::Timeout
        } else if e.is_connect() {
            TransportKind::Connect
        } else {
            TransportKind::Other
        };
        let mut detail = String::new();
        let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
        while let Some(s) = source {
            if !detail.is_empty() {
                detail.push_str(": ");
            }
            detail.push_str(&s.to_string());
            source = s.source();
        }
        if detail.is_empty() {
            detail = kind.to_string();
        }
        GraphError::Transport { kind, detail }
    }

    /// From a JSON error: category and position only (serde's text can quote the value).
    pub(crate) fn decode(route: &'static str, e: &serde_json::Error) -> GraphError {
        GraphError::Decode {
            route,
            detail: format!("{:?} error at line {} column {}", e.classify(), e.line(), e.column()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(status: u16, code: &str, message: &str) -> ErrorInfo {
        let body = serde_json::json!({"error": {"code": code, "message": message,
            "innerError": {"request-id": "rid"}}});
        ErrorInfo::from_graph(status, body.to_string().as_bytes(), None, Some("crid".into()))
    }

    #[test]
    fn classification() {
        let c = |s, code, msg| GraphError::from_status(s, info(s, code, msg), None, None, false);
        assert!(matches!(
            c(
                403,
                "ErrorAccessDenied",
                "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings."
            ),
            GraphError::AccessDeniedByPolicy { .. }
        ));
        assert!(matches!(
            c(403, "ErrorAccessDenied", "Access is denied."),
            GraphError::AccessDenied { .. }
        ));
        assert!(matches!(
            c(404, "ErrorInvalidUser", "x"),
            GraphError::InvalidUser { .. }
        ));
        assert!(matches!(
            c(404, "MailboxNotEnabledForRESTAPI", "x"),
            GraphError::MailboxNotEnabledForRest { .. }
        ));
        assert!(matches!(
            c(404, "ErrorItemNotFound", "x"),
            GraphError::ItemNotFound { .. }
        ));
        assert!(matches!(
            c(404, "ResourceNotFound", "x"),
            GraphError::ItemNotFound { .. }
        ));
        assert!(matches!(
            c(412, "ErrorIrresolvableConflict", "x"),
            GraphError::PreconditionFailed { .. }
        ));
        assert!(matches!(
            c(400, "SyncStateNotFound", "x"),
            GraphError::SyncStateNotFound { .. }
        ));
        assert!(matches!(c(400, "InvalidRequest", "x"), GraphError::BadRequest { .. }));
        assert!(matches!(
            c(503, "serviceNotAvailable", "x"),
            GraphError::Server { status: 503, .. }
        ));
        let reset = GraphError::from_status(
            410,
            info(410, "resyncRequired", "x"),
            None,
            Some("https://g/next".into()),
            false,
        );
        assert!(matches!(reset, GraphError::DeltaReset { ref location, .. } if location == "https://g/next"));
        let v = GraphError::from_status(400, info(400, "InvalidRequest", "x"), None, None, true);
        assert!(matches!(v, GraphError::ValidationFailed { .. }));
        assert_eq!(v.code(), Some("InvalidRequest"));
        assert_eq!(v.request_id(), Some("rid"));
    }

    #[test]
    fn display_keeps_the_message_out() {
        let e = GraphError::from_status(
            404,
            info(
                404,
                "ErrorInvalidUser",
                "The requested user 'alice@contoso.example' is invalid.",
            ),
            None,
            None,
            false,
        );
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("alice"), "{shown}");
        assert!(shown.contains("ErrorInvalidUser") && shown.contains("rid") && shown.contains("crid"));
        assert_eq!(
            e.info().unwrap().raw_message(),
            Some("The requested user 'alice@contoso.example' is invalid.")
        );
    }
}
