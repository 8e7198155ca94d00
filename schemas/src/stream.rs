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
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MailboxKey(String);

impl MailboxKey {
    pub fn derive(index_key: &SecretKey, address: &str) -> Self {
        let normalised = address.trim().to_lowercase();
        let hash = blake3::keyed_hash(index_key.expose(), normalised.as_bytes());
        let mut s = String::with_capacity(32);
        for b in &hash.as_bytes()[..16] {
            s.push_str(&format!("{b:02x}"));
        }
        Self(s)
    }

    pub fn parse(s: &str) -> Result<Self, StreamIdError> {
        if s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(s.to_string()))
        } else {
            Err(StreamIdError::BadMailboxKey)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MailboxKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
            StreamKind::Mailbox => self.0.rsplit(':').next().map(|k| MailboxKey(k.to_string())),
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

    #[test]
    fn refuses_bad_ids() {
        assert_eq!(OrgId::new("Acme"), Err(StreamIdError::BadOrg));
        assert_eq!(OrgId::new(""), Err(StreamIdError::BadOrg));
        assert_eq!(OrgId::new("a:b"), Err(StreamIdError::BadOrg));
        assert_eq!(StreamId::parse("x:acme"), Err(StreamIdError::UnknownKind));
        assert_eq!(StreamId::parse("mbx:acme:zz"), Err(StreamIdError::BadMailboxKey));
        assert!(StreamId::parse("org:").is_err());
    }
}
