//! Sealed values: meeting content that is never stored or logged in plaintext.
//!
//! A [`Sealed<T>`] is XChaCha20-Poly1305 ciphertext of the codec encoding of a
//! `T`, under the data key of one stream, with a random 24-byte nonce. The
//! associated data binds it to its stream, its field and its key generation,
//! so a ciphertext copied into another stream or field does not open. Debug
//! and Display print `<sealed>`; serde writes only key reference, nonce and
//! ciphertext.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::codec::{self, CodecError};
use crate::events::mailbox::{ContentAt, MeetingContent};
use crate::stream::StreamId;

const NONCE_LEN: usize = 24;
const KEY_REF_LEN: usize = 4;
const TAG_LEN: usize = 16;

/// A 256-bit symmetric key. Zeroized on drop; Debug never shows it.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut k);
        Self(k)
    }

    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// Encrypts `plaintext` under this key with a fresh random nonce:
    /// `nonce || ciphertext || tag`.
    pub fn encrypt(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        self.encrypt_into(aad, plaintext, &mut out)?;
        Ok(out)
    }

    fn encrypt_into(&self, aad: &[u8], plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let ct = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .map_err(|_| SealError::Encrypt)?;
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(())
    }

    /// Opens what [`SecretKey::encrypt`] produced.
    pub fn decrypt(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Truncated);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| SealError::Authentication)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<key>")
    }
}

/// Which generation of a stream's data key sealed a value. Generations grow
/// when the tenant key rotates; old ones stay readable until erased.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyRef(pub u32);

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("encryption failed")]
    Encrypt,
    #[error("sealed value is truncated")]
    Truncated,
    #[error("sealed value does not authenticate (wrong key, stream or field, or tampered)")]
    Authentication,
    #[error("sealed plaintext does not decode: {0}")]
    Codec(#[from] CodecError),
    #[error("key lookup failed: {0}")]
    Key(String),
    #[error("sealed content cannot be read from the log: {0}")]
    Content(String),
}

/// Where sealed values find their data keys. `Ok(None)` means the key was
/// destroyed: the stream was erased (crypto-shredding).
pub trait KeyLookup: Sync {
    fn data_key(&self, stream: &StreamId, key: KeyRef) -> Result<Option<Arc<SecretKey>>, SealError>;
}

/// What views open sealed values with: the data keys, and the log, where a
/// mailbox state's meetings keep their content (see
/// [`crate::events::mailbox::HeldMeeting`]).
pub trait Vault: KeyLookup {
    /// The sealed content of the meetings at `ats` of `stream`, in that
    /// order, as their events carried it (`None`: no such event or meeting).
    #[allow(clippy::type_complexity)]
    fn meeting_contents(
        &self,
        stream: &StreamId,
        ats: &[ContentAt],
    ) -> Result<Vec<Option<Cow<'_, Sealed<MeetingContent>>>>, SealError>;

    /// One meeting's content (see [`Vault::meeting_contents`]).
    fn meeting_content(&self, stream: &StreamId, at: ContentAt) -> Result<Option<Sealed<MeetingContent>>, SealError> {
        Ok(self
            .meeting_contents(stream, &[at])?
            .pop()
            .flatten()
            .map(Cow::into_owned))
    }
}

/// Seals values for one stream under its current data key.
pub struct Sealer<'a> {
    stream: &'a StreamId,
    key_ref: KeyRef,
    key: &'a SecretKey,
}

impl<'a> Sealer<'a> {
    pub fn new(stream: &'a StreamId, key_ref: KeyRef, key: &'a SecretKey) -> Self {
        Self { stream, key_ref, key }
    }

    pub fn stream(&self) -> &StreamId {
        self.stream
    }

    pub fn seal<T: Serialize>(&self, field: &'static str, value: &T) -> Result<Sealed<T>, SealError> {
        let plaintext = codec::encode(value)?;
        let aad = associated_data(self.stream, field, self.key_ref);
        let mut blob = Vec::with_capacity(KEY_REF_LEN + NONCE_LEN + plaintext.len() + TAG_LEN);
        blob.extend_from_slice(&self.key_ref.0.to_le_bytes());
        self.key.encrypt_into(&aad, &plaintext, &mut blob)?;
        Ok(Sealed {
            blob: blob.into_boxed_slice(),
            _t: PhantomData,
        })
    }
}

fn associated_data(stream: &StreamId, field: &str, key: KeyRef) -> Vec<u8> {
    // Written out once: a mailbox's text is its key in hex.
    let text = stream.text();
    let mut aad = Vec::with_capacity(text.len() + field.len() + 6);
    aad.extend_from_slice(text.as_bytes());
    aad.push(0);
    aad.extend_from_slice(field.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&key.0.to_le_bytes());
    aad
}

/// A value of type `T` that exists only as ciphertext.
pub struct Sealed<T> {
    /// `key_ref (u32 LE) || nonce || ciphertext || tag`, in one allocation.
    blob: Box<[u8]>,
    _t: PhantomData<fn() -> T>,
}

