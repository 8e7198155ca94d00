//! Events of an organisation's subscription stream (`subs:{org}`): the
//! lifecycle of Graph change-notification subscriptions.

use serde::{Deserialize, Serialize};

use super::{event_family, no_older_versions};
use crate::sealed::Sealed;
use crate::stream::MailboxKey;
use crate::time::Timestamp;

event_family! {
    /// Subscription lifecycle events of one organisation.
    SubscriptionEvent, upcast = no_older_versions, {
        SubscriptionCreated = ("subscription.created", 1),
        SubscriptionRenewed = ("subscription.renewed", 1),
        SubscriptionRemoved = ("subscription.removed", 1),
        ReauthorizationRequested = ("subscription.reauthorization_requested", 1),
        Reauthorized = ("subscription.reauthorized", 1),
        NotificationsMissed = ("subscription.notifications_missed", 1),
        Resynced = ("subscription.resynced", 1),
    }
}

/// Field names binding sealed values to their place.
pub const CLIENT_STATE_FIELD: &str = "subscription.client_state";
pub const RESOURCE_FIELD: &str = "subscription.resource";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionCreated {
    pub mailbox: MailboxKey,
    pub subscription_id: String,
    /// `users/{address}/events`: names the mailbox, so sealed.
    pub resource: Sealed<String>,
    pub expires_at: Timestamp,
    /// The shared secret Graph echoes in every notification.
    pub client_state: Sealed<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRenewed {
    pub subscription_id: String,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalReason {
    /// Graph sent `subscriptionRemoved`.
    RemovedByGraph,
    /// A renewal found it gone (404), e.g. after expiry.
    NotFound,
    /// The user was disabled.
    UserDisabled,
    /// Found at Graph but not ours to keep (start-up reconciliation).
    Stray,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRemoved {
    pub subscription_id: String,
    pub reason: RemovalReason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReauthorizationRequested {
    pub subscription_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reauthorized {
    pub subscription_id: String,
}

/// Graph says notifications were lost: the mailbox needs a resync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationsMissed {
    pub subscription_id: String,
    pub mailbox: MailboxKey,
}

/// The mailbox caught up after a gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resynced {
    pub mailbox: MailboxKey,
}
