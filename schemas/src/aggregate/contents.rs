//! Meeting content kept aside while folding, for views of the folded states.
//!
//! A mailbox's state holds where each meeting's sealed content is in the
//! log ([`ContentAt`]), not the content. A view that reveals it (or the
//! digest) reads it from a [`Vault`]. A whole replay keeps the content of
//! the events it folds here, so its digest needs no second pass over the log.

use std::borrow::Cow;
use std::sync::Arc;

use crate::aggregate::MailboxState;
use crate::events::MailboxEvent;
use crate::events::mailbox::{ContentAt, MeetingContent};
use crate::sealed::{KeyLookup, KeyRef, SealError, Sealed, SecretKey, Vault};
use crate::stream::StreamId;

/// One stream's kept contents, by place. (The maps hash with foldhash:
/// their keys are the log's own, and std's SipHash cost replay 2%.)
#[derive(Default)]
pub struct StreamContents {
    by_place: foldhash::HashMap<ContentAt, Sealed<MeetingContent>>,
}

impl StreamContents {
    /// Moves the contents out of `event` (at `version`), which may then
    /// only be folded: the fold drops content.
    pub fn take_from(&mut self, version: u64, event: &mut MailboxEvent) {
        self.by_place.extend(event.take_contents(version));
    }

    /// Lets go of every content no meeting of `state` points at.
    pub fn retain_held(&mut self, state: &MailboxState) {
        if self.by_place.len() > state.meetings.len() {
            let held: foldhash::HashSet<ContentAt> = state.meetings.values().map(|m| m.content).collect();
            self.by_place.retain(|at, _| held.contains(at));
        }
    }

    pub fn len(&self) -> usize {
        self.by_place.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_place.is_empty()
    }
}

/// Sealed meeting contents of many streams.
#[derive(Default)]
pub struct KeptContents {
    by_stream: foldhash::HashMap<StreamId, StreamContents>,
}

impl KeptContents {
    pub fn insert(&mut self, stream: StreamId, contents: StreamContents) {
        if !contents.is_empty() {
            self.by_stream.insert(stream, contents);
        }
    }

    /// Adds what `other` kept.
    pub fn extend(&mut self, other: KeptContents) {
        self.by_stream.extend(other.by_stream);
    }

    /// Contents kept, over all streams.
    pub fn len(&self) -> usize {
        self.by_stream.values().map(StreamContents::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_stream.is_empty()
    }

    /// A vault that opens with `keys` and reads contents from here.
    pub fn with_keys<'a>(&'a self, keys: &'a dyn KeyLookup) -> KeptVault<'a> {
        KeptVault { kept: self, keys }
    }
}

/// [`KeptContents`] with the keys to open them.
pub struct KeptVault<'a> {
    kept: &'a KeptContents,
    keys: &'a dyn KeyLookup,
}

impl KeyLookup for KeptVault<'_> {
    fn data_key(&self, stream: &StreamId, key: KeyRef) -> Result<Option<Arc<SecretKey>>, SealError> {
        self.keys.data_key(stream, key)
    }
}

impl Vault for KeptVault<'_> {
    fn meeting_contents(
        &self,
        stream: &StreamId,
        ats: &[ContentAt],
    ) -> Result<Vec<Option<Cow<'_, Sealed<MeetingContent>>>>, SealError> {
        let kept = self.kept.by_stream.get(stream);
        Ok(ats
            .iter()
            .map(|at| kept.and_then(|k| k.by_place.get(at)).map(Cow::Borrowed))
            .collect())
    }
}
