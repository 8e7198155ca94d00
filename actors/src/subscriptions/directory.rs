//! Which mailbox a subscription serves, and whether a notification carries
//! its clientState: the webhook's check before anything is written to the
//! inbox.
//!
//! The log's subscriptions table says whose a subscription is; its
//! clientState stays sealed in the event that created it. The first check
//! of a subscription opens it there and keeps only a hash, compared in
//! constant time, in a bounded set of recently checked subscriptions: a
//! node holds nothing here for a mailbox that is not being notified.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hcal_schemas::events::subscription::CLIENT_STATE_FIELD;
use hcal_schemas::{EventFamily, GraphId, MailboxKey, Opened, OrgId, StreamId, SubscriptionEvent};
use tracing::warn;

use crate::store::Store;
use crate::tables::subscriptions;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub org: OrgId,
    pub mailbox: MailboxKey,
    client_state: ClientStateDigest,
}

/// The first 128 bits of a clientState's blake3 hash: a notification that
/// matches it without knowing the clientState would need a second preimage.
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

/// Subscriptions checked recently; past this many the set starts again
/// (each miss costs a table read and opening one sealed value).
const RECENT: usize = 4096;

/// Subscriptions checked recently, and how many removals the directory
/// was told of: a route read before a removal is not kept after it.
#[derive(Default)]
struct Recent {
    removals: u64,
    routes: HashMap<GraphId, Route>,
}

#[derive(Clone)]
pub struct SubscriptionDirectory {
    store: Store,
    recent: Arc<Mutex<Recent>>,
    /// Subscriptions the node has (for the gauge).
    known: Arc<AtomicUsize>,
}

impl SubscriptionDirectory {
    pub fn new(store: Store) -> Self {
        let known = subscriptions::count(&store.log).unwrap_or_else(|e| {
            warn!(error = %e, "counting subscriptions failed");
            0
        });
        Self {
            store,
            recent: Arc::default(),
            known: Arc::new(AtomicUsize::new(known)),
        }
    }

    /// A subscription was recorded as created.
    pub fn added(&self) {
        self.known.fetch_add(1, Ordering::Relaxed);
    }

    /// A subscription was recorded as removed: its notifications are refused from now on.
    pub fn removed(&self, subscription_id: &str) {
        if let Ok(mut r) = self.recent.lock() {
            r.removals += 1;
            r.routes.remove(&GraphId::new(subscription_id));
        }
        let _ = self
            .known
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(1)));
    }

    pub fn check(&self, subscription_id: &str, client_state: Option<&str>) -> Verdict {
        let id = GraphId::new(subscription_id);
        let (cached, removals) = match self.recent.lock() {
            Ok(r) => (r.routes.get(&id).cloned(), r.removals),
            Err(_) => (None, u64::MAX),
        };
        let route = match cached {
            Some(r) => r,
            None => match self.load(subscription_id) {
                Some(route) => {
                    if let Ok(mut r) = self.recent.lock()
                        && r.removals == removals
                    {
                        if r.routes.len() >= RECENT {
                            r.routes = HashMap::new();
                        }
                        r.routes.insert(id, route.clone());
                    }
                    route
                }
                None => return Verdict::Unknown,
            },
        };
        if ClientStateDigest::of(client_state.unwrap_or_default()) == route.client_state {
            Verdict::Accepted(route)
        } else {
            Verdict::Forged
        }
    }

    /// The route of a subscription from the table, its clientState opened
    /// from the creating event (None: not ours, or it cannot be opened).
    fn load(&self, subscription_id: &str) -> Option<Route> {
        let s = match subscriptions::get(&self.store.log, subscription_id) {
            Ok(s) => s?,
            Err(e) => {
                warn!(error = %e, "reading the subscriptions table failed");
                return None;
            }
        };
        let stream = StreamId::subscriptions(&s.org);
        let mut client_state = None;
        let read = self.store.log.read_versions(&stream, &[s.created_in], |f| {
            if let Ok(SubscriptionEvent::SubscriptionCreated(e)) =
                SubscriptionEvent::decode(f.type_name, f.schema_version, f.payload)
                && e.subscription_id == subscription_id
                && let Ok(Opened::Plain(cs)) =
                    e.client_state
                        .open(self.store.keys.as_ref(), &stream, CLIENT_STATE_FIELD)
            {
                client_state = Some(ClientStateDigest::of(&cs));
            }
            Ok(())
        });
        if let Err(e) = &read {
            warn!(error = %e, "reading a subscription's creating event failed");
        }
        let Some(client_state) = client_state else {
            warn!(org = %s.org, "a subscription's client state could not be opened; its notifications are refused");
            return None;
        };
        Some(Route {
            org: s.org,
            mailbox: s.mailbox,
            client_state,
        })
    }

    pub fn len(&self) -> usize {
        self.known.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use hcal_schemas::events::subscription::{RESOURCE_FIELD, SubscriptionCreated, SubscriptionRemoved};
    use hcal_schemas::{SecretKey, Timestamp};

    use super::*;
    use crate::log::{ExpectedVersion, LogOptions};

    /// A store whose log created subscription `sub-1` with `client_state`.
    fn with_sub_1(client_state: &str) -> (tempfile::TempDir, Store, MailboxKey) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), SecretKey::from_bytes([3; 32]), &LogOptions::default()).unwrap();
        let org = OrgId::new("acme").unwrap();
        let mk = MailboxKey::parse(&"ab".repeat(16)).unwrap();
        let stream = StreamId::subscriptions(&org);
        let sealer = store.sealer(&stream).unwrap();
        let created = SubscriptionCreated {
            mailbox: mk.clone(),
            subscription_id: "sub-1".into(),
            resource: sealer
                .seal(RESOURCE_FIELD, &"users/a@acme.example/events".to_string())
                .unwrap(),
            expires_at: Timestamp(10_000),
            client_state: sealer.seal(CLIENT_STATE_FIELD, &client_state.to_string()).unwrap(),
        };
        store
            .append_blocking(&stream, ExpectedVersion::Exact(0), &[SubscriptionEvent::from(created)])
            .unwrap();
        (dir, store, mk)
    }

    #[test]
    fn accepts_only_the_right_client_state() {
        let (_dir, store, mk) = with_sub_1("s3cret-state");
        let d = SubscriptionDirectory::new(store.clone());
        assert_eq!(d.len(), 1);
        assert!(matches!(d.check("sub-1", Some("s3cret-state")), Verdict::Accepted(r) if r.mailbox == mk));
        assert_eq!(d.check("sub-1", Some("s3cret-statf")), Verdict::Forged);
        assert_eq!(d.check("sub-1", None), Verdict::Forged);
        assert_eq!(d.check("sub-2", Some("s3cret-state")), Verdict::Unknown);
        // Removed (recorded, then the directory told): unknown from then on.
        let removed = SubscriptionRemoved {
            subscription_id: "sub-1".into(),
            reason: hcal_schemas::events::subscription::RemovalReason::UserDisabled,
        };
        let stream = StreamId::subscriptions(&OrgId::new("acme").unwrap());
        store
            .append_blocking(&stream, ExpectedVersion::Exact(1), &[SubscriptionEvent::from(removed)])
            .unwrap();
        d.removed("sub-1");
        assert_eq!(d.check("sub-1", Some("s3cret-state")), Verdict::Unknown);
        assert_eq!(d.len(), 0);
    }
}
