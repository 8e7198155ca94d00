//! Graph event ids, held in two parts.
//!
//! An Exchange item id is about 150 characters, and the ids of one mailbox's
//! events begin alike: the store and folder come first, the item last. A
//! mailbox holding 20 meetings kept some 3 KB of ids, most of it the same
//! head twenty times. An [`EventId`] keeps its last [`TAIL`] bytes (more
//! if that would split a character) itself and shares the head with every
//! other id that has the same one (interned: one copy per distinct head in
//! the process, let go at the table's next prune once no id holds it).
//!
//! The tail of an Exchange id is base64 of 36 bytes: it is held as those
//! bytes, inline (see `packed.rs`), so an id makes no allocation of
//! its own.
//!
//! It behaves as the string it stands for: equality, order and hash are the
//! string's, and serde reads and writes the string (so logs and snapshots
//! are unchanged).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::LazyLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::intern::{Shared, intern};
use crate::packed::Packed;

/// Bytes of text an id keeps for itself (the item part of an Exchange id).
pub const TAIL: usize = 48;
/// What [`TAIL`] characters of base64 encode.
const TAIL_BYTES: usize = TAIL / 4 * 3;

#[derive(Clone)]
pub struct EventId {
    /// Empty for ids no longer than a tail.
    head: Shared,
    tail: Packed<TAIL_BYTES>,
}

impl EventId {
    pub fn new(id: &str) -> Self {
        if id.len() <= TAIL {
            static EMPTY: LazyLock<Shared> = LazyLock::new(|| Shared::new(""));
            return Self {
                head: EMPTY.clone(),
                tail: Packed::new(id),
            };
        }
        let mut at = id.len() - TAIL;
        while !id.is_char_boundary(at) {
            at -= 1;
        }
        let (head, tail) = id.split_at(at);
        Self {
            head: intern(head),
            tail: Packed::new(tail),
        }
    }

    pub fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id compared with `other` as strings compare.
    pub fn cmp_str(&self, other: &str) -> Ordering {
        let (head, other) = (self.head.as_bytes(), other.as_bytes());
        let m = head.len().min(other.len());
        match head[..m].cmp(&other[..m]) {
            // The head begins `other`: the tail decides.
            Ordering::Equal if m == head.len() => self.tail.text().as_bytes().cmp(&other[m..]),
            // `other` ends inside the head.
            Ordering::Equal => Ordering::Greater,
            ord => ord,
        }
    }

    /// Whether this is the id `other`.
    pub fn is(&self, other: &str) -> bool {
        other.len() == self.len() && other.starts_with(&*self.head) && other.ends_with(&*self.tail.text())
    }
}

impl From<&str> for EventId {
    fn from(id: &str) -> Self {
        Self::new(id)
    }
}

impl From<String> for EventId {
    fn from(id: String) -> Self {
        Self::new(&id)
    }
}

impl PartialEq for EventId {
    fn eq(&self, other: &Self) -> bool {
        if Shared::same(&self.head, &other.head) {
            return self.tail == other.tail;
        }
        self.len() == other.len() && self.cmp(other) == Ordering::Equal
    }
}

impl Eq for EventId {}

impl PartialEq<str> for EventId {
    fn eq(&self, other: &str) -> bool {
        self.is(other)
    }
}

impl PartialEq<&str> for EventId {
    fn eq(&self, other: &&str) -> bool {
        self.is(other)
    }
}

impl PartialEq<String> for EventId {
    fn eq(&self, other: &String) -> bool {
        self.is(other)
    }
}

impl Ord for EventId {
    fn cmp(&self, other: &Self) -> Ordering {
        if Shared::same(&self.head, &other.head) {
            return self.tail.cmp(&other.tail);
        }
        // The heads first: the tails are written out only when one head begins the other.
        let (a, b) = (self.head.as_bytes(), other.head.as_bytes());
        let m = a.len().min(b.len());
        match a[..m].cmp(&b[..m]) {
            Ordering::Equal if a.len() == b.len() => self.tail.cmp(&other.tail),
            Ordering::Equal => {
                let (ta, tb) = (self.tail.text(), other.tail.text());
                a[m..]
                    .iter()
                    .chain(ta.as_bytes())
                    .cmp(b[m..].iter().chain(tb.as_bytes()))
            }
            ord => ord,
        }
    }
}

