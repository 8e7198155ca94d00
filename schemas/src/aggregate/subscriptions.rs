//! The subscriptions aggregate of one organisation: only its version. What
//! its events say about each subscription and mailbox (expiry, renewals,
//! reauthorisation, gaps to resync) the log keeps as tables, read by key
//! (`hcal_actors::tables::subscriptions`): a node has one per mailbox.

use serde::{Deserialize, Serialize};

use super::Aggregate;
use crate::events::EventMeta;
use crate::events::subscription::*;
use crate::sealed::{Reveal, SealError};
use crate::stream::StreamId;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SubscriptionsState {
    pub version: u64,
}

impl Aggregate for SubscriptionsState {
    type Event = SubscriptionEvent;
    type View<'a> = SubscriptionsView;

    fn apply(mut self, meta: &EventMeta, _: SubscriptionEvent) -> Self {
        self.version = meta.version;
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

    fn view(&self, _: &StreamId, _: &Reveal) -> Result<SubscriptionsView, SealError> {
        Ok(SubscriptionsView { version: self.version })
    }
}

#[derive(Debug, Serialize)]
pub struct SubscriptionsView {
    pub version: u64,
}
