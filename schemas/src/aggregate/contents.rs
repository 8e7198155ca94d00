//! Meeting content kept aside while folding, for views of the folded states.
//!
//! A mailbox's state holds where each meeting's sealed content is in the
//! log ([`ContentAt`]), not the content. A view that reveals it (or the
//! digest) reads it from a [`Vault`]. A whole replay keeps the content of
//! the events it folds here, so its digest needs no second pass over the log.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use crate::aggregate::MailboxState;
use crate::events::MailboxEvent;
use crate::events::mailbox::{ContentAt, MeetingContent};
use crate::sealed::{KeyLookup, KeyRef, SealError, Sealed, SecretKey, Vault};
use crate::stream::StreamId;

/// One stream's kept contents, by place.
#[derive(Default)]
pub struct StreamContents {
    by_place: HashMap<ContentAt, Sealed<MeetingContent>>,
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
            let held: std::collections::HashSet<ContentAt> = state.meetings.values().map(|m| m.content).collect();
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
    by_stream: HashMap<StreamId, StreamContents>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::Aggregate;
    use crate::events::EventMeta;
    use crate::events::mailbox::*;
    use crate::sealed::Sealer;
    use crate::stream::{MailboxKey, OrgId};
    use crate::time::Timestamp;

    fn upsert(key: &SecretKey, stream: &StreamId, id: &str, modified: i64) -> MailboxEvent {
        let content = MeetingContent {
            subject: format!("{id} at {modified}"),
            locations: vec![],
            organizer: None,
            attendees: vec![],
            join: None,
            keyword: None,
        };
        let meeting = MeetingRecord {
            id: id.into(),
            kind: EventKind::SingleInstance,
            series_master_id: None,
            start: Timestamp(0),
            end: Timestamp(1),
            is_all_day: false,
            is_cancelled: false,
            is_organizer: true,
            sensitivity: Sensitivity::Normal,
            change_key: format!("ck-{modified}"),
            last_modified: Timestamp(modified),
            join_explanation: None,
            content: Sealer::new(stream, KeyRef(0), key)
                .seal(MeetingContent::FIELD, &content)
                .unwrap(),
        };
        CalendarEventUpserted { meeting }.into()
    }

    /// What a replay keeps is what its states point at: a meeting changed
    /// again, or deleted, lets its older content go.
    #[test]
    fn only_content_a_meeting_points_at_is_kept() {
        let key = SecretKey::generate();
        let stream = StreamId::mailbox(
            &OrgId::new("acme").unwrap(),
            &MailboxKey::parse(&"cd".repeat(16)).unwrap(),
        );
        let events = [
            upsert(&key, &stream, "a", 1),
            upsert(&key, &stream, "a", 2),
            upsert(&key, &stream, "b", 1),
            CalendarEventDeleted { event_id: "b".into() }.into(),
        ];
        let mut contents = StreamContents::default();
        let mut state = MailboxState::default();
        for (version, mut e) in (1u64..).zip(events) {
            contents.take_from(version, &mut e);
            state = state.apply(
                &EventMeta {
                    version,
                    at: Timestamp(0),
                },
                e,
            );
        }
        assert_eq!(contents.len(), 3);
        contents.retain_held(&state);
        assert_eq!(contents.len(), 1);
        let mut kept = KeptContents::default();
        kept.insert(stream.clone(), contents);
        let one = KeyOnly(Arc::new(key));
        let opened = state.meetings["a"]
            .content
            .open(&kept.with_keys(&one), &stream)
            .unwrap();
        assert!(matches!(opened, crate::sealed::Opened::Plain(c) if c.subject == "a at 2"));
    }

    struct KeyOnly(Arc<SecretKey>);
    impl KeyLookup for KeyOnly {
        fn data_key(&self, _: &StreamId, _: KeyRef) -> Result<Option<Arc<SecretKey>>, SealError> {
            Ok(Some(self.0.clone()))
        }
    }
}
