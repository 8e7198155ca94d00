//! Events of an organisation's tenant stream (`org:{org}`): provisioning and
//! the user registry.

use serde::{Deserialize, Serialize};

use super::{event_family, no_older_versions};
use crate::sealed::Sealed;
use crate::stream::MailboxKey;
use crate::time::Timestamp;

event_family! {
    /// Provisioning and user-registry events of one organisation.
    TenantEvent, upcast = no_older_versions, {
        SetupStarted = ("tenant.setup_started", 1),
        ConsentGranted = ("tenant.consent_granted", 1),
        ConsentFailed = ("tenant.consent_failed", 1),
        TestMailboxChecked = ("tenant.test_mailbox_checked", 1),
        UserEnabled = ("tenant.user_enabled", 1),
        UserDisabled = ("tenant.user_disabled", 1),
        UserStatusChanged = ("tenant.user_status_changed", 1),
        ApiTokenIssued = ("tenant.api_token_issued", 1),
        JoinSettingsChanged = ("tenant.join_settings_changed", 1),
    }
}

impl TenantEvent {
    /// The mailbox whose user entry this event changes, if any.
    pub fn user(&self) -> Option<&MailboxKey> {
        match self {
            TenantEvent::UserEnabled(e) => Some(&e.mailbox),
            TenantEvent::UserDisabled(e) => Some(&e.mailbox),
            TenantEvent::UserStatusChanged(e) => Some(&e.mailbox),
            _ => None,
        }
    }
}

/// Field names binding the tenant stream's sealed values to their place.
pub const USER_ADDRESS_FIELD: &str = "user.address";
pub const TEST_ADDRESS_FIELD: &str = "test.address";
pub const CHECK_MESSAGE_FIELD: &str = "test.check_message";

/// The admin asked for the consent URL. The single-use `state` itself is a
/// secret; only its digest is kept, to verify the callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupStarted {
    pub state_digest: String,
    pub expires_at: Timestamp,
}

/// The tenant's admin consented and hcal proved it by getting a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentGranted {
    pub tenant_id: String,
    pub state_digest: String,
}

/// Consent was refused or could not be proven.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentFailed {
    /// The setup attempt this answers (its `state` is used up).
    pub state_digest: String,
    pub error: String,
    pub description: String,
}

/// One permission proven (or not) on the test mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionCheck {
    pub name: String,
    pub ok: bool,
    /// Graph's `error.code` where the check failed.
    pub error_code: Option<String>,
    /// Graph's message: may quote addresses, so sealed.
    pub error_message: Option<Sealed<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestMailboxChecked {
    pub address: Sealed<String>,
    pub ok: bool,
    pub checks: Vec<PermissionCheck>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailboxKind {
    User,
    Room,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEnabled {
    pub mailbox: MailboxKey,
    pub address: Sealed<String>,
    pub kind: MailboxKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDisabled {
    pub mailbox: MailboxKey,
}

/// Why a mailbox cannot be served, in the terms admins know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserErrorKind {
    NotFound,
    MailboxNotEnabledForRest,
    OutsideAccessPolicy,
    SubscriptionFailed,
    ConsentRevoked,
    Throttled,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Pending,
    Activated,
    Error { kind: UserErrorKind, code: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserStatusChanged {
    pub mailbox: MailboxKey,
    pub status: UserStatus,
    /// Graph's object id of the user, once known.
    pub graph_user_id: Option<String>,
}

/// An admin issued a personal API token for a mailbox (its meeting list).
/// Only the token's digest is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenIssued {
    pub mailbox: MailboxKey,
    pub token_digest: String,
}

/// How an organisation's meetings get join details: its keywords, link
/// rules, join-block wording and meeting service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinSettings {
    /// Keyword (with its `@`) and what it creates without a modifier.
    pub keywords: Vec<(String, super::mailbox::JoinAction)>,
    /// The org's link rules (hcal's rules file format), tried before the built-ins.
    pub rules_json: Option<String>,
    /// Language of the join block when the organiser's has no built-in wording.
    pub default_language: String,
    /// Header and footer per language (organisation text, at most 1024 characters each).
    pub custom: Vec<(String, Option<String>, Option<String>)>,
    pub provider: ProviderSettings,
}

/// The organisation's meeting service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProviderSettings {
    /// A meeting site hcal derives join details for (e.g. `contoso.webex.com`).
    Site {
        provider: String,
        site: String,
        dial_in: Vec<(String, String)>,
    },
    /// An external meeting service's API; its token is sealed.
    Http {
        provider: String,
        url: String,
        token: Sealed<String>,
    },
}

/// Field name of the sealed provider token.
pub const PROVIDER_TOKEN_FIELD: &str = "join.provider_token";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinSettingsChanged {
    pub settings: JoinSettings,
}
