//! A Graph event as a mailbox keeps it: the non-sensitive fields in the
//! clear, the content (subject, locations, people, the join target found in
//! it) sealed as one value.

use hcal_joinlink::{BodyKind, Detector, EventInput};
use hcal_schemas::events::mailbox::*;
use hcal_schemas::graph::Event;
use hcal_schemas::graph::enums::{AttendeeType, BodyType, EventType, ResponseType, Sensitivity as WireSensitivity};
use hcal_schemas::{ChangeKey, EventId, SealError, Timestamp};

use crate::keys::StreamSealer;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("the event has no {0}")]
    Missing(&'static str),
    #[error(transparent)]
    Seal(#[from] SealError),
}

fn kind(t: Option<&EventType>) -> EventKind {
    match t {
        Some(EventType::Occurrence) => EventKind::Occurrence,
        Some(EventType::Exception) => EventKind::Exception,
        Some(EventType::SeriesMaster) => EventKind::SeriesMaster,
        _ => EventKind::SingleInstance,
    }
}

fn sensitivity(s: Option<&WireSensitivity>) -> Sensitivity {
    match s {
        Some(WireSensitivity::Personal) => Sensitivity::Personal,
        Some(WireSensitivity::Private) => Sensitivity::Private,
        Some(WireSensitivity::Confidential) => Sensitivity::Confidential,
        _ => Sensitivity::Normal,
    }
}

fn response(r: Option<&ResponseType>) -> Response {
    match r {
        Some(ResponseType::Organizer) => Response::Organizer,
        Some(ResponseType::TentativelyAccepted) => Response::TentativelyAccepted,
        Some(ResponseType::Accepted) => Response::Accepted,
        Some(ResponseType::Declined) => Response::Declined,
        Some(ResponseType::NotResponded) => Response::NotResponded,
        _ => Response::None,
    }
}

/// Whether the event carries the fields a full record needs (delta rounds
/// may send only an id and what changed).
pub fn is_complete(ev: &Event) -> bool {
    ev.id.is_some() && ev.start_utc().is_some() && ev.end_utc().is_some() && ev.change_key.is_some()
}

/// The content a person sees, with the join target detection found.
pub fn content(ev: &Event, detector: &Detector) -> (MeetingContent, String) {
    let mut locations: Vec<String> = Vec::new();
    for name in ev
        .location
        .iter()
        .chain(ev.locations.iter().flatten())
        .filter_map(|l| l.display_name.as_deref())
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        if !locations.iter().any(|l| l == name) {
            locations.push(name.to_string());
        }
    }
    let person = |e: &hcal_schemas::graph::EmailAddress| Person {
        name: e.name.clone().unwrap_or_default(),
        address: e.address.clone().unwrap_or_default().to_lowercase(),
    };
    let attendees = ev
        .attendees
        .iter()
        .flatten()
        .filter_map(|a| {
            Some(Attendee {
                person: person(a.email_address.as_ref()?),
                kind: match a.kind {
                    Some(AttendeeType::Optional) => AttendeeKind::Optional,
                    Some(AttendeeType::Resource) => AttendeeKind::Resource,
                    _ => AttendeeKind::Required,
                },
                response: response(a.status.as_ref().and_then(|s| s.response.as_ref())),
            })
        })
        .collect();
    let d = detector.detect(&detection_input(ev));
    let body = ev.body.as_ref().and_then(|b| b.content.as_deref()).unwrap_or_default();
    // A keyword's meeting is the one in hcal's block, whatever other links the invite carries.
    let join = hcal_joinlink::find_block(body)
        .filter(|_| d.keyword.is_some())
        .and_then(|b| {
            d.candidates
                .iter()
                .find(|c| body[b.range.clone()].contains(c.uri.as_str()))
                .cloned()
        })
        .or(d.join)
        .map(|c| JoinTarget {
            provider: c.provider,
            uri: c.uri,
            source: c.source.as_string(),
        });
    let keyword = d.keyword.map(|k| KeywordUse {
        keyword: k.keyword,
        modifier: k.modifier.map(|m| m.as_str().to_string()),
    });
    let explanation = d.explanation.code().to_string();
    let content = MeetingContent {
        subject: ev.subject.clone().unwrap_or_default(),
        locations,
        organizer: ev.organizer.as_ref().and_then(|o| o.email_address.as_ref()).map(person),
        attendees,
        join,
        keyword,
    };
    (content, explanation)
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// What join detection reads of an event, taken from the typed event (as
/// [`hcal_joinlink::event_input`] takes it from the event's JSON).
fn detection_input(ev: &Event) -> EventInput {
    let locations = ev.location.iter().chain(ev.locations.iter().flatten());
    let (body_kind, body) = match &ev.body {
        Some(b) => (
            match b.content_type {
                Some(BodyType::Text) => BodyKind::Text,
                _ => BodyKind::Html,
            },
            b.content.clone().unwrap_or_default(),
        ),
        None => (BodyKind::Text, ev.body_preview.clone().unwrap_or_default()),
    };
    EventInput {
        online_meeting_url: non_empty(ev.online_meeting.as_ref().and_then(|m| m.join_url.as_deref())),
        online_meeting_provider: non_empty(ev.online_meeting_provider.as_ref().map(|p| p.as_str())),
        location_names: locations
            .clone()
            .filter_map(|l| non_empty(l.display_name.as_deref()))
            .collect(),
        location_uris: locations.filter_map(|l| non_empty(l.location_uri.as_deref())).collect(),
        body_kind,
        body,
    }
}

/// The record of a complete Graph event (see [`is_complete`]).
pub fn record(ev: &Event, detector: &Detector, sealer: &StreamSealer) -> Result<MeetingRecord, ConvertError> {
    let id = EventId::new(ev.id.as_deref().ok_or(ConvertError::Missing("id"))?);
    let start = ev.start_utc().ok_or(ConvertError::Missing("start"))?;
    let end = ev.end_utc().ok_or(ConvertError::Missing("end"))?;
    let (content, explanation) = content(ev, detector);
    Ok(MeetingRecord {
        id,
        kind: kind(ev.kind.as_ref()),
        series_master_id: ev.series_master_id.as_deref().map(|s| Box::new(EventId::new(s))),
        start,
        end,
        is_all_day: ev.is_all_day.unwrap_or(false),
        is_cancelled: ev.is_cancelled.unwrap_or(false),
        is_organizer: ev.is_organizer.unwrap_or(false),
        sensitivity: sensitivity(ev.sensitivity.as_ref()),
        change_key: ev
            .change_key
            .as_deref()
            .map(ChangeKey::new)
            .ok_or(ConvertError::Missing("changeKey"))?,
        last_modified: ev.last_modified().unwrap_or(Timestamp::EPOCH),
        join_explanation: Some(explanation.into()),
        content: sealer.seal(MeetingContent::FIELD, &content)?,
    })
}

#[cfg(test)]
mod tests {
    use hcal_schemas::graph::enums::OnlineMeetingProvider;
    use hcal_schemas::graph::{ItemBody, Location, OnlineMeetingInfo};
    use proptest::prelude::*;

    use super::*;

    fn text() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            Just(None),
            Just(Some(String::new())),
            Just(Some("  ".to_string())),
            "[ a-z@:/.]{0,12}".prop_map(Some),
        ]
    }

    fn location() -> impl Strategy<Value = Location> {
        (text(), text()).prop_map(|(display_name, location_uri)| Location {
            display_name,
            location_uri,
            ..Location::default()
        })
    }

    fn event() -> impl Strategy<Value = Event> {
        let body = prop_oneof![
            Just(None),
            (
                prop_oneof![Just(None), Just(Some(BodyType::Text)), Just(Some(BodyType::Html))],
                text()
            )
                .prop_map(|(content_type, content)| Some(ItemBody { content_type, content })),
        ];
        let provider = prop_oneof![
            Just(None),
            Just(Some(OnlineMeetingProvider::TeamsForBusiness)),
            Just(Some(OnlineMeetingProvider::Other("zoom".into()))),
        ];
        let online = prop_oneof![
            Just(None),
            text().prop_map(|join_url| Some(OnlineMeetingInfo {
                join_url,
                ..OnlineMeetingInfo::default()
            })),
        ];
        (
            body,
            text(),
            proptest::option::of(location()),
            proptest::option::of(proptest::collection::vec(location(), 0..3)),
            online,
            provider,
        )
            .prop_map(
                |(body, body_preview, location, locations, online_meeting, provider)| Event {
                    body,
                    body_preview,
                    location,
                    locations,
                    online_meeting,
                    online_meeting_provider: provider,
                    ..Event::default()
                },
            )
    }

    proptest! {
        /// Detection reads the typed event exactly as it would read the event's JSON.
        #[test]
        fn the_typed_input_is_the_json_input(ev in event()) {
            let json = serde_json::to_value(&ev).unwrap();
            prop_assert_eq!(detection_input(&ev), hcal_joinlink::event_input(&json));
        }
    }
}
