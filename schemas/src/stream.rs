//! Stream identities: which aggregate an event belongs to.
//!
//! - `org:{org}`: the tenant aggregate of one organisation (provisioning, users);
//! - `subs:{org}`: that organisation's Graph subscriptions;
//! - `mbx:{org}:{mailbox-key}`: one mailbox's calendar.
//!
//! A mailbox is named by a keyed pseudonym of its address, never the address
//! itself: stream ids are stored in plaintext (log keys, index), and mail
//! addresses are sensitive.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::sealed::SecretKey;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StreamIdError {
    #[error("organisation id must be 1 to 64 characters of a-z, 0-9, '-', '_' or '.'")]
    BadOrg,
    #[error("mailbox key must be 32 lowercase hex characters")]
    BadMailboxKey,
    #[error("unknown stream id form (expected org:, subs: or mbx:)")]
    UnknownKind,
}

/// An organisation (one Office 365 tenant each), as the admin names it.
///
/// One shared copy per name (interned): every per-mailbox table names the
/// organisation, so a clone is a reference count, not a string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgId(crate::intern::Shared);

impl OrgId {
    pub fn new(s: &str) -> Result<Self, StreamIdError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
        if ok {
            Ok(Self(crate::intern::intern(s)))
        } else {
            Err(StreamIdError::BadOrg)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgId({:?})", &*self.0)
    }
}

impl Serialize for OrgId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for OrgId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::text::from_str(deserializer, "an organisation id", OrgId::new)
    }
}

/// The pseudonym of a mailbox address: 128 bits of a keyed BLAKE3 hash of the
/// normalised address. Stable for a given index key.
///
/// Held as its 16 bytes (every per-mailbox table of the node keys by it) and
/// written as 32 lowercase hex digits, as it always was: bytes and hex sort
/// alike, so maps keyed by it encode in the same order.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxKey([u8; 16]);

impl MailboxKey {
    pub fn derive(index_key: &SecretKey, address: &str) -> Self {
        let normalised = address.trim().to_lowercase();
        let hash = blake3::keyed_hash(index_key.expose(), normalised.as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&hash.as_bytes()[..16]);
        Self(key)
    }

    pub fn parse(s: &str) -> Result<Self, StreamIdError> {
        fn nibble(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            }
        }
        let hex = s.as_bytes();
        if hex.len() != 32 {
            return Err(StreamIdError::BadMailboxKey);
        }
        let mut key = [0u8; 16];
        for (b, pair) in key.iter_mut().zip(hex.chunks_exact(2)) {
            let (Some(hi), Some(lo)) = (nibble(pair[0]), nibble(pair[1])) else {
                return Err(StreamIdError::BadMailboxKey);
            };
            *b = hi << 4 | lo;
        }
        Ok(Self(key))
    }

    /// The 32 hex digits, without allocating.
    fn hex(&self) -> [u8; 32] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (pair, b) in out.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0xf)];
        }
        out
    }
}

impl fmt::Display for MailboxKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.hex();
        // Always ASCII hex digits.
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for MailboxKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MailboxKey({self})")
    }
}

impl Serialize for MailboxKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let hex = self.hex();
        serializer.serialize_str(std::str::from_utf8(&hex).map_err(serde::ser::Error::custom)?)
    }
}

