//! From a Microsoft Graph event resource (JSON) to what the detector reads.
//!
//! Only the fields that carry join information are read: `onlineMeeting.joinUrl` (falling
//! back to the legacy `onlineMeetingUrl`), `onlineMeetingProvider`, `location` and every
//! `locations[]` (`displayName`, `locationUri`), and `body` (`contentType`, `content`), with
//! `bodyPreview` standing in when the body was not selected. Fields of the wrong type are
//! treated as absent: Graph JSON is external input.

use crate::detect::{BodyKind, Detector, EventInput};
use serde_json::Value;

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// Reads the join-relevant fields of a Graph event.
pub fn event_input(event: &Value) -> EventInput {
    let online_meeting_url = non_empty(str_at(event, &["onlineMeeting", "joinUrl"]))
        .or_else(|| non_empty(str_at(event, &["onlineMeetingUrl"])));
    let online_meeting_provider = non_empty(str_at(event, &["onlineMeetingProvider"]));

    let mut location_names = Vec::new();
    let mut location_uris = Vec::new();
    let mut take = |loc: &Value| {
        if let Some(n) = non_empty(str_at(loc, &["displayName"])) {
            location_names.push(n);
        }
        if let Some(u) = non_empty(str_at(loc, &["locationUri"])) {
            location_uris.push(u);
        }
    };
    if let Some(loc) = event.get("location") {
        take(loc);
    }
    if let Some(locs) = event.get("locations").and_then(Value::as_array) {
        for loc in locs {
            take(loc);
        }
    }

    let (body_kind, body) = match event.get("body") {
        Some(b) => {
            let kind = match str_at(b, &["contentType"]) {
                Some(t) if t.eq_ignore_ascii_case("text") => BodyKind::Text,
                _ => BodyKind::Html,
            };
            (kind, str_at(b, &["content"]).unwrap_or("").to_string())
        }
        None => (
            BodyKind::Text,
            str_at(event, &["bodyPreview"]).unwrap_or("").to_string(),
        ),
    };

    EventInput {
        online_meeting_url,
        online_meeting_provider,
        location_names,
        location_uris,
        body_kind,
        body,
    }
}

/// The `hcal join-detect` output for one Graph event:
/// `{"keyword", "join", "candidates", "explanation", "explanation_code"}`.
pub fn detect_graph_event(event: &Value, detector: &Detector) -> Value {
    let detection = detector.detect_graph(event);
    serde_json::to_value(&detection).unwrap_or_else(|e| {
        // Serialising these plain structs cannot fail; if it ever does, say so in the output.
        serde_json::json!({
            "keyword": null, "join": null, "candidates": [],
            "explanation": format!("internal error: {e}"),
            "explanation_code": "internal_error",
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_graph_fields() {
        let ev = json!({
            "onlineMeeting": {"joinUrl": "https://teams.microsoft.com/l/meetup-join/19%3a1/0"},
            "onlineMeetingProvider": "teamsForBusiness",
            "location": {"displayName": "Room 1; @webex"},
            "locations": [{"displayName": "Room 1", "locationUri": "room1@contoso.com"}, {"displayName": "@webex"}],
            "body": {"contentType": "HTML", "content": "<p>x</p>"}
        });
        let i = event_input(&ev);
        assert_eq!(i.location_names, ["Room 1; @webex", "Room 1", "@webex"]);
        assert_eq!(i.location_uris, ["room1@contoso.com"]);
        assert_eq!(i.body_kind, BodyKind::Html);
        assert!(i.online_meeting_url.is_some());
    }

    #[test]
    fn wrong_types_are_absent() {
        let ev = json!({"onlineMeeting": 5, "location": [1], "locations": {"a": 1}, "body": "x"});
        let i = event_input(&ev);
        assert_eq!(i, EventInput::default());
        let i = event_input(&json!(null));
        assert_eq!(i.body, "");
    }

    #[test]
    fn cli_shape() {
        let v = detect_graph_event(
            &json!({"location": {"displayName": "@meet:onetime"}}),
            &Detector::default(),
        );
        assert_eq!(v["keyword"], json!({"keyword": "@meet", "modifier": "onetime"}));
        assert_eq!(v["join"], Value::Null);
        assert_eq!(v["explanation_code"], "keyword_in_location");
    }
}
