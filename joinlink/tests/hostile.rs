//! Hostile input: large, repetitive or malformed bodies finish, stay within the documented
//! bounds and never panic. (No timing here: throughput is measured by the benchmark.)

use hcal_joinlink::detect::{DEFAULT_MAX_BODY_BYTES, MAX_LINKS_PER_SOURCE};
use hcal_joinlink::safelinks::MAX_UNWRAP_PASSES;
use hcal_joinlink::{BodyKind, Detector, EventInput, find_block, remove_block};

fn html(body: String) -> EventInput {
    EventInput {
        body_kind: BodyKind::Html,
        body,
        ..Default::default()
    }
}

#[test]
fn body_beyond_the_limit_is_not_scanned() {
    let mut body = "<p>".to_string();
    body.push_str(&"x".repeat(DEFAULT_MAX_BODY_BYTES));
    body.push_str(" https://zoom.us/j/123</p>");
    let d = Detector::default().detect(&html(body));
    assert!(d.join.is_none());
}

#[test]
fn multibyte_char_at_the_limit() {
    for pad in 0..4 {
        let mut body = "x".repeat(DEFAULT_MAX_BODY_BYTES - pad);
        body.push_str("ééé€€😀 https://meet.jit.si/Room");
        let _ = Detector::default().detect(&EventInput {
            body_kind: BodyKind::Text,
            body,
            ..Default::default()
        });
    }
}

#[test]
fn many_links_are_capped() {
    let body: String = (0..(MAX_LINKS_PER_SOURCE * 3))
        .map(|i| format!("<a href=\"https://meet.jit.si/Room{i}\">r</a> "))
        .collect();
    let d = Detector::default().detect(&html(body));
    assert!(d.candidates.len() <= MAX_LINKS_PER_SOURCE);
    assert_eq!(d.join.unwrap().provider, "jitsi");
}

#[test]
fn repetitive_garbage_finishes() {
    let bodies = [
        "<a href=".repeat(200_000),
        "@".repeat(500_000),
        "@webex".repeat(100_000),
        format!("https://a.example/{}", ")".repeat(200_000)),
        "<!--hcal-join:begin id=a hash=0f-->".repeat(20_000),
        "[hcal-join id=a hash=0f]\n".repeat(20_000),
        "https://x.safelinks.protection.outlook.com/?url=".repeat(10_000),
        "<div>".repeat(100_000),
        "&#x1F600;".repeat(100_000),
        "sip:".repeat(100_000),
        "1@".repeat(200_000),
    ];
    for b in bodies {
        let _ = Detector::default().detect(&html(b.clone()));
        let _ = Detector::default().detect(&EventInput {
            location_names: vec![b.clone()],
            ..Default::default()
        });
        let _ = find_block(&b);
        let _ = remove_block(&b);
    }
}

#[test]
fn too_deep_safelinks_are_explained_not_followed() {
    let mut url = "https://zoom.us/j/81234567890".to_string();
    for _ in 0..=MAX_UNWRAP_PASSES {
        url = format!(
            "https://nam12.safelinks.protection.outlook.com/?url={}&reserved=0",
            percent_encoding::utf8_percent_encode(&url, percent_encoding::NON_ALPHANUMERIC)
        );
    }
    let d = Detector::default().detect(&html(format!("<a href=\"{url}\">Join</a>")));
    assert!(d.join.is_none());
    assert_eq!(d.explanation.code(), "rewritten_link_unrecoverable");
}
