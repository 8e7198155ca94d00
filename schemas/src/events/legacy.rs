//! Older schema versions of events, kept so old logs replay (upcasting).
//!
//! When an event's struct changes, its previous shape moves here with the
//! version it had, and the family's upcaster turns stored payloads of that
//! version into the current struct. Nothing here is ever written again.

use serde::{Deserialize, Serialize};

use super::EventDecodeError;
use super::mailbox::{CalendarEventUpserted, EventKind, MailboxEvent, MeetingContent, MeetingRecord, Sensitivity};
use crate::codec;
use crate::sealed::Sealed;
use crate::time::Timestamp;

/// `mailbox.calendar_event_upserted` v1: before sensitivity (private-meeting
/// masking), `isOrganizer` and join explanations were recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarEventUpsertedV1 {
    pub meeting: MeetingRecordV1,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingRecordV1 {
    pub id: String,
    pub kind: EventKind,
    pub series_master_id: Option<String>,
    pub start: Timestamp,
    pub end: Timestamp,
    pub is_all_day: bool,
    pub is_cancelled: bool,
    pub change_key: String,
    pub last_modified: Timestamp,
    pub content: Sealed<MeetingContent>,
}

impl From<CalendarEventUpsertedV1> for CalendarEventUpserted {
    fn from(v1: CalendarEventUpsertedV1) -> Self {
        let m = v1.meeting;
        CalendarEventUpserted {
            meeting: MeetingRecord {
                id: m.id.into(),
                kind: m.kind,
                series_master_id: m.series_master_id.map(|s| Box::new(s.into())),
                start: m.start,
                end: m.end,
                is_all_day: m.is_all_day,
                is_cancelled: m.is_cancelled,
                // v1 did not record it; Graph's default.
                is_organizer: false,
                sensitivity: Sensitivity::Normal,
                change_key: m.change_key.into(),
                last_modified: m.last_modified,
                join_explanation: None,
                content: m.content,
            },
        }
    }
}

pub(crate) fn upcast_mailbox(name: &str, version: u16, payload: &[u8]) -> Result<MailboxEvent, EventDecodeError> {
    match (name, version) {
        ("mailbox.calendar_event_upserted", 1) => {
            let v1: CalendarEventUpsertedV1 = codec::decode(payload)?;
            Ok(MailboxEvent::CalendarEventUpserted(v1.into()))
        }
        _ => Err(EventDecodeError::UnsupportedVersion {
            name: name.to_string(),
            version,
        }),
    }
}
