//! The subscriptions aggregate: what hcal believes about its Graph
//! subscriptions of one organisation, and which mailboxes need a resync.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::Aggregate;
use crate::events::EventMeta;
use crate::events::subscription::*;
use crate::graph_id::GraphId;
use crate::sealed::{Reveal, SealError};
use crate::stream::{MailboxKey, StreamId};
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionEntry {
    pub mailbox: MailboxKey,
    pub expires_at: Timestamp,
    /// The stream version of the event that created it. Its sealed resource
    /// (the mailbox's address, which the tenant's user registry holds) and
    /// client state stay there: the webhook's directory reads the client
    /// state once, at start.
    pub created_in: u64,
    pub created_at: Timestamp,
    pub last_renewed: Option<Timestamp>,
    pub reauthorization_requested: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SubscriptionsState {
    pub version: u64,
    pub subscriptions: BTreeMap<GraphId, SubscriptionEntry>,
    /// Mailboxes with a gap in their notifications, and since when.
    pub resync_needed: BTreeMap<MailboxKey, Timestamp>,
    /// Mailboxes that had a subscription removed (so a new one needs a resync).
    pub ever_subscribed: BTreeSet<MailboxKey>,
}

impl SubscriptionsState {
    pub fn for_mailbox(&self, mailbox: &MailboxKey) -> Option<(&GraphId, &SubscriptionEntry)> {
        self.subscriptions.iter().find(|(_, s)| &s.mailbox == mailbox)
    }
}

impl Aggregate for SubscriptionsState {
    type Event = SubscriptionEvent;
    type View = SubscriptionsView;

    fn apply(mut self, meta: &EventMeta, event: SubscriptionEvent) -> Self {
        self.version = meta.version;
        match event {
            SubscriptionEvent::SubscriptionCreated(e) => {
                // A mailbox subscribed again after losing a subscription has a gap.
                if !self.ever_subscribed.insert(e.mailbox.clone()) {
                    self.resync_needed.entry(e.mailbox.clone()).or_insert(meta.at);
                }
                self.subscriptions.insert(
                    GraphId::new(&e.subscription_id),
                    SubscriptionEntry {
                        mailbox: e.mailbox.clone(),
                        expires_at: e.expires_at,
                        created_in: meta.version,
                        created_at: meta.at,
                        last_renewed: None,
                        reauthorization_requested: None,
                    },
                );
            }
            SubscriptionEvent::SubscriptionRenewed(e) => {
                if let Some(s) = self.subscriptions.get_mut(&GraphId::new(&e.subscription_id)) {
                    s.expires_at = e.expires_at;
                    s.last_renewed = Some(meta.at);
                    s.reauthorization_requested = None;
                }
            }
            SubscriptionEvent::SubscriptionRemoved(e) => {
                self.subscriptions.remove(&GraphId::new(&e.subscription_id));
            }
            SubscriptionEvent::ReauthorizationRequested(e) => {
                if let Some(s) = self.subscriptions.get_mut(&GraphId::new(&e.subscription_id)) {
                    s.reauthorization_requested.get_or_insert(meta.at);
                }
            }
            SubscriptionEvent::Reauthorized(e) => {
                if let Some(s) = self.subscriptions.get_mut(&GraphId::new(&e.subscription_id)) {
                    s.reauthorization_requested = None;
                }
            }
            SubscriptionEvent::NotificationsMissed(e) => {
                self.resync_needed.entry(e.mailbox.clone()).or_insert(meta.at);
            }
            SubscriptionEvent::Resynced(e) => {
                self.resync_needed.remove(&e.mailbox);
            }
        }
        self
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn from_any(state: super::AnyState) -> Option<Self> {
        match state {
            super::AnyState::Subscriptions(s) => Some(s),
            _ => None,
        }
    }

    fn into_any(self) -> super::AnyState {
        super::AnyState::Subscriptions(self)
    }

    /// Nothing sealed is held: the view is the same revealed or not.
    fn view(&self, _: &StreamId, _: &Reveal) -> Result<SubscriptionsView, SealError> {
        let subscriptions = self
            .subscriptions
            .iter()
            .map(|(id, s)| SubscriptionView {
                id: id.to_string(),
                mailbox: s.mailbox.to_string(),
                expires_at: s.expires_at,
                created_in: s.created_in,
                created_at: s.created_at,
                last_renewed: s.last_renewed,
                reauthorization_requested: s.reauthorization_requested,
            })
            .collect();
        Ok(SubscriptionsView {
            version: self.version,
            subscriptions,
            resync_needed: self.resync_needed.keys().map(|k| k.to_string()).collect(),
        })
    }
}

#[derive(Debug, Serialize)]
pub struct SubscriptionsView {
    pub version: u64,
    pub subscriptions: Vec<SubscriptionView>,
    pub resync_needed: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct SubscriptionView {
    pub id: String,
    pub mailbox: String,
    pub expires_at: Timestamp,
    pub created_in: u64,
    pub created_at: Timestamp,
    pub last_renewed: Option<Timestamp>,
    pub reauthorization_requested: Option<Timestamp>,
}