impl<'de> Deserialize<'de> for MailboxKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::text::from_str(
            deserializer,
            "a mailbox key of 32 lowercase hex digits",
            MailboxKey::parse,
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamKind {
    Tenant,
    Subscriptions,
    Mailbox,
}

/// A stream's identity, held as its parts (no allocation of its own: the
/// organisation is shared); it reads, writes, sorts and prints as its text
/// (`mbx:{org}:{key}`), the form the log stores.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StreamId {
    org: OrgId,
    of: Of,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Of {
    Tenant,
    Subscriptions,
    Mailbox(MailboxKey),
}

/// The longest text: `subs:` or `mbx:`, a 64-character org, `:` and 32 hex digits.
const MAX_TEXT: usize = 5 + 64 + 1 + 32;

/// A stream id's text, written out on the stack.
pub struct StreamText {
    buf: [u8; MAX_TEXT],
    len: usize,
}

impl StreamText {
    fn push(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }
}

impl std::ops::Deref for StreamText {
    type Target = str;
    fn deref(&self) -> &str {
        // Only ASCII goes in: a validated org id, prefixes, hex digits.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl StreamId {
    pub fn tenant(org: &OrgId) -> Self {
        Self {
            org: org.clone(),
            of: Of::Tenant,
        }
    }

    pub fn subscriptions(org: &OrgId) -> Self {
        Self {
            org: org.clone(),
            of: Of::Subscriptions,
        }
    }

    pub fn mailbox(org: &OrgId, mailbox: &MailboxKey) -> Self {
        Self {
            org: org.clone(),
            of: Of::Mailbox(mailbox.clone()),
        }
    }

    pub fn parse(s: &str) -> Result<Self, StreamIdError> {
        let (kind, rest) = s.split_once(':').ok_or(StreamIdError::UnknownKind)?;
        match kind {
            "org" => Ok(Self::tenant(&OrgId::new(rest)?)),
            "subs" => Ok(Self::subscriptions(&OrgId::new(rest)?)),
            "mbx" => {
                let (org, key) = rest.split_once(':').ok_or(StreamIdError::BadMailboxKey)?;
                Ok(Self::mailbox(&OrgId::new(org)?, &MailboxKey::parse(key)?))
            }
            _ => Err(StreamIdError::UnknownKind),
        }
    }

    /// The text the log stores, without allocating.
    pub fn text(&self) -> StreamText {
        let mut t = StreamText {
            buf: [0; MAX_TEXT],
            len: 0,
        };
        t.push(match self.of {
            Of::Tenant => b"org:",
            Of::Subscriptions => b"subs:",
            Of::Mailbox(_) => b"mbx:",
        });
        t.push(self.org.as_str().as_bytes());
        if let Of::Mailbox(key) = &self.of {
            t.push(b":");
            t.push(&key.hex());
        }
        t
    }

    pub fn kind(&self) -> StreamKind {
        match self.of {
            Of::Tenant => StreamKind::Tenant,
            Of::Subscriptions => StreamKind::Subscriptions,
            Of::Mailbox(_) => StreamKind::Mailbox,
        }
    }

    /// The organisation the stream belongs to (whose tenant key wraps its data key).
    pub fn org(&self) -> OrgId {
        self.org.clone()
    }

    /// The mailbox pseudonym, for mailbox streams.
    pub fn mailbox_key(&self) -> Option<MailboxKey> {
        match &self.of {
            Of::Mailbox(key) => Some(key.clone()),
            _ => None,
        }
    }
}

/// In the order of the text, as the log's keys sort.
impl Ord for StreamId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text().cmp(&other.text())
    }
}

impl PartialOrd for StreamId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamId({:?})", &*self.text())
    }
}

impl Serialize for StreamId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text())
    }
}

