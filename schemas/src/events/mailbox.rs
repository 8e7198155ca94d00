//! Events of one mailbox's stream (`mbx:{org}:{key}`): its calendar, join
//! details, OBTP, automatic replies, presence, locale and sync cursor.

use serde::{Deserialize, Serialize};

use super::event_family;
use super::legacy::upcast_mailbox;
use crate::change_key::ChangeKey;
use crate::event_id::EventId;
use crate::intern::Code;
use crate::sealed::Sealed;
use crate::time::Timestamp;

event_family! {
    /// Everything that happens to one mailbox.
    MailboxEvent, upcast = upcast_mailbox, {
        CalendarEventUpserted = ("mailbox.calendar_event_upserted", 2),
        CalendarEventDeleted = ("mailbox.calendar_event_deleted", 1),
        InstancesRefreshed = ("mailbox.instances_refreshed", 1),
        JoinDetailsRequested = ("mailbox.join_details_requested", 1),
        JoinDetailsPatched = ("mailbox.join_details_patched", 1),
        JoinDetailsFailed = ("mailbox.join_details_failed", 1),
        JoinMeetingCreated = ("mailbox.join_meeting_created", 1),
        JoinMeetingUpdated = ("mailbox.join_meeting_updated", 1),
        JoinMeetingDeleted = ("mailbox.join_meeting_deleted", 1),
        JoinDetailsRemoved = ("mailbox.join_details_removed", 1),
        ObtpScheduled = ("mailbox.obtp_scheduled", 1),
        ObtpDelivered = ("mailbox.obtp_delivered", 1),
        ObtpWithdrawn = ("mailbox.obtp_withdrawn", 1),
        AutomaticRepliesChanged = ("mailbox.automatic_replies_changed", 1),
        PresenceChanged = ("mailbox.presence_changed", 1),
        LocaleChanged = ("mailbox.locale_changed", 1),
        SyncCursorAdvanced = ("mailbox.sync_cursor_advanced", 1),
    }
}

/// Field names binding the mailbox stream's sealed values to their place.
pub const AUTO_REPLY_INTERNAL_FIELD: &str = "auto_reply.internal_message";
pub const AUTO_REPLY_EXTERNAL_FIELD: &str = "auto_reply.external_message";
pub const SYNC_CURSOR_FIELD: &str = "sync.delta_link";

/// Graph's `event.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    SingleInstance,
    Occurrence,
    Exception,
    SeriesMaster,
}

/// Graph's `event.sensitivity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    #[default]
    Normal,
    Personal,
    Private,
    Confidential,
}

impl Sensitivity {
    /// Private and confidential meetings show a masked subject.
    pub fn masks_subject(self) -> bool {
        matches!(self, Sensitivity::Private | Sensitivity::Confidential)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub name: String,
    pub address: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttendeeKind {
    Required,
    Optional,
    Resource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    None,
    Organizer,
    TentativelyAccepted,
    Accepted,
    Declined,
    NotResponded,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendee {
    pub person: Person,
    pub kind: AttendeeKind,
    pub response: Response,
}

/// Where a meeting is joined, and how hcal knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinTarget {
    /// Snake-case service id (`teams`, `zoom`, `webex`, `sip`, ...).
    pub provider: String,
    pub uri: String,
    /// `online_meeting`, `location`, `body` or `rule:<name>`.
    pub source: String,
}

/// A scheduling keyword found in the location (`@webex`, `@meet:space`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeywordUse {
    pub keyword: String,
    pub modifier: Option<String>,
}

/// The sensitive part of a meeting, sealed as one value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingContent {
    pub subject: String,
    /// `location.displayName` first, then every `locations[].displayName`.
    pub locations: Vec<String>,
    pub organizer: Option<Person>,
    pub attendees: Vec<Attendee>,
    pub join: Option<JoinTarget>,
    pub keyword: Option<KeywordUse>,
}

/// One calendar item: as an event carries it (`C` is its sealed content),
/// or as a mailbox's state holds it ([`HeldMeeting`]: `C` says where in
/// the log that content is, so that an active mailbox does not keep it in
/// memory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingRecord<C = Sealed<MeetingContent>> {
    /// Graph event id.
    pub id: EventId,
    pub kind: EventKind,
    /// Boxed: most meetings are not occurrences, and a record's every byte
    /// counts twenty times per mailbox.
    pub series_master_id: Option<Box<EventId>>,
    pub start: Timestamp,
    pub end: Timestamp,
    pub is_all_day: bool,
    pub is_cancelled: bool,
    pub is_organizer: bool,
    pub sensitivity: Sensitivity,
    pub change_key: ChangeKey,
    pub last_modified: Timestamp,
    /// Why the meeting has (or lacks) a join target: a stable snake_case
    /// code, not sensitive (`teams_link_in_body`, `no_link`, ...).
    pub join_explanation: Option<Code>,
    pub content: C,
}

/// A meeting as a mailbox's state holds it: its content stays in the event
/// that brought it.
pub type HeldMeeting = MeetingRecord<ContentAt>;

/// Where a held meeting's sealed content is: the event at `version` of the
/// mailbox's stream, its `index`-th meeting (0 for an upsert, the place in
/// `instances` for a refresh).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContentAt {
    pub version: u64,
    pub index: u32,
}