impl PartialOrd for EventId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash for EventId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Equal ids split alike and hold their tails alike, so the parts hash alike.
        state.write(self.head.as_bytes());
        state.write_u8(0xff);
        self.tail.hash(state);
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.head)?;
        f.write_str(&self.tail.text())
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let tail = self.tail.text();
        if self.head.is_empty() {
            return serializer.serialize_str(&tail);
        }
        // Written out on the stack: serde's `collect_str` would allocate a
        // String for each id (the digest writes every meeting's).
        let mut text = [0u8; 256];
        let (head, len) = (self.head.as_bytes(), self.len());
        if len > text.len() {
            return serializer.collect_str(self);
        }
        text[..head.len()].copy_from_slice(head);
        text[head.len()..len].copy_from_slice(tail.as_bytes());
        match std::str::from_utf8(&text[..len]) {
            Ok(text) => serializer.serialize_str(text),
            // Two strings end to end are one; not reached.
            Err(_) => serializer.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::text::from_str(deserializer, "an event id", |s| {
            Ok::<_, std::convert::Infallible>(EventId::new(s))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Strings as ids come: a long head, often shared, then an item part;
    /// any text too (non-ASCII included, to split on a character boundary).
    fn id() -> impl Strategy<Value = String> {
        prop_oneof![
            (0usize..3, 0usize..300, "[A-Za-z0-9_=-]{0,60}").prop_map(|(h, n, item)| {
                let head = ["AAMkAGI2", "AAMkAGI2TG93", "AAMkADQ5"][h];
                format!("{head}{}{item}", "A".repeat(n))
            }),
            ".{0,80}",
            // One mailbox's ids: a shared head, then 36 bytes of base64 (a tail held as bytes).
            (0usize..2, proptest::collection::vec(any::<u8>(), 36..=36)).prop_map(|(h, bytes)| {
                use base64::Engine;
                let head = ["AAMkAGI2TG93AAAA", "AAMkAGI2TG93AAAB"][h];
                format!("{head}{}", base64::engine::general_purpose::URL_SAFE.encode(bytes))
            }),
            // As Graph writes them: base64 of bytes, so the tail is held as bytes.
            (0usize..2, proptest::collection::vec(any::<u8>(), 30..110)).prop_map(|(alphabet, bytes)| {
                use base64::Engine;
                match alphabet {
                    0 => base64::engine::general_purpose::STANDARD.encode(bytes),
                    _ => base64::engine::general_purpose::URL_SAFE.encode(bytes),
                }
            }),
        ]
    }

    proptest! {
        #[test]
        fn an_event_id_is_its_string(a in id(), b in id()) {
            let (ia, ib) = (EventId::new(&a), EventId::new(&b));
            prop_assert_eq!(ia.to_string(), a.clone());
            prop_assert_eq!(ia.len(), a.len());
            prop_assert_eq!(ia.cmp(&ib), a.cmp(&b));
            prop_assert_eq!(ia == ib, a == b);
            prop_assert_eq!(ia.cmp_str(&b), a.cmp(&b));
            prop_assert_eq!(ia.is(&b), a == b);
            prop_assert!(ia == a.as_str());
            // Equal ids hash alike, under any hasher.
            let state = std::collections::hash_map::RandomState::new();
            use std::hash::BuildHasher;
            prop_assert_eq!(state.hash_one(&ia), state.hash_one(EventId::new(&a)));
            // Written exactly as the string: JSON and the log's codec.
            prop_assert_eq!(serde_json::to_string(&ia).unwrap(), serde_json::to_string(&a).unwrap());
            let bytes = crate::codec::encode(&ia).unwrap();
            prop_assert_eq!(&bytes, &crate::codec::encode(&a).unwrap());
            prop_assert_eq!(crate::codec::decode::<EventId>(&bytes).unwrap(), ia);
        }
    }

    #[test]
    fn ids_of_one_mailbox_share_their_head() {
        let head = format!("AAMkAGI2{}", "Q".repeat(100));
        let ids: Vec<EventId> = (0..20).map(|i| EventId::new(&format!("{head}{i:040}"))).collect();
        assert!(ids.windows(2).all(|w| Shared::same(&w[0].head, &w[1].head)));
        assert!(ids.iter().all(|i| i.tail.len() == TAIL));
        // Short ids keep all of themselves.
        let short = EventId::new("evt-1");
        assert_eq!(&*short.tail.text(), "evt-1");
        assert!(short.head.is_empty());
    }

    #[test]
    fn an_exchange_ids_item_part_is_held_as_its_bytes() {
        use base64::Engine;
        // As Graph (and the emulator) write them: base64 of some 105 bytes.
        let bytes: Vec<u8> = (0u8..105).map(|b| b.wrapping_mul(37)).collect();
        for id in [
            base64::engine::general_purpose::URL_SAFE.encode(&bytes),
            base64::engine::general_purpose::STANDARD.encode(&bytes),
        ] {
            let e = EventId::new(&id);
            assert!(e.tail.is_bytes(), "{id}");
            assert_eq!(e.to_string(), id);
        }
        assert_eq!(std::mem::size_of::<EventId>(), 48);
    }
}
