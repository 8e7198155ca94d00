//! Which mailbox a subscription serves, and its clientState, for the
//! webhook front door: the one place a notification is checked before it is
//! written to the inbox. Only a hash of each clientState is held, and
//! compared in constant time (`blake3::Hash` equality is constant-time).
//!
//! One map entry per subscription (the node holds one per enabled mailbox):
//! the route, and when it last brought a notification, kept in an atomic so
//! that the webhook notes it under the read lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use hcal_schemas::{GraphId, MailboxKey, OrgId, StreamId, Timestamp};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub org: OrgId,
    pub mailbox: MailboxKey,
    client_state: ClientStateDigest,
}

/// The first 128 bits of a clientState's blake3 hash: a notification that
/// matches it without knowing the clientState would need a second preimage.
/// The directory holds one per subscription.
#[derive(Clone, Debug)]
struct ClientStateDigest([u8; 16]);

impl ClientStateDigest {
    fn of(client_state: &str) -> Self {
        let mut d = [0u8; 16];
        d.copy_from_slice(&blake3::hash(client_state.as_bytes()).as_bytes()[..16]);
        ClientStateDigest(d)
    }
}

/// In constant time, as secrets are compared.
impl PartialEq for ClientStateDigest {
    fn eq(&self, other: &Self) -> bool {
        self.0.iter().zip(&other.0).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl Eq for ClientStateDigest {}

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

struct Entry {
    route: Route,
    /// When the subscription last brought an accepted notification (not
    /// durable); `NEVER` before the first.
    seen: AtomicI64,
}

const NEVER: i64 = i64::MIN;

#[derive(Clone, Default)]
pub struct SubscriptionDirectory {
    routes: Arc<RwLock<HashMap<GraphId, Entry>>>,
}

impl SubscriptionDirectory {
    pub fn insert(&self, subscription_id: &str, org: &OrgId, mailbox: &MailboxKey, client_state: &str) {
        let route = Route {
            org: org.clone(),
            mailbox: mailbox.clone(),
            client_state: ClientStateDigest::of(client_state),
        };
        if let Ok(mut m) = self.routes.write() {
            let id = GraphId::new(subscription_id);
            match m.get_mut(&id) {
                // Re-inserted (a restart's reload, a changed clientState): keep when it was last heard from.
                Some(e) => e.route = route,
                None => {
                    let entry = Entry {
                        route,
                        seen: AtomicI64::new(NEVER),
                    };
                    m.insert(id, entry);
                }
            }
        }
    }

    pub fn remove(&self, subscription_id: &str) {
        if let Ok(mut m) = self.routes.write() {
            m.remove(&GraphId::new(subscription_id));
        }
    }

    pub fn touch(&self, subscription_id: &str, at: Timestamp) {
        if let Ok(m) = self.routes.read()
            && let Some(e) = m.get(&GraphId::new(subscription_id))
        {
            e.seen.fetch_max(at.0, Ordering::Relaxed);
        }
    }

    pub fn last_notification(&self, subscription_id: &str) -> Option<Timestamp> {
        let m = self.routes.read().ok()?;
        let at = m.get(&GraphId::new(subscription_id))?.seen.load(Ordering::Relaxed);
        (at != NEVER).then_some(Timestamp(at))
    }

    pub fn check(&self, subscription_id: &str, client_state: Option<&str>) -> Verdict {
        let Ok(m) = self.routes.read() else {
            return Verdict::Unknown;
        };
        match m.get(&GraphId::new(subscription_id)).map(|e| &e.route) {
            None => Verdict::Unknown,
            Some(route) => {
                let given = ClientStateDigest::of(client_state.unwrap_or_default());
                if given == route.client_state {
                    Verdict::Accepted(route.clone())
                } else {
                    Verdict::Forged
                }
            }
        }
    }

    pub fn route(&self, subscription_id: &str) -> Option<Route> {
        self.routes
            .read()
            .ok()
            .and_then(|m| m.get(&GraphId::new(subscription_id)).map(|e| e.route.clone()))
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

    /// A directory knowing subscription `sub-1` with `client_state`.
    fn with_sub_1(client_state: &str) -> (SubscriptionDirectory, OrgId, MailboxKey) {
        let d = SubscriptionDirectory::default();
        let org = OrgId::new("acme").unwrap();
        let mk = MailboxKey::parse(&"ab".repeat(16)).unwrap();
        d.insert("sub-1", &org, &mk, client_state);
        (d, org, mk)
    }

    #[test]
    fn accepts_only_the_right_client_state() {
        let (d, _, mk) = with_sub_1("s3cret-state");
        assert!(matches!(d.check("sub-1", Some("s3cret-state")), Verdict::Accepted(r) if r.mailbox == mk));
        assert_eq!(d.check("sub-1", Some("s3cret-statf")), Verdict::Forged);
        assert_eq!(d.check("sub-1", None), Verdict::Forged);
        assert_eq!(d.check("sub-2", Some("s3cret-state")), Verdict::Unknown);
        d.remove("sub-1");
        assert_eq!(d.check("sub-1", Some("s3cret-state")), Verdict::Unknown);
    }

    #[test]
    fn remembers_the_last_notification_of_a_known_subscription() {
        let (d, org, mk) = with_sub_1("state");
        assert_eq!(d.last_notification("sub-1"), None);
        d.touch("sub-1", Timestamp(2_000));
        // A late, older notification does not move it back.
        d.touch("sub-1", Timestamp(1_000));
        assert_eq!(d.last_notification("sub-1"), Some(Timestamp(2_000)));
        // Loaded again (as at a restart's reload): still known.
        d.insert("sub-1", &org, &mk, "state");
        assert_eq!(d.last_notification("sub-1"), Some(Timestamp(2_000)));
        // Unknown subscriptions are not remembered.
        d.touch("sub-2", Timestamp(3_000));
        assert_eq!(d.last_notification("sub-2"), None);
        d.remove("sub-1");
        assert_eq!(d.last_notification("sub-1"), None);
    }
}
