//! The tenant aggregate: an organisation's provisioning state, and the fold
//! of each of its users' entries (which the log keeps as a table, read by
//! key, rather than the aggregate in memory: a node has many users).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Aggregate;
use crate::events::EventMeta;
use crate::events::tenant::*;
use crate::graph_id::GraphId;
use crate::sealed::{Reveal, SealError, Sealed, Shown};
use crate::stream::{MailboxKey, StreamId};
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Consent {
    #[default]
    NotStarted,
    Pending,
    Granted {
        tenant_id: String,
        at: Timestamp,
    },
    Failed {
        error: String,
        description: String,
        at: Timestamp,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestResult {
    pub address: Sealed<String>,
    pub ok: bool,
    pub checks: Vec<PermissionCheck>,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEntry {
    /// The stream version of the event that last enabled it. Its sealed
    /// address stays there; the supervisor reads it from the log.
    pub address_in: u64,
    pub kind: MailboxKind,
    pub enabled: bool,
    pub status: UserStatus,
    pub status_changed_at: Timestamp,
    pub graph_user_id: Option<GraphId>,
}

impl UserEntry {
    /// A user's entry after `event` (None: no entry): what the log's users
    /// table stores.
    pub fn fold(entry: Option<UserEntry>, meta: &EventMeta, event: &TenantEvent) -> Option<UserEntry> {
        match event {
            TenantEvent::UserEnabled(e) => {
                let mut entry = entry.unwrap_or(UserEntry {
                    address_in: meta.version,
                    kind: e.kind,
                    enabled: true,
                    status: UserStatus::Pending,
                    status_changed_at: meta.at,
                    graph_user_id: None,
                });
                entry.address_in = meta.version;
                entry.kind = e.kind;
                if !entry.enabled {
                    entry.enabled = true;
                    entry.status = UserStatus::Pending;
                    entry.status_changed_at = meta.at;
                }
                Some(entry)
            }
            TenantEvent::UserDisabled(_) => entry.map(|mut u| {
                u.enabled = false;
                u.status_changed_at = meta.at;
                u
            }),
            TenantEvent::UserStatusChanged(e) => entry.map(|mut u| {
                if u.status != e.status {
                    u.status = e.status.clone();
                    u.status_changed_at = meta.at;
                }
                if e.graph_user_id.is_some() {
                    u.graph_user_id = e.graph_user_id.as_deref().map(GraphId::new);
                }
                u
            }),
            _ => entry,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TenantState {
    pub version: u64,
    /// Digests of consent `state` values handed out and not yet used, with expiry.
    pub pending_setups: BTreeMap<String, Timestamp>,
    pub consent: Consent,
    pub last_test: Option<TestResult>,
    /// Digests of personal API tokens, and whose they are.
    pub api_tokens: BTreeMap<String, MailboxKey>,
    /// The organisation's join settings (None: hcal's defaults).
    pub join_settings: Option<JoinSettings>,
}

impl TenantState {
    pub fn tenant_id(&self) -> Option<&str> {
        match &self.consent {
            Consent::Granted { tenant_id, .. } => Some(tenant_id),
            _ => None,
        }
    }
}

impl Aggregate for TenantState {
    type Event = TenantEvent;
    type View<'a> = TenantView;

    fn apply(mut self, meta: &EventMeta, event: TenantEvent) -> Self {
        self.version = meta.version;
        match event {
            TenantEvent::SetupStarted(e) => {
                self.pending_setups.insert(e.state_digest.clone(), e.expires_at);
                if !matches!(self.consent, Consent::Granted { .. }) {
                    self.consent = Consent::Pending;
                }
            }
            TenantEvent::ConsentGranted(e) => {
                self.pending_setups.remove(&e.state_digest);
                self.consent = Consent::Granted {
                    tenant_id: e.tenant_id.clone(),
                    at: meta.at,
                };
            }
            TenantEvent::ConsentFailed(e) => {
                self.pending_setups.remove(&e.state_digest);
                if !matches!(self.consent, Consent::Granted { .. }) {
                    self.consent = Consent::Failed {
                        error: e.error.clone(),
                        description: e.description.clone(),
                        at: meta.at,
                    };
                }
            }
            TenantEvent::TestMailboxChecked(e) => {
                self.last_test = Some(TestResult {
                    address: e.address.clone(),
                    ok: e.ok,
                    checks: e.checks.clone(),
                    at: meta.at,
                });
            }
            // Users' entries are the log's users table (`UserEntry::fold`).
            TenantEvent::UserEnabled(_) | TenantEvent::UserStatusChanged(_) => {}
            TenantEvent::UserDisabled(e) => {
                self.api_tokens.retain(|_, m| *m != e.mailbox);
            }
            TenantEvent::JoinSettingsChanged(e) => {
                self.join_settings = Some(e.settings);
            }
            TenantEvent::ApiTokenIssued(e) => {
                self.api_tokens.insert(e.token_digest, e.mailbox);
            }
        }
        self
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn from_any(state: super::AnyState) -> Option<Self> {
        match state {
            super::AnyState::Tenant(s) => Some(s),
            _ => None,
        }
    }

    fn into_any(self) -> super::AnyState {
        super::AnyState::Tenant(self)
    }

    fn view(&self, stream: &StreamId, reveal: &Reveal) -> Result<TenantView, SealError> {
        let consent = match &self.consent {
            Consent::NotStarted => ConsentView {
                state: "not_started",
                tenant_id: None,
                error: None,
                at: None,
            },
            Consent::Pending => ConsentView {
                state: "pending",
                tenant_id: None,
                error: None,
                at: None,
            },
            Consent::Granted { tenant_id, at } => ConsentView {
                state: "granted",
                tenant_id: Some(tenant_id.clone()),
                error: None,
                at: Some(*at),
            },
            Consent::Failed { error, description, at } => ConsentView {
                state: "failed",
                tenant_id: None,
                error: Some(format!("{error}: {description}")),
                at: Some(*at),
            },
        };
        let last_test = match &self.last_test {
            None => None,
            Some(t) => Some(TestView {
                address: reveal.show(&t.address, stream, TEST_ADDRESS_FIELD)?,
                ok: t.ok,
                checks: t
                    .checks
                    .iter()
                    .map(|c| {
                        Ok(CheckView {
                            name: c.name.clone(),
                            ok: c.ok,
                            error_code: c.error_code.clone(),
                            error_message: match &c.error_message {
                                Some(m) => Some(reveal.show(m, stream, CHECK_MESSAGE_FIELD)?),
                                None => None,
                            },
                        })
                    })
                    .collect::<Result<_, SealError>>()?,
                at: t.at,
            }),
        };
        Ok(TenantView {
            version: self.version,
            pending_setups: self.pending_setups.len(),
            consent,
            last_test,
            api_tokens: self.api_tokens.len(),
            join_settings: self.join_settings.as_ref().map(|j| {
                let mut v = serde_json::to_value(j).unwrap_or_default();
                // The provider token stays sealed even when revealed: admins set it, never read it.
                if let Some(h) = v.get_mut("provider").and_then(|p| p.get_mut("Http")) {
                    h["token"] = serde_json::Value::String("<sealed>".into());
                }
                v
            }),
        })
    }
}

#[derive(Debug, Serialize)]
pub struct TenantView {
    pub version: u64,
    pub pending_setups: usize,
    pub consent: ConsentView,
    pub last_test: Option<TestView>,
    pub api_tokens: usize,
    pub join_settings: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct ConsentView {
    pub state: &'static str,
    pub tenant_id: Option<String>,
    pub error: Option<String>,
    pub at: Option<Timestamp>,
}

#[derive(Debug, Serialize)]
pub struct TestView {
    pub address: Shown<String>,
    pub ok: bool,
    pub checks: Vec<CheckView>,
    pub at: Timestamp,
}

#[derive(Debug, Serialize)]
pub struct CheckView {
    pub name: String,
    pub ok: bool,
    pub error_code: Option<String>,
    pub error_message: Option<Shown<String>>,
}