/// The result of opening a sealed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened<T> {
    Plain(T),
    /// The data key is gone: the stream was erased.
    Erased,
}

impl<T> Sealed<T> {
    pub fn key_ref(&self) -> KeyRef {
        let mut b = [0u8; KEY_REF_LEN];
        if let Some(head) = self.blob.get(..KEY_REF_LEN) {
            b.copy_from_slice(head);
        }
        KeyRef(u32::from_le_bytes(b))
    }

    fn from_blob(blob: Box<[u8]>) -> Result<Self, SealError> {
        if blob.len() < KEY_REF_LEN + NONCE_LEN + TAG_LEN {
            return Err(SealError::Truncated);
        }
        Ok(Self { blob, _t: PhantomData })
    }

    /// Moves the value out, leaving an empty husk that must not be used
    /// again (for an event about to be folded, which drops its content).
    pub(crate) fn take(&mut self) -> Self {
        Self {
            blob: std::mem::take(&mut self.blob),
            _t: PhantomData,
        }
    }
}

impl<T> Sealed<T> {
    /// The plaintext's encoded bytes (`Opened::Erased` once its key is destroyed).
    pub fn open_bytes(
        &self,
        keys: &dyn KeyLookup,
        stream: &StreamId,
        field: &'static str,
    ) -> Result<Opened<Vec<u8>>, SealError> {
        // Only a value moved out of (see `take`) is this short.
        if self.blob.len() < KEY_REF_LEN + NONCE_LEN + TAG_LEN {
            return Err(SealError::Truncated);
        }
        let key_ref = self.key_ref();
        let Some(key) = keys.data_key(stream, key_ref)? else {
            return Ok(Opened::Erased);
        };
        let aad = associated_data(stream, field, key_ref);
        Ok(Opened::Plain(key.decrypt(&aad, &self.blob[KEY_REF_LEN..])?))
    }
}

impl<T: DeserializeOwned> Sealed<T> {
    pub fn open(&self, keys: &dyn KeyLookup, stream: &StreamId, field: &'static str) -> Result<Opened<T>, SealError> {
        Ok(match self.open_bytes(keys, stream, field)? {
            Opened::Plain(bytes) => Opened::Plain(codec::decode(&bytes)?),
            Opened::Erased => Opened::Erased,
        })
    }
}

impl<T> Clone for Sealed<T> {
    fn clone(&self) -> Self {
        Self {
            blob: self.blob.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> PartialEq for Sealed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.blob == other.blob
    }
}

impl<T> Eq for Sealed<T> {}

impl<T> fmt::Debug for Sealed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<sealed>")
    }
}

impl<T> fmt::Display for Sealed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<sealed>")
    }
}

impl<T> Serialize for Sealed<T> {
    /// Ciphertext under the codec; `"<sealed>"` where people read it (JSON),
    /// so that an event can be shown without its content.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str("<sealed>")
        } else {
            s.serialize_bytes(&self.blob)
        }
    }
}

impl<'de, T> Deserialize<'de> for Sealed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Box<[u8]>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("sealed bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                Ok(v.into())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
                Ok(v.into_boxed_slice())
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(out.into_boxed_slice())
            }
        }
        let blob = d.deserialize_bytes(V)?;
        Sealed::from_blob(blob).map_err(D::Error::custom)
    }
}

/// How a sealed value appears in a view: its plaintext, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown<T> {
    Value(T),
    /// The plaintext, still encoded ([`Reveal::Encoded`]).
    Encoded(Vec<u8>),
    Redacted,
    Erased,
}

impl<T: Serialize> Serialize for Shown<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Shown::Value(v) => v.serialize(s),
            Shown::Encoded(bytes) => s.serialize_bytes(bytes),
            Shown::Redacted => s.serialize_str("<redacted>"),
            Shown::Erased => s.serialize_str("<erased>"),
        }
    }
}

/// How views open sealed values: with keys (revealed), with keys but left
/// encoded (for digests: the same plaintext bytes, without decoding them),
/// or not at all.
pub enum Reveal<'a> {
    Redacted,
    With(&'a dyn Vault),
    Encoded(&'a dyn Vault),
}

impl Reveal<'_> {
    pub fn show<T: DeserializeOwned>(
        &self,
        sealed: &Sealed<T>,
        stream: &StreamId,
        field: &'static str,
    ) -> Result<Shown<T>, SealError> {
        match self {
            Reveal::Redacted => Ok(Shown::Redacted),
            Reveal::With(vault) => Ok(match sealed.open(*vault, stream, field)? {
                Opened::Plain(v) => Shown::Value(v),
                Opened::Erased => Shown::Erased,
            }),
            Reveal::Encoded(vault) => Ok(match sealed.open_bytes(*vault, stream, field)? {
                Opened::Plain(bytes) => Shown::Encoded(bytes),
                Opened::Erased => Shown::Erased,
            }),
        }
    }

    /// Held meetings' content, read from where it is kept, in the order of `ats`.
    pub fn show_meetings(&self, stream: &StreamId, ats: &[ContentAt]) -> Result<Vec<Shown<MeetingContent>>, SealError> {
        let vault = match self {
            Reveal::Redacted => return Ok(ats.iter().map(|_| Shown::Redacted).collect()),
            Reveal::With(vault) | Reveal::Encoded(vault) => *vault,
        };
        vault
            .meeting_contents(stream, ats)?
            .into_iter()
            .zip(ats)
            .map(|(sealed, at)| self.show(&*sealed.ok_or_else(|| at.missing())?, stream, MeetingContent::FIELD))
            .collect()
    }
}

