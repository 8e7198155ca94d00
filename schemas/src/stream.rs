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
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OrgId(String);

impl OrgId {
    pub fn new(s: &str) -> Result<Self, StreamIdError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
        if ok {
            Ok(Self(s.to_string()))
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

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamId(String);

impl StreamId {
    pub fn tenant(org: &OrgId) -> Self {
        Self(format!("org:{org}"))
    }

    pub fn subscriptions(org: &OrgId) -> Self {
        Self(format!("subs:{org}"))
    }

    pub fn mailbox(org: &OrgId, mailbox: &MailboxKey) -> Self {
        Self(format!("mbx:{org}:{mailbox}"))
    }

    pub fn parse(s: &str) -> Result<Self, StreamIdError> {
        let (kind, rest) = s.split_once(':').ok_or(StreamIdError::UnknownKind)?;
        match kind {
            "org" | "subs" => {
                OrgId::new(rest)?;
            }
            "mbx" => {
                let (org, key) = rest.split_once(':').ok_or(StreamIdError::BadMailboxKey)?;
                OrgId::new(org)?;
                MailboxKey::parse(key)?;
            }
            _ => return Err(StreamIdError::UnknownKind),
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn kind(&self) -> StreamKind {
        match self.0.split_once(':').map(|(k, _)| k) {
            Some("org") => StreamKind::Tenant,
            Some("subs") => StreamKind::Subscriptions,
            _ => StreamKind::Mailbox,
        }
    }

    /// The organisation the stream belongs to (whose tenant key wraps its data key).
    pub fn org(&self) -> OrgId {
        let rest = self.0.split_once(':').map(|(_, r)| r).unwrap_or_default();
        let org = rest.split(':').next().unwrap_or_default();
        OrgId(org.to_string())
    }

    /// The mailbox pseudonym, for mailbox streams.
    pub fn mailbox_key(&self) -> Option<MailboxKey> {
        match self.kind() {
            StreamKind::Mailbox => self.0.rsplit(':').next().and_then(|k| MailboxKey::parse(k).ok()),
            _ => None,
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
            assert_eq!(StreamId::parse(id.as_str()).unwrap(), id);
            assert_eq!(id.org(), org);
        }
        let m = StreamId::mailbox(&org, &key);
        assert_eq!(m.kind(), StreamKind::Mailbox);
        assert_eq!(m.mailbox_key(), Some(key));
        assert!(!m.as_str().contains("alice"));
    }

    proptest::proptest! {
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
