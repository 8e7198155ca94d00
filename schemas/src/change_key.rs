//! Graph's `changeKey` of an event, which a mailbox's state holds for each
//! of its meetings: held as its bytes when it is base64 of at most 22 bytes,
//! as Graph writes them, and as its text otherwise (see `packed.rs`).
//! Either way it takes no more room than a `String`'s header, and the usual
//! one no allocation. It reads, writes, compares and prints as the text.

use crate::packed::{Packed, PackedText};

/// The most bytes held inline (Graph's change keys carry 16 to 22).
const INLINE: usize = 22;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ChangeKey(Packed<INLINE>);

impl ChangeKey {
    pub fn new(s: &str) -> Self {
        ChangeKey(Packed::new(s))
    }

    /// The key's text, without allocating.
    pub fn text(&self) -> PackedText<'_> {
        self.0.text()
    }
}

crate::text::as_text!(ChangeKey, "a change key");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphs_change_keys_are_held_as_bytes_and_anything_else_as_text() {
        assert_eq!(std::mem::size_of::<ChangeKey>(), std::mem::size_of::<String>());
        // As Graph's documentation shows them (22 bytes), and as the emulator makes them (20).
        for graph in ["nfZyf7VcrEKLNoU37KWlkQAAJtWQZQ==", "DwAAAHmAsMaHq8FIluOYGZ9pAdw=", ""] {
            let k = ChangeKey::new(graph);
            assert!(k.0.is_bytes(), "{graph}");
            assert_eq!(k.to_string(), graph);
        }
        for other in [
            // Longer than 22 bytes, as EWS writes them.
            "DwAAABYAAAAx8M4HR0xbQ6w7ZvOwiuJoAAA2u5hW",
            // Unpadded, non-canonical trailing bits, not base64 at all.
            "nfZyf7VcrEKLNoU37KWlkQAAJtWQZQ",
            "nfZyf7VcrEKLNoU37KWlkQAAJtWQZR==",
            "ck0000000000000001",
            "W/\"x\"",
        ] {
            let k = ChangeKey::new(other);
            assert!(!k.0.is_bytes(), "{other}");
            assert_eq!(k.to_string(), other);
        }
    }

    proptest::proptest! {
        /// Whatever it holds, a ChangeKey writes (JSON and codec) and reads
        /// as the string did.
        #[test]
        fn a_change_key_writes_as_its_text(s in "([A-Za-z0-9+/]{4}){0,8}|[A-Za-z0-9+/]{2}==|.{0,40}") {
            let k = ChangeKey::new(&s);
            proptest::prop_assert_eq!(serde_json::to_string(&k).unwrap(), serde_json::to_string(&s).unwrap());
            let codec = crate::codec::encode(&k).unwrap();
            proptest::prop_assert_eq!(&codec, &crate::codec::encode(&s).unwrap());
            proptest::prop_assert_eq!(crate::codec::decode::<ChangeKey>(&codec).unwrap(), k);
        }
    }
}