impl ContentAt {
    /// The sealed content this points at, read from `vault`.
    pub fn sealed(self, vault: &dyn Vault, stream: &StreamId) -> Result<Sealed<MeetingContent>, SealError> {
        vault.meeting_content(stream, self)?.ok_or_else(|| self.missing())
    }

    fn missing(self) -> SealError {
        SealError::Content(format!(
            "no meeting content at version {} index {}",
            self.version, self.index
        ))
    }

    /// The content this points at, read from `vault` and opened.
    pub fn open(self, vault: &dyn Vault, stream: &StreamId) -> Result<Opened<MeetingContent>, SealError> {
        self.sealed(vault, stream)?.open(vault, stream, MeetingContent::FIELD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    struct OneKey(Option<Arc<SecretKey>>);
    impl KeyLookup for OneKey {
        fn data_key(&self, _: &StreamId, _: KeyRef) -> Result<Option<Arc<SecretKey>>, SealError> {
            Ok(self.0.clone())
        }
    }

    fn stream(s: &str) -> StreamId {
        StreamId::parse(s).unwrap()
    }

    proptest! {
        #[test]
        fn seal_open_round_trip(text in ".{0,200}", generation in 0u32..5) {
            let key = Arc::new(SecretKey::generate());
            let s = stream("org:acme");
            let sealed = Sealer::new(&s, KeyRef(generation), &key).seal("subject", &text).unwrap();
            prop_assert_eq!(sealed.key_ref(), KeyRef(generation));
            let back = sealed.open(&OneKey(Some(key)), &s, "subject").unwrap();
            prop_assert_eq!(back, Opened::Plain(text));
        }

        #[test]
        fn serde_round_trip_keeps_ciphertext(text in ".{0,64}") {
            let key = SecretKey::generate();
            let s = stream("org:acme");
            let sealed = Sealer::new(&s, KeyRef(0), &key).seal("subject", &text).unwrap();
            let bytes = codec::encode(&sealed).unwrap();
            let back: Sealed<String> = codec::decode(&bytes).unwrap();
            prop_assert_eq!(back, sealed);
        }
    }

    #[test]
    fn binds_stream_and_field() {
        let key = Arc::new(SecretKey::generate());
        let a = stream("org:acme");
        let b = stream("org:globex");
        let sealed = Sealer::new(&a, KeyRef(0), &key)
            .seal("subject", &"Board meeting".to_string())
            .unwrap();
        let keys = OneKey(Some(key));
        assert!(matches!(
            sealed.open(&keys, &b, "subject"),
            Err(SealError::Authentication)
        ));
        assert!(matches!(
            sealed.open(&keys, &a, "location"),
            Err(SealError::Authentication)
        ));
        assert_eq!(
            sealed.open(&keys, &a, "subject").unwrap(),
            Opened::Plain("Board meeting".to_string())
        );
    }

    #[test]
    fn erased_key_opens_as_erased_and_wrong_key_fails() {
        let key = SecretKey::generate();
        let s = stream("org:acme");
        let sealed = Sealer::new(&s, KeyRef(0), &key)
            .seal("subject", &"x".to_string())
            .unwrap();
        assert_eq!(sealed.open(&OneKey(None), &s, "subject").unwrap(), Opened::Erased);
        let other = OneKey(Some(Arc::new(SecretKey::generate())));
        assert!(matches!(
            sealed.open(&other, &s, "subject"),
            Err(SealError::Authentication)
        ));
    }

    #[test]
    fn debug_display_and_serde_show_no_plaintext() {
        let key = SecretKey::generate();
        let s = stream("org:acme");
        let secret = "Quarterly layoffs with dana@contoso.example".to_string();
        let sealed = Sealer::new(&s, KeyRef(0), &key).seal("subject", &secret).unwrap();
        assert_eq!(format!("{sealed:?}"), "<sealed>");
        assert_eq!(format!("{sealed}"), "<sealed>");
        assert_eq!(format!("{key:?}"), "<key>");
        let bytes = codec::encode(&sealed).unwrap();
        assert!(!bytes.windows(9).any(|w| w == b"Quarterly"));
        let json = serde_json::to_string(&sealed).unwrap();
        assert_eq!(json, "\"<sealed>\"");
    }

    #[test]
    fn truncated_blob_is_refused() {
        let bytes = codec::encode(&vec![1u8, 2, 3]).unwrap();
        assert!(codec::decode::<Sealed<String>>(&bytes).is_err());
    }
}
