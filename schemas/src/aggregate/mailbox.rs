//! The mailbox aggregate: one mailbox's meetings within its window (series
//! occurrences expanded), join-detail and OBTP progress, automatic replies,
//! presence, locale and sync cursor.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Aggregate;
use super::meetings::Meetings;
use crate::change_key::ChangeKey;
use crate::event_id::EventId;
use crate::events::EventMeta;
use crate::events::mailbox::*;
use crate::sealed::{Reveal, SealError, Sealed, Shown};
use crate::stream::StreamId;
use crate::time::Timestamp;

/// The span of time a mailbox keeps meetings for (default 7 days back to 31
/// ahead; the actor chooses and records it with each sync cursor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Window {
    pub const DEFAULT_BACK_DAYS: i64 = 7;
    pub const DEFAULT_AHEAD_DAYS: i64 = 31;

    pub fn around(now: Timestamp, back_days: i64, ahead_days: i64) -> Self {
        Self {
            start: now.plus_days(-back_days),
            end: now.plus_days(ahead_days),
        }
    }

    /// Whether a meeting `[start, end)` overlaps the window.
    pub fn overlaps(&self, start: Timestamp, end: Timestamp) -> bool {
        start < self.end && end > self.start
    }
}

/// Where join details for one event stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinStatus {
    /// Decoration asked for; the provider meeting and the PATCH may not be done.
    Requested,
    /// The join block is in the body.
    Patched,
    /// The last attempt failed; `retry_at` says when the next one is due.
    Failed,
    /// The keyword went and hcal removed its block.
    Removed,
}

/// Join details of one event, as hcal has arranged them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRecord {
    pub status: JoinStatus,
    pub keyword: String,
    pub action: JoinAction,
    pub meeting_id: Option<String>,
    pub provider: Option<String>,
    pub details: Option<Sealed<ProviderMeeting>>,
    pub block_hash: Option<String>,
    /// changeKey of the event after hcal's last write to it.
    pub change_key: Option<String>,
    /// The event's time the provider's meeting has.
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub retry_at: Option<Timestamp>,
    /// The event itself is gone; the provider's meeting still needs deleting.
    pub event_gone: bool,
    pub at: Timestamp,
}