impl<'de> Deserialize<'de> for StreamId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::text::from_str(deserializer, "a stream id", StreamId::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_round_trip() {
        let org = OrgId::new("acme").unwrap();
        let key = MailboxKey::derive(&SecretKey::from_bytes([7; 32]), " Alice@Contoso.Example ");
        assert_eq!(
            key,
            MailboxKey::derive(&SecretKey::from_bytes([7; 32]), "alice@contoso.example")
        );
        assert_ne!(
            key,
            MailboxKey::derive(&SecretKey::from_bytes([8; 32]), "alice@contoso.example")
        );
        for id in [
            StreamId::tenant(&org),
            StreamId::subscriptions(&org),
            StreamId::mailbox(&org, &key),
        ] {
            assert_eq!(StreamId::parse(&id.text()).unwrap(), id);
            assert_eq!(id.org(), org);
        }
        let m = StreamId::mailbox(&org, &key);
        assert_eq!(m.kind(), StreamKind::Mailbox);
        assert_eq!(m.mailbox_key(), Some(key));
        assert!(!m.text().contains("alice"));
    }

    proptest::proptest! {
        /// A stream id held as parts is its text: it parses back, sorts,
        /// and writes (JSON and codec) as the string always did.
        #[test]
        fn a_stream_id_is_its_text(
            orgs in proptest::collection::vec("[a-z0-9._-]{1,12}", 2),
            keys: [[u8; 16]; 2],
            kinds: [u8; 2],
        ) {
            let make = |i: usize| {
                let org = OrgId::new(&orgs[i]).unwrap();
                match kinds[i] % 3 {
                    0 => StreamId::tenant(&org),
                    1 => StreamId::subscriptions(&org),
                    _ => StreamId::mailbox(&org, &MailboxKey(keys[i])),
                }
            };
            let (a, b) = (make(0), make(1));
            let (ta, tb) = (a.to_string(), b.to_string());
            proptest::prop_assert_eq!(StreamId::parse(&ta).unwrap(), a.clone());
            proptest::prop_assert_eq!(a.cmp(&b), ta.cmp(&tb));
            proptest::prop_assert_eq!(a == b, ta == tb);
            proptest::prop_assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&ta).unwrap());
            let bytes = crate::codec::encode(&a).unwrap();
            proptest::prop_assert_eq!(&bytes, &crate::codec::encode(&ta).unwrap());
            proptest::prop_assert_eq!(crate::codec::decode::<StreamId>(&bytes).unwrap(), a);
        }

        /// The 16 bytes read and write as the 32 hex digits keys always had,
        /// in the same order, so logs and snapshots written before still read.
        #[test]
        fn mailbox_keys_are_their_hex(a: [u8; 16], b: [u8; 16]) {
            let (ka, kb) = (MailboxKey(a), MailboxKey(b));
            let (ha, hb) = (ka.to_string(), kb.to_string());
            let want: String = a.iter().map(|x| format!("{x:02x}")).collect();
            proptest::prop_assert_eq!(&ha, &want);
            proptest::prop_assert_eq!(MailboxKey::parse(&ha).unwrap(), ka.clone());
            proptest::prop_assert_eq!(ka.cmp(&kb), ha.cmp(&hb));
            let json = serde_json::to_string(&ka).unwrap();
            proptest::prop_assert_eq!(&json, &format!("\"{ha}\""));
            let bytes = crate::codec::encode(&ka).unwrap();
            proptest::prop_assert_eq!(&bytes, &crate::codec::encode(&ha).unwrap());
            proptest::prop_assert_eq!(crate::codec::decode::<MailboxKey>(&bytes).unwrap(), ka);
        }
    }

    #[test]
    fn refuses_bad_ids() {
        assert_eq!(OrgId::new("Acme"), Err(StreamIdError::BadOrg));
        assert_eq!(OrgId::new(""), Err(StreamIdError::BadOrg));
        assert_eq!(OrgId::new("a:b"), Err(StreamIdError::BadOrg));
        assert_eq!(StreamId::parse("x:acme"), Err(StreamIdError::UnknownKind));
        assert_eq!(StreamId::parse("mbx:acme:zz"), Err(StreamIdError::BadMailboxKey));
        let upper = "0123456789ABCDEF0123456789abcdef";
        assert_eq!(MailboxKey::parse(upper), Err(StreamIdError::BadMailboxKey));
        assert_eq!(MailboxKey::parse(&upper[1..]), Err(StreamIdError::BadMailboxKey));
        assert!(serde_json::from_str::<MailboxKey>("\"0123\"").is_err());
        assert!(StreamId::parse("org:").is_err());
    }
}
