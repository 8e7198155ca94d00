//! The emulator's state: tenants, apps, tokens, mailboxes with their calendars,
//! subscriptions and delta sync states. One `State` behind one mutex; locks are short.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use crate::recurrence::Recurrence;
use crate::seed::{ConsentMode, Seed};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    SingleInstance,
    SeriesMaster,
    Exception,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SingleInstance => "singleInstance",
            Kind::SeriesMaster => "seriesMaster",
            Kind::Exception => "exception",
        }
    }
}

/// A stored calendar item: a single instance, a series master or an exception.
/// Occurrences are not stored; they are computed from their master.
#[derive(Debug, Clone)]
pub struct Event {
    /// Random key of the item (for an exception: its master's key).
    pub key: [u8; 16],
    pub id: String,
    /// Creation order within the mailbox.
    pub seq: u64,
    pub kind: Kind,
    /// Exceptions: the master's id and the occurrence's original start.
    pub master_id: Option<String>,
    pub original_start: Option<DateTime<Utc>>,
    pub ical_uid: String,
    pub change_key: String,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    /// Wall time of start/end in their zones, as given.
    pub start: NaiveDateTime,
    pub start_tz: String,
    pub end: NaiveDateTime,
    pub end_tz: String,
    pub recurrence: Option<Recurrence>,
    /// Masters: original starts (unix seconds) of deleted occurrences ...
    pub deleted_occurrences: BTreeSet<i64>,
    /// ... and of occurrences that have an exception item.
    pub exceptions: BTreeSet<i64>,
    pub is_cancelled: bool,
    pub is_organizer: bool,
    pub organizer_name: String,
    pub organizer_address: String,
    pub response: String,
    pub response_time: Option<DateTime<Utc>>,
    /// The remaining Graph properties, normalised (subject, body as HTML, location, ...).
    pub props: Map<String, Value>,
    /// singleValueExtendedProperties: (id, value).
    pub ext: Vec<(String, String)>,
    /// multiValueExtendedProperties: (id, values).
    pub multi_ext: Vec<(String, Vec<String>)>,
    /// Organizer's item: mailbox ids holding attendee copies.
    pub copies: Vec<String>,
    /// `bodyPreview`, computed on write.
    pub preview: String,
    /// The JSON of this item with default options (UTC, HTML, no $select/$expand), rendered
    /// on first read after a write: GET of one event is the hot path of every benchmark.
    pub rendered: std::sync::OnceLock<String>,
}

impl Event {
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.change_key)
    }

    pub fn start_utc(&self) -> DateTime<Utc> {
        let tz = crate::tz::resolve(&self.start_tz).unwrap_or(chrono_tz::Tz::UTC);
        crate::tz::local_to_utc(&tz, self.start)
    }

    pub fn end_utc(&self) -> DateTime<Utc> {
        let tz = crate::tz::resolve(&self.end_tz).unwrap_or(chrono_tz::Tz::UTC);
        crate::tz::local_to_utc(&tz, self.end)
    }

    /// Recompute derived fields after a write.
    pub fn finish(&mut self) {
        let html = self
            .props
            .get("body")
            .and_then(|b| b.get("content"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let text = crate::wire::html_to_text(html);
        self.preview = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(255)
            .collect();
        self.rendered = std::sync::OnceLock::new();
    }

    pub fn subject(&self) -> &str {
        self.props.get("subject").and_then(Value::as_str).unwrap_or("")
    }
}

/// An issued access token.
#[derive(Debug, Clone)]
pub struct Token {
    pub tenant_id: String,
    pub client_id: String,
    pub expires: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct App {
    pub client_id: String,
    pub client_secret: String,
    pub consent: ConsentMode,
    pub consented: bool,
    pub roles: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub display_name: String,
}

#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub domain: String,
    pub apps: Vec<App>,
}

/// A user or room mailbox and its primary calendar.
#[derive(Debug, Clone)]
pub struct Mailbox {
    pub id: String,
    pub mail: String,
    pub display_name: String,
    pub tenant_id: String,
    pub is_room: bool,
    pub unlicensed: bool,
    pub in_policy: bool,
    /// An access-policy change waiting to take effect.
    pub policy_pending: Option<(bool, DateTime<Utc>)>,
    pub settings: Map<String, Value>,
    pub events: HashMap<String, Arc<Event>>,
    /// iCalUId -> id of the master/single item holding it.
    pub by_uid: HashMap<String, String>,
    /// Change log for delta: (change number, item id).
    pub changes: VecDeque<(u64, String)>,
    pub change_seq: u64,
    pub calendar_id: String,
}

/// One change made to a calendar, for notifications.
#[derive(Debug, Clone)]
pub struct Change {
    pub mailbox: usize,
    pub event_id: String,
    pub change_type: ChangeType,
    pub etag: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeType {
    Created,
    Updated,
    Deleted,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Created => "created",
            ChangeType::Updated => "updated",
            ChangeType::Deleted => "deleted",
        }
    }
    pub fn parse(s: &str) -> Option<ChangeType> {
        match s.trim() {
            "created" => Some(ChangeType::Created),
            "updated" => Some(ChangeType::Updated),
            "deleted" => Some(ChangeType::Deleted),
            _ => None,
        }
    }
}

