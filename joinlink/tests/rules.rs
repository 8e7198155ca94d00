//! Org rules through the whole detector: tried before the built-ins, per source, on unwrapped
//! links, with typed errors for bad files.

use hcal_joinlink::{BodyKind, Detector, DetectorConfig, EventInput, RuleError};
use serde_json::json;

const EXAMPLE: &str = include_str!("../rules.example.json");

fn detector() -> Detector {
    Detector::from_config(DetectorConfig::default(), Some(EXAMPLE)).expect("example rules load")
}

#[test]
fn example_file_loads_and_skips_disabled_rules() {
    let d = detector();
    let names: Vec<&str> = d.rules().rules().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["acme-vmr-by-meeting-id", "acme-video-portal"]);
}

#[test]
fn rule_is_tried_before_builtins() {
    let ev = json!({
        "onlineMeeting": {"joinUrl": "https://teams.microsoft.com/l/meetup-join/19%3a1/0"},
        "body": {"contentType": "html", "content": "<p>Meeting ID: <b>123456789</b></p>"}
    });
    let out = hcal_joinlink::detect_graph_event(&ev, &detector());
    assert_eq!(out["join"]["uri"], "sip:123456789@video.example.com");
    assert_eq!(out["join"]["provider"], "pexip");
    assert_eq!(out["join"]["source"], "rule:acme-vmr-by-meeting-id");
    assert_eq!(out["explanation_code"], "rule_matched");
    assert_eq!(out["candidates"][1]["provider"], "teams");
    assert_eq!(out["candidates"][1]["source"], "online_meeting");
}

#[test]
fn rule_sources_are_respected() {
    // The meeting-id rule reads the body only.
    let d = detector().detect(&EventInput {
        location_names: vec!["Meeting ID: 123456789".into()],
        ..Default::default()
    });
    assert!(d.join.is_none(), "{:?}", d.join);
}

#[test]
fn rule_sees_unwrapped_links() {
    let wrapped = "https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2FVIDEO.example.com%2Fjoin%2Fboard.room&data=05%7C02&reserved=0";
    let d = detector().detect(&EventInput {
        body_kind: BodyKind::Html,
        body: format!("<a href=\"{wrapped}\">Join the board meeting</a>"),
        ..Default::default()
    });
    let j = d.join.expect("rule matched");
    assert_eq!(j.uri, "sip:board.room@video.example.com");
    assert_eq!(j.source.as_string(), "rule:acme-video-portal");
    // Without the rule the same link is only "unknown meeting link".
    let d = Detector::default().detect(&EventInput {
        body_kind: BodyKind::Html,
        body: format!("<a href=\"{wrapped}\">Join the board meeting</a>"),
        ..Default::default()
    });
    assert_eq!(d.explanation.code(), "unknown_meeting_link");
}

#[test]
fn bad_files_are_typed_errors_not_panics() {
    let cases = [
        (
            r#"{"version":1,"rules":[{"name":"x","provider":"p","pattern":"(unclosed"}]}"#,
            "BadPattern",
        ),
        (
            r#"{"version":1,"rules":[{"name":"x","provider":"p","pattern":"(?P<id>\\d+)","template":"sip:{pin}@x"}]}"#,
            "UnknownVariable",
        ),
        (
            r#"{"version":1,"rules":[{"name":"x","provider":"p","pattern":"a{1000}{1000}"}]}"#,
            "BadPattern",
        ),
        (
            r#"{"version":1,"rules":[{"name":"x","provider":"p","pattern":"\\d","sources":["subject"]}]}"#,
            "Json",
        ),
        (r#"{"rules":[]}"#, "Json"),
    ];
    for (text, kind) in cases {
        let err = Detector::from_config(DetectorConfig::default(), Some(text)).unwrap_err();
        let dbg = format!("{err:?}");
        assert!(dbg.contains(kind), "{text}: {dbg}");
        assert!(!err.to_string().is_empty());
    }
    let big = " ".repeat(hcal_joinlink::rules::MAX_FILE_BYTES + 1);
    assert!(matches!(
        hcal_joinlink::RuleSet::from_json(&big),
        Err(RuleError::FileTooLarge(_))
    ));
}