impl JoinRecord {
    fn new(keyword: String, action: JoinAction, at: Timestamp) -> Self {
        Self {
            status: JoinStatus::Requested,
            keyword,
            action,
            meeting_id: None,
            provider: None,
            details: None,
            block_hash: None,
            change_key: None,
            start: None,
            end: None,
            attempts: 0,
            last_error: None,
            retry_at: None,
            event_gone: false,
            at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObtpState {
    pub show_from: Timestamp,
    pub until: Timestamp,
    pub delivered: Option<Timestamp>,
    pub withdrawn: Option<(ObtpWithdrawReason, Timestamp)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoReplies {
    pub status: AutoReplyStatus,
    pub scheduled_start: Option<Timestamp>,
    pub scheduled_end: Option<Timestamp>,
    pub internal_message: Sealed<String>,
    pub external_message: Sealed<String>,
    pub changed_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCursor {
    pub delta_link: Sealed<String>,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MailboxState {
    pub version: u64,
    /// By Graph event id; series masters, occurrences and exceptions alike.
    pub meetings: Meetings,
    pub window: Option<Window>,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    /// Boxed: most mailboxes have none, and every active one holds a state.
    pub auto_replies: Option<Box<AutoReplies>>,
    pub presence: Option<(Presence, Timestamp)>,
    pub cursor: Option<SyncCursor>,
    pub join: BTreeMap<String, JoinRecord>,
    pub obtp: BTreeMap<String, ObtpState>,
}

/// Decorations that failed and still matter (their meeting has not ended),
/// as a mailbox reports them to admins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinFailures {
    pub meetings: u32,
    /// Graph's (or the meeting provider's) code of the latest failure.
    pub last_code: String,
    pub last_at: Timestamp,
    /// When hcal tries again (None: it will not, the failure is final).
    pub next_retry_at: Option<Timestamp>,
}

impl MailboxState {
    /// The failed decorations of meetings not yet over at `now`.
    pub fn join_failures(&self, now: Timestamp) -> Option<JoinFailures> {
        let mut out: Option<JoinFailures> = None;
        for (id, j) in &self.join {
            let live = self
                .meetings
                .get(id)
                .is_some_and(|m| m.kind == EventKind::SeriesMaster || m.end > now);
            if j.status != JoinStatus::Failed || j.event_gone || !live {
                continue;
            }
            let code = j.last_error.clone().unwrap_or_default();
            let f = out.get_or_insert_with(|| JoinFailures {
                meetings: 0,
                last_code: code.clone(),
                last_at: j.at,
                next_retry_at: None,
            });
            f.meetings += 1;
            if j.at > f.last_at {
                f.last_code = code;
                f.last_at = j.at;
            }
            f.next_retry_at = match (f.next_retry_at, j.retry_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        out
    }

    /// Whether `record` should replace what the state holds for its id: never
    /// let an older Graph state overwrite a newer one.
    pub fn is_newer<C>(&self, record: &MeetingRecord<C>) -> bool {
        self.meetings.get(&record.id).is_none_or(|old| supersedes(record, old))
    }

    fn in_window<C>(&self, m: &MeetingRecord<C>) -> bool {
        m.kind == EventKind::SeriesMaster || self.window.is_none_or(|w| w.overlaps(m.start, m.end))
    }

    fn upsert(&mut self, m: HeldMeeting) {
        if self.in_window(&m) {
            self.meetings.insert_if(m, |old, new| supersedes(new, old));
        } else if self.is_newer(&m) {
            self.forget(&m.id.to_string());
        }
    }

    fn forget(&mut self, id: &str) {
        self.meetings.remove(id);
        self.obtp.remove(id);
        // A provider meeting outlives its event until hcal has deleted it.
        match self.join.get_mut(id) {
            Some(j) if j.meeting_id.is_some() => j.event_gone = true,
            Some(_) => {
                self.join.remove(id);
            }
            None => {}
        }
    }

    fn evict_outside_window(&mut self) {
        let gone: Vec<String> = self
            .meetings
            .values()
            .filter(|m| !self.in_window(m))
            .map(|m| m.id.to_string())
            .collect();
        for id in gone {
            self.forget(&id);
        }
    }

    /// Meetings a person would see in a list: no series masters, sorted by start.
    pub fn listed(&self) -> Vec<&HeldMeeting> {
        let mut v: Vec<&HeldMeeting> = self
            .meetings
            .values()
            .filter(|m| m.kind != EventKind::SeriesMaster)
            .collect();
        v.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
        v
    }
}

impl Aggregate for MailboxState {
    type Event = MailboxEvent;
    type View<'a> = MailboxView<'a>;

    fn apply(mut self, meta: &EventMeta, event: MailboxEvent) -> Self {
        self.version = meta.version;
        match event {
            MailboxEvent::CalendarEventUpserted(e) => self.upsert(e.meeting.held(ContentAt {
                version: meta.version,
                index: 0,
            })),
            MailboxEvent::CalendarEventDeleted(e) => {
                let occurrences: Vec<String> = self
                    .meetings
                    .values()
                    .filter(|m| m.series_master_id.as_ref().is_some_and(|s| s.is(&e.event_id)))
                    .map(|m| m.id.to_string())
                    .collect();
                for id in occurrences {
                    self.forget(&id);
                }
                self.forget(&e.event_id);
            }
            MailboxEvent::InstancesRefreshed(e) => {
                let replaced: Vec<String> = self
                    .meetings
                    .values()
                    .filter(|m| {
                        m.series_master_id.as_ref().is_some_and(|s| s.is(&e.series_master_id))
                            && m.start >= e.from
                            && m.start < e.to
                    })
                    .map(|m| m.id.to_string())
                    .collect();
                for id in replaced {
                    if !e.instances.iter().any(|i| i.id == id) {
                        self.forget(&id);
                    }
                }
                for (index, m) in (0u32..).zip(e.instances) {
                    self.upsert(m.held(ContentAt {
                        version: meta.version,
                        index,
                    }));
                }
            }
            MailboxEvent::JoinDetailsRequested(e) => {
                let j = self
                    .join
                    .entry(e.event_id)
                    .or_insert_with(|| JoinRecord::new(e.keyword.clone(), e.action, meta.at));
                j.status = JoinStatus::Requested;
                j.keyword = e.keyword;
                j.action = e.action;
                j.at = meta.at;
            }
            MailboxEvent::JoinMeetingCreated(e) => {
                if let Some(j) = self.join.get_mut(&e.event_id) {
                    j.meeting_id = Some(e.meeting_id);
                    j.provider = Some(e.provider);
                    j.details = Some(e.details);
                    j.at = meta.at;
                }
            }
            MailboxEvent::JoinDetailsPatched(e) => {
                if let Some(j) = self.join.get_mut(&e.event_id) {
                    j.status = JoinStatus::Patched;
                    j.meeting_id = Some(e.meeting_id);
                    j.block_hash = Some(e.block_hash);
                    j.change_key = Some(e.change_key);
                    j.start = Some(e.start);
                    j.end = Some(e.end);
                    j.attempts = 0;
                    j.last_error = None;
                    j.retry_at = None;
                    j.at = meta.at;
                }
            }
            MailboxEvent::JoinDetailsFailed(e) => {
                if let Some(j) = self.join.get_mut(&e.event_id) {
                    j.status = JoinStatus::Failed;
                    j.attempts = e.attempt;
                    j.last_error = Some(e.code);
                    j.retry_at = e.retry_at;
                    j.at = meta.at;
                }
            }
            MailboxEvent::JoinMeetingUpdated(e) => {
                if let Some(j) = self.join.get_mut(&e.event_id) {
                    j.start = Some(e.start);
                    j.end = Some(e.end);
                    j.at = meta.at;
                }
            }
            MailboxEvent::JoinDetailsRemoved(e) => {
                if let Some(j) = self.join.get_mut(&e.event_id) {
                    j.status = JoinStatus::Removed;
                    j.block_hash = None;
                    j.change_key = Some(e.change_key);
                    j.at = meta.at;
                }
            }
            MailboxEvent::JoinMeetingDeleted(e) => {
                let done = match self.join.get_mut(&e.event_id) {
                    Some(j) if j.event_gone || j.status == JoinStatus::Removed => true,
                    Some(j) => {
                        j.meeting_id = None;
                        j.details = None;
                        false
                    }
                    None => false,
                };
                if done {
                    self.join.remove(&e.event_id);
                }
            }
            MailboxEvent::ObtpScheduled(e) => {
                self.obtp.insert(
                    e.event_id.clone(),
                    ObtpState {
                        show_from: e.show_from,
                        until: e.until,
                        delivered: None,
                        withdrawn: None,
                    },
                );
            }
            MailboxEvent::ObtpDelivered(e) => {
                if let Some(o) = self.obtp.get_mut(&e.event_id) {
                    o.delivered = Some(meta.at);
                }
            }
            MailboxEvent::ObtpWithdrawn(e) => {
                if let Some(o) = self.obtp.get_mut(&e.event_id) {
                    o.withdrawn = Some((e.reason, meta.at));
                }
            }
            MailboxEvent::AutomaticRepliesChanged(e) => {
                self.auto_replies = Some(Box::new(AutoReplies {
                    status: e.status,
                    scheduled_start: e.scheduled_start,
                    scheduled_end: e.scheduled_end,
                    internal_message: e.internal_message,
                    external_message: e.external_message,
                    changed_at: meta.at,
                }));
            }
            MailboxEvent::PresenceChanged(e) => self.presence = Some((e.presence, meta.at)),
            MailboxEvent::LocaleChanged(e) => {
                self.locale = Some(e.locale);
                self.time_zone = e.time_zone;
            }
            MailboxEvent::SyncCursorAdvanced(e) => {
                self.cursor = Some(SyncCursor {
                    delta_link: e.delta_link.clone(),
                    at: meta.at,
                });
                self.window = Some(Window {
                    start: e.window_start,
                    end: e.window_end,
                });
                self.evict_outside_window();
            }
        }
        self
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn from_any(state: super::AnyState) -> Option<Self> {
        match state {
            super::AnyState::Mailbox(s) => Some(s),
            _ => None,
        }
    }

    fn into_any(self) -> super::AnyState {
        super::AnyState::Mailbox(self)
    }

    fn settle(&mut self) {
        self.meetings.shrink_to_fit();
    }

    fn view<'a>(&'a self, stream: &StreamId, reveal: &Reveal) -> Result<MailboxView<'a>, SealError> {
        let mut meetings: Vec<&HeldMeeting> = self.meetings.values().collect();
        meetings.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
        let ats: Vec<ContentAt> = meetings.iter().map(|m| m.content).collect();
        let contents = reveal.show_meetings(stream, &ats)?;
        let meetings = meetings
            .into_iter()
            .zip(contents)
            .map(|(m, content)| {
                Ok(MeetingView {
                    id: &m.id,
                    kind: m.kind,
                    series_master_id: m.series_master_id.as_deref(),
                    start: m.start,
                    end: m.end,
                    is_all_day: m.is_all_day,
                    is_cancelled: m.is_cancelled,
                    is_organizer: m.is_organizer,
                    sensitivity: m.sensitivity,
                    change_key: &m.change_key,
                    last_modified: m.last_modified,
                    join_explanation: m.join_explanation.as_deref(),
                    content,
                })
            })
            .collect::<Result<_, SealError>>()?;
        let auto_replies = match &self.auto_replies {
            None => None,
            Some(a) => Some(AutoRepliesView {
                status: a.status,
                scheduled_start: a.scheduled_start,
                scheduled_end: a.scheduled_end,
                internal_message: reveal.show(&a.internal_message, stream, AUTO_REPLY_INTERNAL_FIELD)?,
                external_message: reveal.show(&a.external_message, stream, AUTO_REPLY_EXTERNAL_FIELD)?,
                changed_at: a.changed_at,
            }),
        };
        let sync_cursor = match &self.cursor {
            None => None,
            Some(c) => Some(CursorView {
                delta_link: reveal.show(&c.delta_link, stream, SYNC_CURSOR_FIELD)?,
                at: c.at,
            }),
        };
        Ok(MailboxView {
            version: self.version,
            window: self.window.map(|w| (w.start, w.end)),
            locale: self.locale.as_deref(),
            time_zone: self.time_zone.as_deref(),
            presence: self.presence,
            auto_replies,
            sync_cursor,
            meetings,
            join: self
                .join
                .iter()
                .map(|(id, j)| Ok((id.as_str(), JoinView::of(j, stream, reveal)?)))
                .collect::<Result<_, SealError>>()?,
            obtp: self
                .obtp
                .iter()
                .map(|(id, o)| {
                    (
                        id.as_str(),
                        ObtpView {
                            show_from: o.show_from,
                            until: o.until,
                            delivered: o.delivered,
                            withdrawn: o.withdrawn,
                        },
                    )
                })
                .collect(),
        })
    }
}

#[derive(Debug, Serialize)]
pub struct MailboxView<'a> {
    pub version: u64,
    pub window: Option<(Timestamp, Timestamp)>,
    pub locale: Option<&'a str>,
    pub time_zone: Option<&'a str>,
    pub presence: Option<(Presence, Timestamp)>,
    pub auto_replies: Option<AutoRepliesView>,
    pub sync_cursor: Option<CursorView>,
    pub meetings: Vec<MeetingView<'a>>,
    pub join: BTreeMap<&'a str, JoinView>,
    pub obtp: BTreeMap<&'a str, ObtpView>,
}

#[derive(Debug, Serialize)]
pub struct MeetingView<'a> {
    pub id: &'a EventId,
    pub kind: EventKind,
    pub series_master_id: Option<&'a EventId>,
    pub start: Timestamp,
    pub end: Timestamp,
    pub is_all_day: bool,
    pub is_cancelled: bool,
    pub is_organizer: bool,
    pub sensitivity: Sensitivity,
    pub change_key: &'a ChangeKey,
    pub last_modified: Timestamp,
    pub join_explanation: Option<&'a str>,
    pub content: Shown<MeetingContent>,
}

#[derive(Debug, Serialize)]
pub struct AutoRepliesView {
    pub status: AutoReplyStatus,
    pub scheduled_start: Option<Timestamp>,
    pub scheduled_end: Option<Timestamp>,
    pub internal_message: Shown<String>,
    pub external_message: Shown<String>,
    pub changed_at: Timestamp,
}

#[derive(Debug, Serialize)]
pub struct CursorView {
    pub delta_link: Shown<String>,
    pub at: Timestamp,
}

#[derive(Debug, Serialize)]
pub struct JoinView {
    pub status: JoinStatus,
    pub keyword: String,
    pub action: JoinAction,
    pub meeting_id: Option<String>,
    pub provider: Option<String>,
    pub details: Option<Shown<ProviderMeeting>>,
    pub block_hash: Option<String>,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub retry_at: Option<Timestamp>,
    pub event_gone: bool,
    pub at: Timestamp,
}

impl JoinView {
    fn of(j: &JoinRecord, stream: &StreamId, reveal: &Reveal) -> Result<Self, SealError> {
        Ok(JoinView {
            status: j.status,
            keyword: j.keyword.clone(),
            action: j.action,
            meeting_id: j.meeting_id.clone(),
            provider: j.provider.clone(),
            details: match &j.details {
                Some(d) => Some(reveal.show(d, stream, ProviderMeeting::FIELD)?),
                None => None,
            },
            block_hash: j.block_hash.clone(),
            start: j.start,
            end: j.end,
            attempts: j.attempts,
            last_error: j.last_error.clone(),
            retry_at: j.retry_at,
            event_gone: j.event_gone,
            at: j.at,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct ObtpView {
    pub show_from: Timestamp,
    pub until: Timestamp,
    pub delivered: Option<Timestamp>,
    pub withdrawn: Option<(ObtpWithdrawReason, Timestamp)>,
}

/// Whether `new` is a later state of a meeting than `old`: modified later, or
/// at the same time with another changeKey.
fn supersedes<A, B>(new: &MeetingRecord<A>, old: &MeetingRecord<B>) -> bool {
    new.last_modified > old.last_modified
        || (new.last_modified == old.last_modified && new.change_key != old.change_key)
}
