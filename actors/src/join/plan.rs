//! What join-detail work a mailbox's state calls for: a pure function of the
//! state, what its sealed content says and the clock, so that after any restart the
//! same work is found again and none is lost.

use std::collections::HashMap;

use hcal_joinlink::explain::KEYWORD_IN_LOCATION;
use hcal_schemas::aggregate::mailbox::{JoinStatus, MailboxState};
use hcal_schemas::events::mailbox::{EventKind, JoinAction, KeywordUse, MeetingContent, MeetingRecord};
use hcal_schemas::{EventId, Timestamp};

/// One piece of join-detail work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinTask {
    /// Create the meeting and write the join block (also: resume one that was asked for).
    Decorate {
        event_id: String,
        keyword: String,
        action: JoinAction,
    },
    /// The event moved: move the provider's meeting.
    Update { event_id: String, meeting_id: String },
    /// The keyword was removed: take the block out and delete the meeting.
    Undecorate {
        event_id: String,
        meeting_id: Option<String>,
    },
    /// The event is gone: delete the provider's meeting.
    DeleteMeeting { event_id: String, meeting_id: String },
}

/// The action a keyword asks for, by the name detection recorded.
pub fn action_of(modifier: Option<&str>, default: JoinAction) -> JoinAction {
    match modifier {
        Some("myroom") => JoinAction::PersonalRoom,
        Some("space") => JoinAction::Space,
        Some("onetime") => JoinAction::OneTime,
        _ => default,
    }
}

/// What planning needs of a meeting's sealed content.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JoinFacts {
    pub keyword: Option<KeywordUse>,
    /// The provider of the join target the event already carries.
    pub join_provider: Option<String>,
}

impl From<MeetingContent> for JoinFacts {
    fn from(c: MeetingContent) -> Self {
        Self {
            keyword: c.keyword,
            join_provider: c.join.map(|j| j.provider),
        }
    }
}

/// Whether `m`'s content may hold a keyword. Its join explanation, kept in
/// the clear, says so without opening the content; a record written before
/// explanations were kept may.
pub fn may_have_keyword<C>(m: &MeetingRecord<C>) -> bool {
    m.join_explanation
        .as_deref()
        .is_none_or(|code| code == KEYWORD_IN_LOCATION)
}

/// Join work for `state`. `facts` holds what the content of the organiser's
/// meetings says (see [`JoinFacts`]); `default_action` maps a keyword to
/// what it creates without a modifier; `provider` is the id of the org's
/// meeting service.
pub fn plan(
    state: &MailboxState,
    facts: &HashMap<EventId, JoinFacts>,
    now: Timestamp,
    provider: &str,
    default_action: impl Fn(&str) -> JoinAction,
) -> Vec<JoinTask> {
    let mut tasks = Vec::new();
    for m in state.meetings.values() {
        if !m.is_organizer || m.kind == EventKind::Occurrence {
            continue;
        }
        let Some(fact) = facts.get(&m.id) else { continue };
        // Most mailboxes have no join work: no id to spell out then.
        let record = match state.join.is_empty() {
            true => None,
            false => state.join.get(&m.id.to_string()),
        };
        // A series is decorated on its master; an exception only for a keyword of its own.
        if m.kind == EventKind::Exception
            && let Some(master) = m.series_master_id.as_ref().and_then(|id| facts.get(id))
            && master.keyword.is_some()
        {
            continue;
        }
        let upcoming = match m.kind {
            EventKind::SeriesMaster => {
                state
                    .meetings
                    .values()
                    .any(|o| o.series_master_id.as_deref() == Some(&m.id) && o.end > now)
                    || m.end > now
            }
            _ => m.end > now,
        };
        match (&fact.keyword, record) {
            (Some(k), None) => {
                let already = fact.join_provider.as_deref() == Some(provider);
                if upcoming && !m.is_cancelled && !already {
                    let action = action_of(k.modifier.as_deref(), default_action(&k.keyword));
                    tasks.push(JoinTask::Decorate {
                        event_id: m.id.to_string(),
                        keyword: k.keyword.clone(),
                        action,
                    });
                }
            }
            (Some(k), Some(r)) => {
                let due = match r.status {
                    JoinStatus::Requested => true,
                    JoinStatus::Failed => r.retry_at.is_some_and(|at| at <= now),
                    JoinStatus::Removed => true,
                    JoinStatus::Patched => false,
                };
                if due && upcoming && !m.is_cancelled {
                    let action = action_of(k.modifier.as_deref(), default_action(&k.keyword));
                    tasks.push(JoinTask::Decorate {
                        event_id: m.id.to_string(),
                        keyword: k.keyword.clone(),
                        action,
                    });
                } else if r.status == JoinStatus::Patched
                    && let Some(meeting_id) = &r.meeting_id
                    && (r.start != Some(m.start) || r.end != Some(m.end))
                {
                    tasks.push(JoinTask::Update {
                        event_id: m.id.to_string(),
                        meeting_id: meeting_id.clone(),
                    });
                }
            }
            (None, Some(r)) if r.status != JoinStatus::Removed => {
                tasks.push(JoinTask::Undecorate {
                    event_id: m.id.to_string(),
                    meeting_id: r.meeting_id.clone(),
                });
            }
            _ => {}
        }
    }
    for (event_id, r) in &state.join {
        let gone = r.event_gone || state.meetings.get(event_id).is_some_and(|m| m.is_cancelled);
        if gone && let Some(meeting_id) = &r.meeting_id {
            tasks.push(JoinTask::DeleteMeeting {
                event_id: event_id.clone(),
                meeting_id: meeting_id.clone(),
            });
        }
    }
    tasks
}
