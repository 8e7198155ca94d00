//! One copy per distinct string, process-wide, for text that many records
//! repeat: organisation ids (in every stream id), the heads of Graph event
//! ids (see [`crate::event_id`]) and short codes such as join explanations
//! (see [`Code`]). Each copy is one pointer wide (`Shared`). A string is let go once
//! nothing but the table holds it: the table is pruned every
//! `PRUNE_EVERY` new strings, so it holds about as many as are alive.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::{Arc, LazyLock, Mutex};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

static TABLE: LazyLock<Mutex<Table>> = LazyLock::new(|| Mutex::new(Table::default()));

#[derive(Default)]
struct Table {
    set: HashSet<Shared>,
    added: usize,
}

/// A shared copy of a string, one pointer wide (an `Arc<str>` is two): the
/// records that hold one (an organisation id in every stream id, an event
/// id's head, a code) are many. It compares, orders and hashes as its text.
#[derive(Clone)]
pub(crate) struct Shared(Arc<Box<str>>);

impl Shared {
    pub(crate) fn new(s: &str) -> Self {
        Shared(Arc::new(s.into()))
    }

    /// Whether both are the same copy (then they are equal).
    pub(crate) fn same(a: &Shared, b: &Shared) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl Deref for Shared {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Shared {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq for Shared {
    fn eq(&self, other: &Self) -> bool {
        Shared::same(self, other) || **self == **other
    }
}

impl Eq for Shared {}

impl Ord for Shared {
    fn cmp(&self, other: &Self) -> Ordering {
        (**self).cmp(&**other)
    }
}

impl PartialOrd for Shared {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash for Shared {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

pub(crate) const PRUNE_EVERY: usize = 1024;

/// The shared copy of `s`.
pub(crate) fn intern(s: &str) -> Shared {
    let mut table = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(h) = table.set.get(s) {
        return h.clone();
    }
    table.added += 1;
    if table.added.is_multiple_of(PRUNE_EVERY) {
        table.set.retain(|h| Arc::strong_count(&h.0) > 1);
    }
    let h = Shared::new(s);
    table.set.insert(h.clone());
    h
}

/// Whether the table holds a string equal to `s` (for tests).
#[cfg(test)]
pub(crate) fn holds(s: &str) -> bool {
    TABLE.lock().unwrap_or_else(|p| p.into_inner()).set.contains(s)
}

/// How many strings the table holds that start with `prefix` (for tests).
#[cfg(test)]
pub(crate) fn count_starting_with(prefix: &str) -> usize {
    let table = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    table.set.iter().filter(|s| s.starts_with(prefix)).count()
}

/// A short code that many records carry (a join explanation such as
/// `teams_link_in_body`): one shared copy per distinct value. Reads as the
/// `str` it holds; serde writes and reads the string.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Code(Shared);

impl Code {
    pub fn new(s: &str) -> Self {
        Self(intern(s))
    }
}

impl Deref for Code {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Code {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for Code {
    fn from(s: String) -> Self {
        Self::new(&s)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::text::from_str(deserializer, "a code", |s| {
            Ok::<_, std::convert::Infallible>(Code::new(s))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_share_one_copy_and_read_as_their_text() {
        let a = Code::new("teams_link_in_body");
        let b: Code = serde_json::from_str("\"teams_link_in_body\"").unwrap();
        assert!(Shared::same(&a.0, &b.0));
        assert_eq!(std::mem::size_of::<Option<Code>>(), 8);
        assert_eq!(&*b, "teams_link_in_body");
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"teams_link_in_body\"");
        let bytes = crate::codec::encode(&a).unwrap();
        assert_eq!(bytes, crate::codec::encode("teams_link_in_body").unwrap());
        assert_eq!(crate::codec::decode::<Code>(&bytes).unwrap(), a);
    }

    #[test]
    fn strings_nothing_holds_are_let_go() {
        let unique = |i: usize| format!("INTERN-TEST-{i:08}");
        let kept = intern(&unique(0));
        for i in 1..=PRUNE_EVERY * 2 {
            drop(intern(&unique(i)));
        }
        assert!(holds(&kept), "a string in use was dropped");
        let ours = count_starting_with("INTERN-TEST-");
        assert!(ours <= PRUNE_EVERY + 1, "{ours} strings nothing holds are still held");
    }
}
