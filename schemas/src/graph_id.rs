//! Ids Graph gives as GUIDs (subscriptions, users), of which a node holds
//! one or two per mailbox: held as their 16 bytes when they are a GUID in
//! canonical form (lowercase, hyphenated), as their text otherwise. They
//! read, write, sort, hash and print as the text.

use std::cmp::Ordering;
use std::ops::Deref;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct GraphId(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    Guid([u8; 16]),
    Text(Box<str>),
}

/// Where the hyphens of a canonical GUID are.
const HYPHENS: [usize; 4] = [8, 13, 18, 23];
const GUID_LEN: usize = 36;

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn parse_guid(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    if b.len() != GUID_LEN || HYPHENS.iter().any(|&i| b[i] != b'-') {
        return None;
    }
    let mut digits = b
        .iter()
        .enumerate()
        .filter(|(i, _)| !HYPHENS.contains(i))
        .map(|(_, c)| *c);
    let mut out = [0u8; 16];
    for byte in &mut out {
        let hi = nibble(digits.next()?)?;
        let lo = nibble(digits.next()?)?;
        *byte = hi << 4 | lo;
    }
    Some(out)
}

/// A GraphId's text: borrowed, or a GUID written out on the stack.
pub struct GraphIdText<'a>(TextRepr<'a>);

enum TextRepr<'a> {
    Guid([u8; GUID_LEN]),
    Text(&'a str),
}

impl Deref for GraphIdText<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match &self.0 {
            // Only hex digits and hyphens go in.
            TextRepr::Guid(b) => std::str::from_utf8(b).unwrap_or_default(),
            TextRepr::Text(s) => s,
        }
    }
}

impl GraphId {
    pub fn new(s: &str) -> Self {
        match parse_guid(s) {
            Some(g) => GraphId(Repr::Guid(g)),
            None => GraphId(Repr::Text(s.into())),
        }
    }

    /// The id's text, without allocating.
    pub fn text(&self) -> GraphIdText<'_> {
        match &self.0 {
            Repr::Text(s) => GraphIdText(TextRepr::Text(s)),
            Repr::Guid(g) => {
                const DIGITS: &[u8; 16] = b"0123456789abcdef";
                let mut out = [b'-'; GUID_LEN];
                let mut slots = (0..GUID_LEN).filter(|i| !HYPHENS.contains(i));
                for byte in g {
                    for nib in [byte >> 4, byte & 0xf] {
                        if let Some(i) = slots.next() {
                            out[i] = DIGITS[usize::from(nib)];
                        }
                    }
                }
                GraphIdText(TextRepr::Guid(out))
            }
        }
    }
}

impl Ord for GraphId {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.0, &other.0) {
            // Hex digits sort as their values and the hyphens stand alike.
            (Repr::Guid(a), Repr::Guid(b)) => a.cmp(b),
            _ => self.text().cmp(&other.text()),
        }
    }
}

impl PartialOrd for GraphId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

crate::text::as_text!(GraphId, "an id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guid_is_held_as_bytes_and_anything_else_as_text() {
        let g = GraphId::new("7f105c7d-2dc5-4530-97cd-4e7ae6534c07");
        assert!(matches!(g.0, Repr::Guid(_)));
        assert_eq!(&*g.text(), "7f105c7d-2dc5-4530-97cd-4e7ae6534c07");
        for other in [
            "7F105C7D-2DC5-4530-97CD-4E7AE6534C07",
            "sub-1",
            "7f105c7d2dc5453097cd4e7ae6534c07",
            "",
        ] {
            let t = GraphId::new(other);
            assert!(matches!(t.0, Repr::Text(_)), "{other}");
            assert_eq!(&*t.text(), other);
        }
    }

    proptest::proptest! {
        /// Whatever it holds, a GraphId is its text: it prints, sorts,
        /// compares and writes (JSON and codec) as the string did.
        #[test]
        fn a_graph_id_is_its_text(
            a in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-fA-F-]{0,40}",
            b in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-fA-F-]{0,40}",
        ) {
            let (ga, gb) = (GraphId::new(&a), GraphId::new(&b));
            proptest::prop_assert_eq!(ga.to_string(), a.clone());
            proptest::prop_assert_eq!(ga.cmp(&gb), a.cmp(&b));
            proptest::prop_assert_eq!(ga == gb, a == b);
            proptest::prop_assert_eq!(serde_json::to_string(&ga).unwrap(), serde_json::to_string(&a).unwrap());
            let bytes = crate::codec::encode(&ga).unwrap();
            proptest::prop_assert_eq!(&bytes, &crate::codec::encode(&a).unwrap());
            proptest::prop_assert_eq!(crate::codec::decode::<GraphId>(&bytes).unwrap(), ga);
        }
    }
}
