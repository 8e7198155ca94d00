//! Aggregates: the state each stream folds to, with the pure fold
//! `apply(state, event) -> state` that replay and the live node share.

pub mod contents;
pub mod mailbox;
pub mod meetings;
pub mod subscriptions;
pub mod tenant;

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use crate::codec;
use crate::events::{EventDecodeError, EventFamily, EventMeta, MailboxEvent, SubscriptionEvent, TenantEvent};
use crate::sealed::{Reveal, SealError, Vault};
use crate::stream::{StreamId, StreamKind};

pub use contents::{KeptContents, StreamContents};
pub use mailbox::{MailboxState, Window};
pub use subscriptions::SubscriptionsState;
pub use tenant::TenantState;

/// A stream's state and how events change it.
pub trait Aggregate: Default + Clone + Send + 'static {
    type Event: EventFamily;
    /// Borrows from the state what it shows as it is (ids, change keys),
    /// so that a view of a thousand meetings copies none of them.
    type View<'a>: Serialize
    where
        Self: 'a;

    /// The pure fold. Never fails: an event the state cannot use is ignored,
    /// so replay of any log the node wrote is total.
    fn apply(self, meta: &EventMeta, event: Self::Event) -> Self;

    /// Stream version the state reflects (0 = empty).
    fn version(&self) -> u64;

    /// This aggregate's state out of a stream-agnostic one (None: another kind).
    fn from_any(state: AnyState) -> Option<Self>;

    fn into_any(self) -> AnyState;

    /// Gives back the room its collections grew into beyond what they hold
    /// (the journal calls it once the state is loaded: an activated
    /// mailbox starts without slack, and its meetings grow by at most an
    /// eighth while it stays active).
    fn settle(&mut self) {}

    /// What an admin (and the digest) sees of the state; sealed content is
    /// opened or redacted as `reveal` says.
    fn view<'a>(&'a self, stream: &StreamId, reveal: &Reveal) -> Result<Self::View<'a>, SealError>;
}

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error("view does not serialise: {0}")]
    Serialize(String),
}

impl From<crate::codec::CodecError> for ViewError {
    fn from(e: crate::codec::CodecError) -> Self {
        ViewError::Serialize(e.to_string())
    }
}

/// The state of any stream, so replay can fold a mixed log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum AnyState {
    Tenant(TenantState),
    Subscriptions(SubscriptionsState),
    Mailbox(MailboxState),
}

impl AnyState {
    pub fn empty(kind: StreamKind) -> Self {
        match kind {
            StreamKind::Tenant => AnyState::Tenant(TenantState::default()),
            StreamKind::Subscriptions => AnyState::Subscriptions(SubscriptionsState::default()),
            StreamKind::Mailbox => AnyState::Mailbox(MailboxState::default()),
        }
    }

    /// Decodes one stored event (upcasting old versions) and folds it in.
    pub fn apply_stored(
        self,
        meta: &EventMeta,
        type_name: &str,
        schema_version: u16,
        payload: &[u8],
    ) -> Result<Self, EventDecodeError> {
        self.apply_stored_keeping(meta, type_name, schema_version, payload, None)
    }

    /// As [`AnyState::apply_stored`], and moves the meeting content the
    /// event carries into `keep`, for views of the result that must not
    /// read the log again.
    pub fn apply_stored_keeping(
        self,
        meta: &EventMeta,
        type_name: &str,
        schema_version: u16,
        payload: &[u8],
        keep: Option<&mut StreamContents>,
    ) -> Result<Self, EventDecodeError> {
        Ok(match self {
            AnyState::Tenant(s) => {
                AnyState::Tenant(s.apply(meta, TenantEvent::decode(type_name, schema_version, payload)?))
            }
            AnyState::Subscriptions(s) => {
                AnyState::Subscriptions(s.apply(meta, SubscriptionEvent::decode(type_name, schema_version, payload)?))
            }
            AnyState::Mailbox(s) => {
                let mut event = MailboxEvent::decode(type_name, schema_version, payload)?;
                if let Some(kept) = keep {
                    kept.take_from(meta.version, &mut event);
                }
                AnyState::Mailbox(s.apply(meta, event))
            }
        })
    }

    pub fn version(&self) -> u64 {
        match self {
            AnyState::Tenant(s) => s.version(),
            AnyState::Subscriptions(s) => s.version(),
            AnyState::Mailbox(s) => s.version(),
        }
    }

    /// The view as JSON (for `hcal inspect` and the admin API).
    pub fn view_json(&self, stream: &StreamId, reveal: &Reveal) -> Result<serde_json::Value, ViewError> {
        let value = match self {
            AnyState::Tenant(s) => serde_json::to_value(s.view(stream, reveal)?),
            AnyState::Subscriptions(s) => serde_json::to_value(s.view(stream, reveal)?),
            AnyState::Mailbox(s) => serde_json::to_value(s.view(stream, reveal)?),
        };
        value.map_err(|e| ViewError::Serialize(e.to_string()))
    }

    /// Writes the encoded view to `out` (the digest's hasher, through a
    /// 16 KiB buffer: a mailbox's view of a thousand meetings encodes to
    /// some 600 KB, not worth holding whole).
    fn write_view(&self, stream: &StreamId, reveal: &Reveal, out: &mut impl Write) -> Result<(), ViewError> {
        match self {
            AnyState::Tenant(s) => codec::encode_into(&s.view(stream, reveal)?, out)?,
            AnyState::Subscriptions(s) => codec::encode_into(&s.view(stream, reveal)?, out)?,
            AnyState::Mailbox(s) => codec::encode_into(&s.view(stream, reveal)?, out)?,
        }
        Ok(())
    }
}

/// A stable hash of a set of states, sealed content opened from `vault` (so
/// that a wrong key changes it; hashed as its plaintext bytes, which the
/// sealing codec makes the same for the same value). The same states give
/// the same digest, whatever the order they were built in. Streams are
/// hashed on all cores, then combined in stream order; then the rows of the
/// log's tables (what states leave to them, such as users' entries), as
/// stored, in key order.
pub fn digest(
    states: &BTreeMap<StreamId, AnyState>,
    rows: &BTreeMap<Vec<u8>, Vec<u8>>,
    vault: &dyn Vault,
) -> Result<String, ViewError> {
    let reveal = &Reveal::Encoded(vault);
    let entries: Vec<(&StreamId, &AnyState)> = states.iter().collect();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(entries.len().max(1));
    let chunk = entries.len().div_ceil(threads).max(1);
    let hashes: Vec<Result<Vec<[u8; 32]>, ViewError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = entries
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(stream, state)| {
                            let mut h = blake3::Hasher::new();
                            h.update(&(stream.text().len() as u64).to_le_bytes());
                            h.update(stream.text().as_bytes());
                            // bincode writes field by field; the hasher wants blocks.
                            let mut out = std::io::BufWriter::with_capacity(16 * 1024, &mut h);
                            state.write_view(stream, reveal, &mut out)?;
                            out.flush().map_err(|e| ViewError::Serialize(e.to_string()))?;
                            drop(out);
                            Ok(*h.finalize().as_bytes())
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(ViewError::Serialize("digest thread panicked".into())))
            })
            .collect()
    });
    let mut hasher = blake3::Hasher::new();
    for part in hashes {
        for h in part? {
            hasher.update(&h);
        }
    }
    for (key, value) in rows {
        hasher.update(&(key.len() as u64).to_le_bytes());
        hasher.update(key);
        hasher.update(&(value.len() as u64).to_le_bytes());
        hasher.update(value);
    }
    Ok(hasher.finalize().to_hex().to_string())
}
