//! The emulator's subscriptions by id, and by mailbox: a calendar change
//! looks up its mailbox's few subscriptions instead of scanning them all
//! (with 10,000 mailboxes, the scan cost the emulator as much CPU per change
//! as the node under test spent).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::Subscription;

#[derive(Default)]
pub struct SubscriptionSet {
    by_id: BTreeMap<String, Subscription>,
    /// Graph user id -> ids of its subscriptions.
    by_mailbox: HashMap<String, BTreeSet<String>>,
}

impl SubscriptionSet {
    pub fn insert(&mut self, sub: Subscription) {
        self.remove(&sub.id);
        self.by_mailbox
            .entry(sub.mailbox_id.clone())
            .or_default()
            .insert(sub.id.clone());
        self.by_id.insert(sub.id.clone(), sub);
    }

    pub fn remove(&mut self, id: &str) -> Option<Subscription> {
        let sub = self.by_id.remove(id)?;
        if let Some(ids) = self.by_mailbox.get_mut(&sub.mailbox_id) {
            ids.remove(&sub.id);
            if ids.is_empty() {
                self.by_mailbox.remove(&sub.mailbox_id);
            }
        }
        Some(sub)
    }

    pub fn get(&self, id: &str) -> Option<&Subscription> {
        self.by_id.get(id)
    }

    /// A subscription to change. Its mailbox is fixed at creation.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Subscription> {
        self.by_id.get_mut(id)
    }

    pub fn values(&self) -> impl Iterator<Item = &Subscription> {
        self.by_id.values()
    }

    /// Every subscription, to change. Their mailboxes are fixed at creation.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Subscription> {
        self.by_id.values_mut()
    }

    /// The subscriptions to one mailbox (by Graph user id), in id order.
    pub fn of_mailbox<'a>(&'a self, mailbox_id: &str) -> impl Iterator<Item = &'a Subscription> + 'a {
        self.by_mailbox
            .get(mailbox_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.by_id.get(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(id: &str, mailbox: &str) -> Subscription {
        Subscription {
            id: id.into(),
            tenant_id: "t".into(),
            client_id: "c".into(),
            resource: format!("/users/{mailbox}/events"),
            mailbox_id: mailbox.into(),
            change_types: vec![],
            change_type_text: String::new(),
            notification_url: String::new(),
            lifecycle_url: None,
            expiration: chrono::Utc::now(),
            client_state: None,
            latest_tls: String::new(),
            include_resource_data: false,
            paused: false,
            reauth_sent: false,
            missed_pending: false,
            creator_id: String::new(),
        }
    }

    fn ids<'a>(set: &'a SubscriptionSet, mailbox: &str) -> Vec<&'a str> {
        set.of_mailbox(mailbox).map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn a_mailbox_finds_exactly_its_live_subscriptions() {
        let mut set = SubscriptionSet::default();
        set.insert(sub("s2", "alice"));
        set.insert(sub("s1", "alice"));
        set.insert(sub("s3", "bob"));
        assert_eq!(ids(&set, "alice"), ["s1", "s2"]);
        assert_eq!(ids(&set, "bob"), ["s3"]);
        set.insert(sub("s1", "alice"));
        assert_eq!(ids(&set, "alice"), ["s1", "s2"], "replacing keeps one entry");
        assert_eq!(set.remove("s1").map(|s| s.id), Some("s1".into()));
        assert!(set.remove("s1").is_none());
        assert_eq!(ids(&set, "alice"), ["s2"]);
        set.remove("s2");
        assert!(ids(&set, "alice").is_empty());
        assert_eq!(set.values().count(), 1);
    }
}
