//! The durable inbox: Graph notifications written to disk (group-committed
//! with the log) before Graph gets its 202, kept until the consumer has made
//! their consequences durable, and picked up again after a restart.
//!
//! Keys coalesce duplicates: one entry per (mailbox, event, etag) for
//! changes, per (subscription, lifecycle event) for lifecycle notifications.
//! Graph sends 2 to 4 notifications per change; they land on one key.

use hcal_schemas::{StreamId, Timestamp, codec};
use serde::{Deserialize, Serialize};

use crate::log::layout::{HEARD, INBOX};
use crate::log::{EventLog, LogError, SideWrite};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeType {
    Created,
    Updated,
    Deleted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleEvent {
    ReauthorizationRequired,
    SubscriptionRemoved,
    Missed,
}

impl InboxItem {
    pub fn subscription_id(&self) -> &str {
        match self {
            InboxItem::Change { subscription_id, .. } | InboxItem::Lifecycle { subscription_id, .. } => subscription_id,
        }
    }

    pub fn received_at(&self) -> Timestamp {
        match self {
            InboxItem::Change { received_at, .. } | InboxItem::Lifecycle { received_at, .. } => *received_at,
        }
    }
}

/// One accepted notification, as the inbox keeps it (no content: ids only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InboxItem {
    Change {
        event_id: String,
        etag: Option<String>,
        change_type: ChangeType,
        subscription_id: String,
        received_at: Timestamp,
    },
    Lifecycle {
        subscription_id: String,
        event: LifecycleEvent,
        received_at: Timestamp,
    },
}

/// An entry and the key that retires it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub key: Vec<u8>,
    pub item: InboxItem,
}

impl Pending {
    /// When a change notification arrived (None for lifecycle entries).
    pub fn received_at(&self) -> Option<Timestamp> {
        match &self.item {
            InboxItem::Change { received_at, .. } => Some(*received_at),
            InboxItem::Lifecycle { .. } => None,
        }
    }

    /// The side write that removes this entry (commit it with its consequences).
    pub fn retire(&self) -> SideWrite {
        SideWrite::Remove(self.key.clone())
    }
}

fn prefix(stream: &StreamId) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.text().len() + 2);
    k.push(INBOX);
    k.extend_from_slice(stream.text().as_bytes());
    k.push(0);
    k
}

/// The key of `item` in `stream`'s part of the inbox.
pub fn key(stream: &StreamId, item: &InboxItem) -> Vec<u8> {
    let mut k = prefix(stream);
    match item {
        InboxItem::Change {
            event_id,
            etag,
            change_type,
            ..
        } => {
            k.push(b'c');
            k.extend_from_slice(event_id.as_bytes());
            k.push(0);
            match etag {
                Some(e) => k.extend_from_slice(e.as_bytes()),
                None => k.extend_from_slice(format!("{change_type:?}").as_bytes()),
            }
        }
        InboxItem::Lifecycle {
            subscription_id, event, ..
        } => {
            k.push(b'l');
            k.extend_from_slice(subscription_id.as_bytes());
            k.push(0);
            k.extend_from_slice(format!("{event:?}").as_bytes());
        }
    }
    k
}

fn heard_key(subscription_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(subscription_id.len() + 1);
    k.push(HEARD);
    k.extend_from_slice(subscription_id.as_bytes());
    k
}

#[derive(Clone)]
pub struct Inbox {
    log: EventLog,
}

impl Inbox {
    pub fn new(log: EventLog) -> Self {
        Self { log }
    }

    /// Writes `items` durably, and when each of their subscriptions was
    /// last heard from; returns once they are on disk.
    pub async fn accept(&self, items: &[(StreamId, InboxItem)]) -> Result<(), LogError> {
        let writes = Self::writes(items)?;
        self.log.write_durable(writes).await
    }

    fn writes(items: &[(StreamId, InboxItem)]) -> Result<Vec<SideWrite>, LogError> {
        let mut heard: std::collections::BTreeMap<&str, Timestamp> = std::collections::BTreeMap::new();
        let mut writes = Vec::with_capacity(items.len() + 1);
        for (s, i) in items {
            writes.push(SideWrite::Insert(key(s, i), codec::encode(i)?));
            let at = heard.entry(i.subscription_id()).or_insert(i.received_at());
            *at = (*at).max(i.received_at());
        }
        writes.extend(
            heard
                .into_iter()
                .map(|(id, at)| SideWrite::Insert(heard_key(id), at.0.to_be_bytes().to_vec())),
        );
        Ok(writes)
    }

    /// When a subscription last brought an accepted notification.
    pub fn last_notification(&self, subscription_id: &str) -> Result<Option<Timestamp>, LogError> {
        match self.log.side(&heard_key(subscription_id))? {
            Some(v) => {
                let at = crate::log::layout::be_u64(&v).ok_or_else(|| LogError::Corrupt("heard time".into()))?;
                Ok(Some(Timestamp(at as i64)))
            }
            None => Ok(None),
        }
    }

    /// The side write that forgets a removed subscription's last notification.
    pub fn forget(subscription_id: &str) -> SideWrite {
        SideWrite::Remove(heard_key(subscription_id))
    }

    /// At most `limit` of what is waiting for `stream`, oldest key first.
    pub fn pending(&self, stream: &StreamId, limit: usize) -> Result<Vec<Pending>, LogError> {
        self.log
            .scan_side(&prefix(stream))
            .take(limit)
            .map(|r| {
                let (k, v) = r?;
                let item = codec::decode(&v).map_err(|e| LogError::Corrupt(format!("inbox entry: {e}")))?;
                Ok(Pending { key: k.to_vec(), item })
            })
            .collect()
    }

    /// How many entries wait for `stream`.
    pub fn count(&self, stream: &StreamId) -> Result<usize, LogError> {
        let mut n = 0;
        for r in self.log.scan_side(&prefix(stream)) {
            r?;
            n += 1;
        }
        Ok(n)
    }

    /// Every stream with something waiting (at start-up).
    pub fn streams_with_pending(&self) -> Result<Vec<StreamId>, LogError> {
        let mut out: Vec<StreamId> = Vec::new();
        for r in self.log.scan_side(&[INBOX]) {
            let (k, _) = r?;
            let end = k.iter().skip(1).position(|b| *b == 0).map(|p| p + 1).unwrap_or(k.len());
            let name = std::str::from_utf8(&k[1..end]).map_err(|_| LogError::Corrupt("inbox key".into()))?;
            if out.last().is_none_or(|s| &*s.text() != name) {
                out.push(StreamId::parse(name).map_err(|e| LogError::Corrupt(e.to_string()))?);
            }
        }
        Ok(out)
    }

    /// Removes entries whose work needed nothing durable.
    pub async fn retire(&self, pending: &[Pending]) -> Result<(), LogError> {
        if pending.is_empty() {
            return Ok(());
        }
        self.log
            .write_durable(pending.iter().map(Pending::retire).collect())
            .await
    }

    /// How many entries wait in all.
    pub fn len(&self) -> usize {
        self.log.scan_side(&[INBOX]).count()
    }

    pub fn is_empty(&self) -> bool {
        self.log.scan_side(&[INBOX]).next().is_none()
    }
}
