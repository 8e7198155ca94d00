//! The `event` resource and the types inside it. Every field is optional:
//! delta rounds send partial items (an id and what changed) and `$select`
//! trims the rest. Unknown fields are ignored on input; `None` fields are
//! left out on output, so the same type serves as a create body.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::enums::{
    AttendeeType, BodyType, EventType, FreeBusyStatus, Importance, LocationType, LocationUniqueIdType,
    OnlineMeetingProvider, ResponseType, Sensitivity,
};
use super::redact::{Always, Count, Hidden};
use super::time::{DateTimeTimeZone, parse_offset};
use crate::time::Timestamp;

/// `itemBody`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ItemBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<BodyType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

impl fmt::Debug for ItemBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ItemBody")
            .field("content_type", &self.content_type)
            .field("content", &Hidden(&self.content))
            .finish()
    }
}

/// `emailAddress`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EmailAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailAddress")
            .field("name", &Hidden(&self.name))
            .field("address", &Hidden(&self.address))
            .finish()
    }
}

/// `recipient` (the organizer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<EmailAddress>,
}

/// `responseStatus`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ResponseStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseType>,
    /// DateTimeOffset text; `0001-01-01T00:00:00Z` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// `attendee`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Attendee {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<AttendeeType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ResponseStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<EmailAddress>,
}

/// `location`.
#[derive(Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_type: Option<LocationType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_id_type: Option<LocationUniqueIdType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_email_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_uri: Option<String>,
    /// `physicalAddress` (street, city, ...), kept opaque.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Value>,
    /// `outlookGeoCoordinates`, kept opaque.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinates: Option<Value>,
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Location")
            .field("display_name", &Hidden(&self.display_name))
            .field("location_type", &self.location_type)
            .field("unique_id", &Hidden(&self.unique_id))
            .field("unique_id_type", &self.unique_id_type)
            .field("location_email_address", &Hidden(&self.location_email_address))
            .field("location_uri", &Hidden(&self.location_uri))
            .field("address", &Hidden(&self.address))
            .field("coordinates", &Hidden(&self.coordinates))
            .finish()
    }
}

/// `onlineMeetingInfo` (read-only on Graph).
#[derive(Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct OnlineMeetingInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conference_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toll_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toll_free_numbers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phones: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quick_dial: Option<String>,
}

impl fmt::Debug for OnlineMeetingInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnlineMeetingInfo")
            .field("join_url", &Hidden(&self.join_url))
            .field("conference_id", &Hidden(&self.conference_id))
            .field("toll_number", &Hidden(&self.toll_number))
            .field("toll_free_numbers", &Count(&self.toll_free_numbers))
            .field("phones", &Hidden(&self.phones))
            .field("quick_dial", &Hidden(&self.quick_dial))
            .finish()
    }
}

/// `singleValueLegacyExtendedProperty`: `{id, value}`, value always text.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SingleValueExtendedProperty {
    pub id: String,
    #[serde(default)]
    pub value: Option<String>,
}

impl fmt::Debug for SingleValueExtendedProperty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SingleValueExtendedProperty")
            .field("id", &self.id)
            .field("value", &Hidden(&self.value))
            .finish()
    }
}

/// `@removed` on a delta item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Removed {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `event`.
#[derive(Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(rename = "@odata.etag", default, skip_serializing_if = "Option::is_none")]
    pub odata_etag: Option<String>,
    /// Only on delta items: the event left the window or was deleted.
    #[serde(rename = "@removed", default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<Removed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<ItemBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_preview: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTimeTimeZone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTimeTimeZone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_start_time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_end_time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_all_day: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_cancelled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_organizer: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<Sensitivity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_as: Option<FreeBusyStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance: Option<Importance>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<EventType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_master_id: Option<String>,
    /// `patternedRecurrence`, kept opaque (hcal expands series through Graph).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locations: Option<Vec<Location>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attendees: Option<Vec<Attendee>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizer: Option<Recipient>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<ResponseStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_meeting: Option<OnlineMeetingInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_online_meeting: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_meeting_provider: Option<OnlineMeetingProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_key: Option<String>,
    /// DateTimeOffset text; see [`Event::created`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    /// DateTimeOffset text; see [`Event::last_modified`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_date_time: Option<String>,
    #[serde(rename = "iCalUId", default, skip_serializing_if = "Option::is_none")]
    pub ical_uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_link: Option<String>,
    /// Client-chosen idempotency key of a create (immutable once set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_value_extended_properties: Option<Vec<SingleValueExtendedProperty>>,
}