/// A change-notification subscription.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub tenant_id: String,
    pub client_id: String,
    pub resource: String,
    pub mailbox_id: String,
    pub change_types: Vec<ChangeType>,
    pub change_type_text: String,
    pub notification_url: String,
    pub lifecycle_url: Option<String>,
    pub expiration: DateTime<Utc>,
    pub client_state: Option<String>,
    pub latest_tls: String,
    pub include_resource_data: bool,
    /// `reauthorizationRequired` was sent; delivery paused until reauthorize/PATCH.
    pub paused: bool,
    /// `reauthorizationRequired` already sent for the approaching expiry.
    pub reauth_sent: bool,
    /// Notifications were dropped since the last `missed`.
    pub missed_pending: bool,
    pub creator_id: String,
}

impl Subscription {
    pub fn to_json(&self, base: &str) -> Value {
        json!({
            "@odata.context": format!("{base}/v1.0/$metadata#subscriptions/$entity"),
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.client_id,
            "changeType": self.change_type_text,
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": null,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": crate::wire::fmt_utc(self.expiration),
            "creatorId": self.creator_id,
            "includeResourceData": self.include_resource_data,
            "latestSupportedTlsVersion": self.latest_tls,
            "encryptionCertificate": null,
            "encryptionCertificateId": null,
            "notificationUrlAppId": null,
        })
    }
}

/// One instance of a delta round as the client has last seen it.
#[derive(Debug, Clone)]
pub struct DeltaState {
    pub mailbox_id: String,
    pub user_segment: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Change number the round covers up to.
    pub change_seq: u64,
    /// Instance ids visible in the window at that point, with their change keys.
    pub visible: HashMap<String, String>,
    /// Pending page items: (id, present) still to send in this round.
    pub pending: Vec<(String, bool)>,
    pub page_size: usize,
    pub tz: Option<String>,
}

/// Everything mutable.
pub struct State {
    pub seed: Seed,
    pub tenants: Vec<Tenant>,
    pub mailboxes: Vec<Mailbox>,
    /// Lower-cased id and mail -> index into `mailboxes`.
    pub by_key: HashMap<String, usize>,
    pub tokens: HashMap<String, Token>,
    pub subscriptions: crate::subscription_set::SubscriptionSet,
    pub deltas: HashMap<String, DeltaState>,
    pub delta_order: VecDeque<String>,
    pub next_seq: u64,
}

fn locale_name(locale: &str) -> String {
    match locale.to_ascii_lowercase().as_str() {
        "en-us" => "English (United States)",
        "en-gb" => "English (United Kingdom)",
        "nl-nl" => "Dutch (Netherlands)",
        "de-de" => "German (Germany)",
        "fr-fr" => "French (France)",
        "es-es" => "Spanish (Spain)",
        "it-it" => "Italian (Italy)",
        "ja-jp" => "Japanese (Japan)",
        "pt-br" => "Portuguese (Brazil)",
        "sv-se" => "Swedish (Sweden)",
        "da-dk" => "Danish (Denmark)",
        "nb-no" => "Norwegian Bokmål (Norway)",
        "fi-fi" => "Finnish (Finland)",
        "pl-pl" => "Polish (Poland)",
        "zh-cn" => "Chinese (Simplified, PRC)",
        _ => return locale.to_string(),
    }
    .to_string()
}

pub fn language_json(locale: &str) -> Value {
    json!({"locale": locale, "displayName": locale_name(locale)})
}

