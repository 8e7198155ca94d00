//! A mailbox's meetings by Graph event id: one sorted vector of records.
//!
//! Each record carries its own id, so a map keyed by id would hold every id
//! twice (Graph's are about 150 characters) plus a tree node's slack. Lookups
//! are binary searches; an insert or removal moves the records after it,
//! which for the few hundred meetings of a mailbox's window is cheap.
//!
//! Encoded as the `BTreeMap<String, HeldMeeting>` it replaced: a map from
//! id to record, ids ascending.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::event_id::EventId;
use crate::events::mailbox::HeldMeeting;

/// What a meeting is looked up by: its id as text or as held.
pub trait IdRef {
    /// How this id orders against `held`.
    fn cmp_id(&self, held: &EventId) -> std::cmp::Ordering;
}

impl IdRef for str {
    fn cmp_id(&self, held: &EventId) -> std::cmp::Ordering {
        held.cmp_str(self).reverse()
    }
}

impl IdRef for String {
    fn cmp_id(&self, held: &EventId) -> std::cmp::Ordering {
        self.as_str().cmp_id(held)
    }
}

impl IdRef for EventId {
    fn cmp_id(&self, held: &EventId) -> std::cmp::Ordering {
        self.cmp(held)
    }
}

/// Records to make room for when `len` fill the vector. By an eighth up to
/// 64, not double: a mailbox of 20 meetings would otherwise carry room for
/// 12 more records (about 1.8 KB). By half beyond: a big calendar (a
/// room's; the 1,250-6,250 meetings of a stream in `hcal-bench log`) grown
/// an eighth at a time was copied some 9 times over, and replay spent its
/// time in those copies and in the page faults of each new block.
fn growth(len: usize) -> usize {
    if len < 64 { len / 8 + 1 } else { len / 2 }
}

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Meetings {
    /// Ascending by id, ids unique.
    records: Vec<HeldMeeting>,
}

impl Meetings {
    fn find<K: IdRef + ?Sized>(&self, id: &K) -> Result<usize, usize> {
        self.records.binary_search_by(|m| id.cmp_id(&m.id).reverse())
    }

    pub fn get<K: IdRef + ?Sized>(&self, id: &K) -> Option<&HeldMeeting> {
        self.find(id).ok().map(|i| &self.records[i])
    }

    pub fn contains_key<K: IdRef + ?Sized>(&self, id: &K) -> bool {
        self.find(id).is_ok()
    }

    /// Gives back the room the records grew into (see [`growth`]), or the
    /// room of records since removed.
    pub fn shrink_to_fit(&mut self) {
        self.records.shrink_to_fit();
    }

    /// Puts `m` in place of the record with its id, if any.
    pub fn insert(&mut self, m: HeldMeeting) {
        self.insert_if(m, |_, _| true);
    }

    /// Puts `m` in place of the record with its id if `replaces(old, &m)`,
    /// or beside the others if there is none (one search either way).
    pub fn insert_if(&mut self, m: HeldMeeting, replaces: impl FnOnce(&HeldMeeting, &HeldMeeting) -> bool) {
        match self.find(&m.id) {
            Ok(i) if replaces(&self.records[i], &m) => self.records[i] = m,
            Ok(_) => {}
            Err(i) => {
                if self.records.len() == self.records.capacity() {
                    self.records.reserve_exact(growth(self.records.len()));
                }
                self.records.insert(i, m)
            }
        }
    }

    pub fn remove<K: IdRef + ?Sized>(&mut self, id: &K) -> Option<HeldMeeting> {
        let i = self.find(id).ok()?;
        let m = self.records.remove(i);
        // Give memory back once the vector is mostly empty (a window that slid, a purge).
        if self.records.capacity() > 16 && self.records.len() < self.records.capacity() / 4 {
            self.records.shrink_to(self.records.len() * 2);
        }
        Some(m)
    }

    /// The records, ascending by id.
    pub fn values(&self) -> std::slice::Iter<'_, HeldMeeting> {
        self.records.iter()
    }

    /// The ids, ascending.
    pub fn keys(&self) -> impl Iterator<Item = &EventId> {
        self.records.iter().map(|m| &m.id)
    }

    /// Records there is room for without growing.
    pub fn capacity(&self) -> usize {
        self.records.capacity()
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

impl<K: IdRef + ?Sized> std::ops::Index<&K> for Meetings {
    type Output = HeldMeeting;

    /// The record of `id`; panics if there is none (as a map's index does).
    fn index(&self, id: &K) -> &HeldMeeting {
        match self.get(id) {
            Some(m) => m,
            None => panic!("no meeting with the given id"),
        }
    }
}

impl FromIterator<HeldMeeting> for Meetings {
    fn from_iter<I: IntoIterator<Item = HeldMeeting>>(iter: I) -> Self {
        let mut records: Vec<HeldMeeting> = iter.into_iter().collect();
        // The last record of an id wins, as repeated map inserts would have it.
        records.reverse();
        records.sort_by(|a, b| a.id.cmp(&b.id));
        records.dedup_by(|later, kept| later.id == kept.id);
        records.shrink_to_fit();
        Self { records }
    }
}

impl fmt::Debug for Meetings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.records.iter().map(|m| (&m.id, m))).finish()
    }
}

impl Serialize for Meetings {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.records.len()))?;
        for m in &self.records {
            map.serialize_entry(&m.id, m)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Meetings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ById;

        impl<'de> Visitor<'de> for ById {
            type Value = Meetings;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from event id to meeting")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Meetings, A::Error> {
                let mut records = Vec::with_capacity(access.size_hint().unwrap_or(0).min(4096));
                while let Some((id, m)) = access.next_entry::<String, HeldMeeting>()? {
                    if m.id != id {
                        return Err(serde::de::Error::custom("a meeting filed under another id"));
                    }
                    records.push(m);
                }
                Ok(records.into_iter().collect())
            }
        }

        deserializer.deserialize_map(ById)
    }
}