impl Event {
    /// `start` as an instant, when it is in UTC.
    pub fn start_utc(&self) -> Option<Timestamp> {
        self.start.as_ref().and_then(DateTimeTimeZone::to_timestamp)
    }

    /// `end` as an instant, when it is in UTC.
    pub fn end_utc(&self) -> Option<Timestamp> {
        self.end.as_ref().and_then(DateTimeTimeZone::to_timestamp)
    }

    pub fn created(&self) -> Option<Timestamp> {
        self.created_date_time.as_deref().and_then(parse_offset)
    }

    pub fn last_modified(&self) -> Option<Timestamp> {
        self.last_modified_date_time.as_deref().and_then(parse_offset)
    }

    /// The value of the single-value extended property `id` (the id's `Name` part is
    /// case-sensitive on Graph; the rest is compared without case).
    pub fn extended_property(&self, id: &str) -> Option<&str> {
        self.single_value_extended_properties
            .as_ref()?
            .iter()
            .find(|p| same_property_id(&p.id, id))
            .and_then(|p| p.value.as_deref())
    }

    /// Is this a delta tombstone (`@removed`)?
    pub fn is_removed(&self) -> bool {
        self.removed.is_some()
    }
}

/// Extended property ids: `String {GUID} Name X`. Type and GUID compare without case,
/// the name with case.
fn same_property_id(a: &str, b: &str) -> bool {
    let split = |s: &str| -> (String, String) {
        match s.find(" Name ") {
            Some(i) => (s[..i].to_ascii_lowercase(), s[i..].to_string()),
            None => (s.to_ascii_lowercase(), String::new()),
        }
    };
    split(a) == split(b)
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("id", &self.id)
            .field("removed", &self.removed)
            .field("odata_etag", &self.odata_etag)
            .field("subject", &Hidden(&self.subject))
            .field("body", &self.body)
            .field("body_preview", &Hidden(&self.body_preview))
            .field("start", &self.start)
            .field("end", &self.end)
            .field("is_all_day", &self.is_all_day)
            .field("is_cancelled", &self.is_cancelled)
            .field("is_organizer", &self.is_organizer)
            .field("sensitivity", &self.sensitivity)
            .field("show_as", &self.show_as)
            .field("kind", &self.kind)
            .field("series_master_id", &self.series_master_id)
            .field("recurrence", &self.recurrence.as_ref().map(|_| "<pattern>"))
            .field("location", &self.location)
            .field("locations", &Count(&self.locations))
            .field("attendees", &Count(&self.attendees))
            .field("organizer", &self.organizer.as_ref().map(|_| Always))
            .field("online_meeting", &self.online_meeting)
            .field("is_online_meeting", &self.is_online_meeting)
            .field("online_meeting_provider", &self.online_meeting_provider)
            .field("categories", &Count(&self.categories))
            .field("change_key", &self.change_key)
            .field("created_date_time", &self.created_date_time)
            .field("last_modified_date_time", &self.last_modified_date_time)
            .field("ical_uid", &self.ical_uid)
            .field("web_link", &Hidden(&self.web_link))
            .field("transaction_id", &self.transaction_id)
            .field(
                "single_value_extended_properties",
                &self.single_value_extended_properties,
            )
            .finish()
    }
}