fn default_settings(locale: &str, tz: &str, replies: Option<&Value>) -> Map<String, Value> {
    let mut replies_v = json!({
        "status": "disabled",
        "externalAudience": "all",
        "internalReplyMessage": "",
        "externalReplyMessage": "",
        "scheduledStartDateTime": {"dateTime": "2020-01-01T00:00:00.0000000", "timeZone": "UTC"},
        "scheduledEndDateTime": {"dateTime": "2020-01-02T00:00:00.0000000", "timeZone": "UTC"},
    });
    if let (Some(Value::Object(given)), Some(obj)) = (replies, replies_v.as_object_mut()) {
        for (k, v) in given {
            obj.insert(k.clone(), v.clone());
        }
    }
    let v = json!({
        "archiveFolder": "AAMkAGArchive=",
        "timeZone": tz,
        "automaticRepliesSetting": replies_v,
        "language": language_json(locale),
        "workingHours": {
            "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
            "startTime": "08:00:00.0000000",
            "endTime": "17:00:00.0000000",
            "timeZone": {"name": tz}
        },
        "userPurpose": {"value": "user"},
        "dateFormat": "dd-MM-yyyy",
        "timeFormat": "HH:mm",
        "delegateMeetingMessageDeliveryOptions": "sendToDelegateAndInformationToPrincipal",
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl State {
    pub fn from_seed(seed: Seed) -> State {
        let mut st = State {
            seed: seed.clone(),
            tenants: Vec::new(),
            mailboxes: Vec::new(),
            by_key: HashMap::new(),
            tokens: HashMap::new(),
            subscriptions: Default::default(),
            deltas: HashMap::new(),
            delta_order: VecDeque::new(),
            next_seq: 1,
        };
        for t in &seed.tenants {
            st.tenants.push(Tenant {
                id: t.id.to_ascii_lowercase(),
                domain: t.domain.to_ascii_lowercase(),
                apps: t
                    .apps
                    .iter()
                    .map(|a| App {
                        client_id: a.client_id.to_ascii_lowercase(),
                        client_secret: a.client_secret.clone(),
                        consent: a.consent,
                        consented: a.consented,
                        roles: a.roles.clone(),
                        redirect_uris: a.redirect_uris.clone(),
                        display_name: a.display_name.clone().unwrap_or_else(|| "hcal".into()),
                    })
                    .collect(),
            });
            for (users, is_room) in [(&t.users, false), (&t.rooms, true)] {
                for u in users {
                    let tz = u.time_zone.clone().unwrap_or_else(|| "UTC".into());
                    let locale = u.locale.clone().unwrap_or_else(|| "en-US".into());
                    let idx = st.mailboxes.len();
                    let id = u.id.to_ascii_lowercase();
                    st.by_key.insert(id.clone(), idx);
                    st.by_key.insert(u.mail.to_ascii_lowercase(), idx);
                    let cal_key: [u8; 16] = rand::random();
                    st.mailboxes.push(Mailbox {
                        id,
                        mail: u.mail.clone(),
                        display_name: u.display_name.clone(),
                        tenant_id: t.id.to_ascii_lowercase(),
                        is_room,
                        unlicensed: u.unlicensed,
                        in_policy: u.in_policy,
                        policy_pending: None,
                        settings: default_settings(&locale, &tz, u.automatic_replies_setting.as_ref()),
                        events: HashMap::new(),
                        by_uid: HashMap::new(),
                        changes: VecDeque::new(),
                        change_seq: 0,
                        calendar_id: crate::wire::make_item_id(&cal_key),
                    });
                }
            }
        }
        st
    }

    pub fn tenant(&self, key: &str) -> Option<&Tenant> {
        let k = key.to_ascii_lowercase();
        self.tenants.iter().find(|t| t.id == k || t.domain == k)
    }

    pub fn tenant_mut(&mut self, key: &str) -> Option<&mut Tenant> {
        let k = key.to_ascii_lowercase();
        self.tenants.iter_mut().find(|t| t.id == k || t.domain == k)
    }

    pub fn app(&self, tenant_id: &str, client_id: &str) -> Option<&App> {
        let c = client_id.to_ascii_lowercase();
        self.tenant(tenant_id)?.apps.iter().find(|a| a.client_id == c)
    }

    pub fn mailbox_index(&self, key: &str) -> Option<usize> {
        if let Some(i) = self.by_key.get(key) {
            return Some(*i);
        }
        self.by_key.get(&key.to_ascii_lowercase()).copied()
    }

    /// Record a change to `event_id` in mailbox `mbx` for delta.
    pub fn log_change(&mut self, mbx: usize, event_id: &str) {
        let m = &mut self.mailboxes[mbx];
        m.change_seq += 1;
        m.changes.push_back((m.change_seq, event_id.to_string()));
        if m.changes.len() > 200_000 {
            m.changes.pop_front();
        }
    }

    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }
}
