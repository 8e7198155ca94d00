//! User status as admins know it: pending, activated, or an error with a
//! typed reason and a plain sentence.

use hcal_schemas::aggregate::mailbox::JoinFailures;
use hcal_schemas::aggregate::tenant::UserEntry;
use hcal_schemas::events::tenant::{MailboxKind, UserErrorKind, UserStatus};
use hcal_schemas::{MailboxKey, Timestamp};
use serde::{Deserialize, Serialize};

use crate::graph::GraphError;

/// An organisation's enabled users by status. The supervisor counts them
/// from the users table once, at load, then keeps the counts as its own
/// appends change entries, so that a summary costs no pass over the table
/// (a pass would also keep the table's pages in the log's cache).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCounts {
    pub activated: usize,
    pub pending: usize,
    pub in_error: usize,
}

impl UserCounts {
    /// Counts `entry` in (`true`) or out (`false`); a disabled entry counts nowhere.
    pub fn count(&mut self, entry: &UserEntry, into: bool) {
        if !entry.enabled {
            return;
        }
        let n = match entry.status {
            UserStatus::Activated => &mut self.activated,
            UserStatus::Pending => &mut self.pending,
            UserStatus::Error { .. } => &mut self.in_error,
        };
        *n = if into { *n + 1 } else { n.saturating_sub(1) };
    }

    pub fn enabled(&self) -> usize {
        self.activated + self.pending + self.in_error
    }
}

impl std::fmt::Display for UserCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let UserCounts {
            activated,
            pending,
            in_error,
        } = self;
        write!(f, "{activated} activated, {pending} pending, {in_error} in error")
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct UserError {
    pub kind: UserErrorKind,
    pub code: Option<String>,
    pub message: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct UserInfo {
    /// The address (None only if its key was erased).
    pub email: Option<String>,
    pub mailbox: String,
    pub kind: MailboxKind,
    pub enabled: bool,
    /// `pending`, `activated`, `error` or `disabled`.
    pub status: &'static str,
    pub error: Option<UserError>,
    pub status_changed_at: Timestamp,
    /// Meetings hcal could not add join details to (the mailbox's own report).
    pub join_failures: Option<JoinTrouble>,
}

/// Failed decorations in a user's mailbox, in words.
#[derive(Clone, Debug, Serialize)]
pub struct JoinTrouble {
    pub meetings: u32,
    /// Graph's (or the meeting provider's) code of the latest failure.
    pub code: String,
    pub at: Timestamp,
    pub next_retry_at: Option<Timestamp>,
    pub message: String,
}

impl From<&JoinFailures> for JoinTrouble {
    fn from(f: &JoinFailures) -> Self {
        let then = match f.next_retry_at {
            Some(t) => format!("hcal tries again at {t}"),
            None => "hcal does not retry: fix the cause, then edit the meeting".to_string(),
        };
        Self {
            meetings: f.meetings,
            code: f.last_code.clone(),
            at: f.last_at,
            next_retry_at: f.next_retry_at,
            message: format!(
                "Join details could not be added to {} meeting(s) (last error: {}); {then}.",
                f.meetings, f.last_code
            ),
        }
    }
}

impl UserInfo {
    pub fn new(key: &MailboxKey, email: Option<String>, u: &UserEntry) -> Self {
        let (status, error) = match (&u.status, u.enabled) {
            (_, false) => ("disabled", None),
            (UserStatus::Pending, _) => ("pending", None),
            (UserStatus::Activated, _) => ("activated", None),
            (UserStatus::Error { kind, code }, _) => (
                "error",
                Some(UserError {
                    kind: *kind,
                    code: code.clone(),
                    message: message(*kind),
                }),
            ),
        };
        Self {
            email,
            mailbox: key.to_string(),
            kind: u.kind,
            enabled: u.enabled,
            status,
            error,
            status_changed_at: u.status_changed_at,
            join_failures: None,
        }
    }
}

pub fn message(kind: UserErrorKind) -> &'static str {
    match kind {
        UserErrorKind::NotFound => "There is no such user in the tenant.",
        UserErrorKind::MailboxNotEnabledForRest => {
            "The mailbox is inactive, soft-deleted or hosted on-premises, so Graph cannot reach it."
        }
        UserErrorKind::OutsideAccessPolicy => {
            "The mailbox is outside the tenant's application access policy for hcal; add it to the policy's group (changes can take an hour to apply)."
        }
        UserErrorKind::SubscriptionFailed => "Graph refused the change-notification subscription for this mailbox.",
        UserErrorKind::ConsentRevoked => "The tenant's admin consent for hcal is no longer in effect; consent again.",
        UserErrorKind::Throttled => "Graph is throttling requests for this mailbox; hcal will retry.",
        UserErrorKind::Other => {
            "Graph could not be reached or answered unexpectedly (the code says which); hcal will retry."
        }
    }
}

/// The kind of trouble a Graph error means for a mailbox (its code is [`graph_code`]).
pub fn classify(e: &GraphError) -> UserErrorKind {
    match e {
        GraphError::AccessDeniedByPolicy { .. } => UserErrorKind::OutsideAccessPolicy,
        GraphError::InvalidUser { .. } => UserErrorKind::NotFound,
        GraphError::MailboxNotEnabledForRest { .. } => UserErrorKind::MailboxNotEnabledForRest,
        GraphError::Auth { .. } | GraphError::AccessDenied { .. } => UserErrorKind::ConsentRevoked,
        GraphError::Throttled { .. } | GraphError::BudgetExhausted { .. } => UserErrorKind::Throttled,
        _ => UserErrorKind::Other,
    }
}

/// Graph's `error.code`, or, where Graph gave none, hcal's own word for what
/// happened (`transport_timeout`, `decode`, `hcal_budget`, ...), so that an
/// admin never sees an error without a reason.
pub fn graph_code(e: &GraphError) -> String {
    if let Some(code) = e.code() {
        return code.to_string();
    }
    match e {
        GraphError::Transport { kind, .. } => format!("transport_{kind}"),
        GraphError::Decode { .. } => "decode".to_string(),
        GraphError::UntrustedLink => "untrusted_link".to_string(),
        GraphError::BudgetExhausted { .. } => "hcal_budget".to_string(),
        other => match other.status() {
            Some(status) => format!("http_{status}"),
            None => "unknown".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::graph::TransportKind;

    #[test]
    fn an_error_without_a_graph_code_still_says_what_happened() {
        let transport = |kind| GraphError::Transport {
            kind,
            detail: "no answer".into(),
        };
        let cases = [
            (
                transport(TransportKind::Timeout),
                UserErrorKind::Other,
                "transport_timeout",
            ),
            (
                transport(TransportKind::Connect),
                UserErrorKind::Other,
                "transport_connect",
            ),
            (
                GraphError::BudgetExhausted {
                    retry_after: Duration::from_secs(60),
                },
                UserErrorKind::Throttled,
                "hcal_budget",
            ),
            (
                GraphError::Decode {
                    route: "mailboxSettings",
                    detail: "EOF".into(),
                },
                UserErrorKind::Other,
                "decode",
            ),
        ];
        for (error, kind, code) in cases {
            assert_eq!(
                (classify(&error), graph_code(&error)),
                (kind, code.to_string()),
                "{error}"
            );
        }
    }
}
