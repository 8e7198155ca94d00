//! What people and admins see of a mailbox: the meeting list (private
//! subjects masked) and the actor's inspection.

use hcal_schemas::aggregate::mailbox::{JoinRecord, JoinStatus, MailboxState};
use hcal_schemas::events::mailbox::{ContentAt, EventKind, HeldMeeting, JoinTarget, MeetingContent, Person};
use hcal_schemas::{Aggregate, Opened, Reveal, StreamId, Timestamp, Vault};
use serde::Serialize;

use super::Health;
use crate::journal::Journal;

/// One meeting of a list.
#[derive(Clone, Debug, Serialize)]
pub struct MeetingItem {
    pub id: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub is_all_day: bool,
    pub is_cancelled: bool,
    pub subject: String,
    pub private: bool,
    pub location: Option<String>,
    pub organizer: Option<Person>,
    pub is_organizer: bool,
    pub series_master_id: Option<String>,
    pub join: Option<JoinTarget>,
    /// Why there is (or is not) a join target: a stable code.
    pub explanation: Option<String>,
    pub changed: Timestamp,
}

/// Why a meeting has (or lacks) a join target, refined by what hcal did:
/// a keyword meeting that is over, or whose join details failed.
fn explanation(
    m: &HeldMeeting,
    content: Option<&MeetingContent>,
    join: Option<&JoinRecord>,
    now: Timestamp,
) -> Option<String> {
    let keyword = content.is_some_and(|c| c.keyword.is_some());
    match join {
        Some(j) if j.status == JoinStatus::Failed => Some(format!(
            "join_details_failed:{}",
            j.last_error.as_deref().unwrap_or("unknown")
        )),
        Some(j) if j.status == JoinStatus::Requested => Some("join_details_pending".into()),
        _ if keyword && m.end <= now && content.is_some_and(|c| c.join.is_none()) => Some("past_meeting".into()),
        _ => m.join_explanation.as_deref().map(str::to_string),
    }
}

/// Why a meeting's content is not shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Missing {
    /// The mailbox's data was erased (crypto-shredding).
    Erased,
    /// It could not be read or opened (logged).
    Unavailable,
}

impl Missing {
    fn subject(self) -> &'static str {
        match self {
            Missing::Erased => "<erased>",
            Missing::Unavailable => "<unavailable>",
        }
    }
}

fn item(
    m: &HeldMeeting,
    content: Result<MeetingContent, Missing>,
    join: Option<&JoinRecord>,
    now: Timestamp,
    private_subject: &str,
) -> MeetingItem {
    let explanation = explanation(m, content.as_ref().ok(), join, now);
    let private = m.sensitivity.masks_subject();
    let (subject, location, organizer, join) = match content {
        Ok(c) => (
            if private {
                private_subject.to_string()
            } else {
                c.subject
            },
            if private { None } else { c.locations.into_iter().next() },
            c.organizer,
            c.join,
        ),
        Err(missing) => (missing.subject().to_string(), None, None, None),
    };
    MeetingItem {
        id: m.id.to_string(),
        start: m.start,
        end: m.end,
        is_all_day: m.is_all_day,
        is_cancelled: m.is_cancelled,
        subject,
        private,
        location,
        organizer,
        is_organizer: m.is_organizer,
        series_master_id: m.series_master_id.as_ref().map(|s| s.to_string()),
        join,
        explanation,
        changed: m.last_modified,
    }
}

/// The meetings overlapping `[from, to)`, occurrences expanded, by start.
pub fn meetings(
    state: &MailboxState,
    stream: &StreamId,
    vault: &dyn Vault,
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
    private_subject: &str,
) -> Vec<MeetingItem> {
    let listed: Vec<&HeldMeeting> = state
        .listed()
        .into_iter()
        .filter(|m| m.start < to && m.end > from && m.kind != EventKind::SeriesMaster)
        .collect();
    let ats: Vec<ContentAt> = listed.iter().map(|m| m.content).collect();
    let contents = vault.meeting_contents(stream, &ats).unwrap_or_else(|e| {
        tracing::warn!(%stream, error = %e, "meeting content unreadable");
        vec![None; ats.len()]
    });
    listed
        .into_iter()
        .zip(contents)
        .map(|(m, sealed)| {
            let content = match sealed.map(|s| s.open(vault, stream, MeetingContent::FIELD)) {
                Some(Ok(Opened::Plain(c))) => Ok(c),
                Some(Ok(Opened::Erased)) => Err(Missing::Erased),
                Some(Err(e)) => {
                    tracing::warn!(%stream, error = %e, "meeting content does not open");
                    Err(Missing::Unavailable)
                }
                None => Err(Missing::Unavailable),
            };
            // Occurrences carry their series' join work. Most mailboxes have
            // none: no id to spell out then.
            let j = match state.join.is_empty() {
                true => None,
                false => state.join.get(&m.id.to_string()).or_else(|| {
                    m.series_master_id
                        .as_ref()
                        .and_then(|id| state.join.get(&id.to_string()))
                }),
            };
            item(m, content, j, now, private_subject)
        })
        .collect()
}

/// The live actor as an admin sees it.
#[derive(Clone, Debug, Serialize)]
pub struct MailboxInspection {
    pub stream: String,
    pub active: bool,
    pub version: u64,
    pub meetings: usize,
    pub window: Option<(Timestamp, Timestamp)>,
    pub sync_cursor_at: Option<Timestamp>,
    pub sync_cursor_age_seconds: Option<i64>,
    pub pending_inbox: usize,
    pub health: Health,
    /// The state itself, content redacted unless revealed.
    pub state: serde_json::Value,
}

pub fn inspect(
    journal: &Journal<MailboxState>,
    health: &Health,
    pending_inbox: usize,
    now: Timestamp,
    reveal: bool,
) -> MailboxInspection {
    let s = &journal.state;
    let reveal = if reveal {
        Reveal::With(journal.store())
    } else {
        Reveal::Redacted
    };
    let state = match s.view(&journal.stream, &reveal) {
        Ok(v) => serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
        Err(e) => {
            tracing::warn!(stream = %journal.stream, error = %e, "mailbox state cannot be shown");
            serde_json::Value::Null
        }
    };
    MailboxInspection {
        stream: journal.stream.to_string(),
        active: true,
        version: s.version(),
        meetings: s.listed().len(),
        window: s.window.map(|w| (w.start, w.end)),
        sync_cursor_at: s.cursor.as_ref().map(|c| c.at),
        sync_cursor_age_seconds: s.cursor.as_ref().map(|c| (now.millis() - c.at.millis()) / 1000),
        pending_inbox,
        health: health.clone(),
        state,
    }
}
