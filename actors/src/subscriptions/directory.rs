//! Which mailbox a subscription serves, and its clientState, for the
//! webhook front door: the one place a notification is checked before it is
//! written to the inbox. Only a hash of each clientState is held, and
//! compared in constant time (`blake3::Hash` equality is constant-time).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use hcal_schemas::{MailboxKey, OrgId, StreamId, Timestamp};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub org: OrgId,
    pub mailbox: MailboxKey,
    client_state: blake3::Hash,
}

impl Route {
    pub fn mailbox_stream(&self) -> StreamId {
        StreamId::mailbox(&self.org, &self.mailbox)
    }
}

/// The verdict on a notification's subscription id and clientState.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accepted(Route),
    /// Not a subscription of this node.
    Unknown,
    /// Known subscription, wrong clientState.
    Forged,
}

#[derive(Clone, Default)]
pub struct SubscriptionDirectory {
    routes: Arc<RwLock<HashMap<String, Route>>>,
    /// When each subscription last brought an accepted notification (not durable).
    seen: Arc<RwLock<HashMap<String, Timestamp>>>,
}

impl SubscriptionDirectory {
    pub fn insert(&self, subscription_id: &str, org: &OrgId, mailbox: &MailboxKey, client_state: &str) {
        let route = Route {
            org: org.clone(),
            mailbox: mailbox.clone(),
            client_state: blake3::hash(client_state.as_bytes()),
        };
        if let Ok(mut m) = self.routes.write() {
            m.insert(subscription_id.to_string(), route);
        }
    }

    pub fn remove(&self, subscription_id: &str) {
        if let Ok(mut m) = self.routes.write() {
            m.remove(subscription_id);
        }
        if let Ok(mut m) = self.seen.write() {
            m.remove(subscription_id);
        }
    }

    pub fn touch(&self, subscription_id: &str, at: Timestamp) {
        if let Ok(mut m) = self.seen.write() {
            m.insert(subscription_id.to_string(), at);
        }
    }

    pub fn last_notification(&self, subscription_id: &str) -> Option<Timestamp> {
        self.seen.read().ok().and_then(|m| m.get(subscription_id).copied())
    }

    pub fn check(&self, subscription_id: &str, client_state: Option<&str>) -> Verdict {
        let Ok(m) = self.routes.read() else {
            return Verdict::Unknown;
        };
        match m.get(subscription_id) {
            None => Verdict::Unknown,
            Some(route) => {
                let given = blake3::hash(client_state.unwrap_or_default().as_bytes());
                if given == route.client_state {
                    Verdict::Accepted(route.clone())
                } else {
                    Verdict::Forged
                }
            }
        }
    }

    pub fn route(&self, subscription_id: &str) -> Option<Route> {
        self.routes.read().ok().and_then(|m| m.get(subscription_id).cloned())
    }

    pub fn len(&self) -> usize {
        self.routes.read().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_right_client_state() {
        let d = SubscriptionDirectory::default();
        let org = OrgId::new("acme").unwrap();
        let mk = MailboxKey::parse(&"ab".repeat(16)).unwrap();
        d.insert("sub-1", &org, &mk, "s3cret-state");
        assert!(matches!(d.check("sub-1", Some("s3cret-state")), Verdict::Accepted(r) if r.mailbox == mk));
        assert_eq!(d.check("sub-1", Some("s3cret-statf")), Verdict::Forged);
        assert_eq!(d.check("sub-1", None), Verdict::Forged);
        assert_eq!(d.check("sub-2", Some("s3cret-state")), Verdict::Unknown);
        d.remove("sub-1");
        assert_eq!(d.check("sub-1", Some("s3cret-state")), Verdict::Unknown);
    }
}