impl MeetingContent {
    /// The field name that binds a meeting's sealed content to its place.
    pub const FIELD: &'static str = "meeting.content";
}

impl MeetingRecord {
    /// The record as a state holds it, its content left at `at`.
    pub fn held(self, at: ContentAt) -> HeldMeeting {
        MeetingRecord {
            id: self.id,
            kind: self.kind,
            series_master_id: self.series_master_id,
            start: self.start,
            end: self.end,
            is_all_day: self.is_all_day,
            is_cancelled: self.is_cancelled,
            is_organizer: self.is_organizer,
            sensitivity: self.sensitivity,
            change_key: self.change_key,
            last_modified: self.last_modified,
            join_explanation: self.join_explanation,
            content: at,
        }
    }
}

impl MailboxEvent {
    /// Moves out the meeting contents this event carries, with where each
    /// is. What is left may only be folded (the fold drops content).
    pub(crate) fn take_contents(&mut self, version: u64) -> Vec<(ContentAt, Sealed<MeetingContent>)> {
        let at = |index: usize| ContentAt {
            version,
            index: u32::try_from(index).unwrap_or(u32::MAX),
        };
        match self {
            MailboxEvent::CalendarEventUpserted(e) => vec![(at(0), e.meeting.content.take())],
            MailboxEvent::InstancesRefreshed(e) => e
                .instances
                .iter_mut()
                .enumerate()
                .map(|(i, m)| (at(i), m.content.take()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The meeting contents this event carries, with where each is.
    pub fn into_contents(mut self, version: u64) -> Vec<(ContentAt, Sealed<MeetingContent>)> {
        self.take_contents(version)
    }
}

/// A calendar item was created or changed (current schema: v2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarEventUpserted {
    pub meeting: MeetingRecord,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarEventDeleted {
    pub event_id: String,
}

/// The occurrences and exceptions of a series within `[from, to)`, as Graph's
/// `instances` returned them; they replace what the mailbox held there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstancesRefreshed {
    pub series_master_id: String,
    pub from: Timestamp,
    pub to: Timestamp,
    pub instances: Vec<MeetingRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinAction {
    PersonalRoom,
    Space,
    OneTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinDetailsRequested {
    pub event_id: String,
    pub keyword: String,
    pub action: JoinAction,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinDetailsPatched {
    pub event_id: String,
    /// The provider's meeting id.
    pub meeting_id: String,
    /// Hash of the join block written, to recognise it later.
    pub block_hash: String,
    /// The event's changeKey after the PATCH (so its echo is recognised).
    pub change_key: String,
    /// The meeting's time when decorated (a later move updates the provider's meeting).
    pub start: Timestamp,
    pub end: Timestamp,
}

/// The join details hcal's meeting service gave a meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderMeeting {
    pub join_url: String,
    pub sip: Option<String>,
    pub meeting_number: Option<String>,
    /// (label, number) pairs.
    pub dial_in: Vec<(String, String)>,
}

impl ProviderMeeting {
    pub const FIELD: &'static str = "join.provider_meeting";
}

/// The meeting service holds a meeting for this event (created, or found again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinMeetingCreated {
    pub event_id: String,
    pub meeting_id: String,
    /// Provider id (`webex`, or the external service's name).
    pub provider: String,
    pub action: JoinAction,
    pub details: Sealed<ProviderMeeting>,
}

/// The event moved: the provider's meeting was moved with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinMeetingUpdated {
    pub event_id: String,
    pub meeting_id: String,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// The provider's meeting is gone (event cancelled or deleted, keyword removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinMeetingDeleted {
    pub event_id: String,
    pub meeting_id: String,
}

/// The keyword was removed: hcal took its join block out of the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinDetailsRemoved {
    pub event_id: String,
    pub change_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinDetailsFailed {
    pub event_id: String,
    /// Graph's `error.code`, or the provider's.
    pub code: String,
    pub attempt: u32,
    pub retry_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObtpScheduled {
    pub event_id: String,
    pub show_from: Timestamp,
    pub until: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObtpDelivered {
    pub event_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObtpWithdrawReason {
    Cancelled,
    Moved,
    Ended,
    NoJoinTarget,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObtpWithdrawn {
    pub event_id: String,
    pub reason: ObtpWithdrawReason,
}

/// Graph's `automaticRepliesSetting.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoReplyStatus {
    Disabled,
    AlwaysEnabled,
    Scheduled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutomaticRepliesChanged {
    pub status: AutoReplyStatus,
    pub scheduled_start: Option<Timestamp>,
    pub scheduled_end: Option<Timestamp>,
    pub internal_message: Sealed<String>,
    pub external_message: Sealed<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Available,
    OutOfOffice,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceChanged {
    pub presence: Presence,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocaleChanged {
    pub locale: String,
    pub time_zone: Option<String>,
}

/// A calendarView delta round completed: the cursor to continue from, and the
/// window it covers (meetings outside it are dropped from state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCursorAdvanced {
    pub delta_link: Sealed<String>,
    pub window_start: Timestamp,
    pub window_end: Timestamp,
}
