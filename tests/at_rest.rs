//! No sensitive value in plaintext at rest or in logs: a node process runs a
//! day of calendar work (meetings with distinctive subjects, attendees, join
//! links, a keyword decoration, automatic replies), and afterwards neither its
//! data directory nor its log (at debug level) holds any of them.

mod support;

use std::path::Path;

use hcal_emulator::Seed;
use reqwest::Method;
use serde_json::{Value, json};
use support::{ProcessWorld, eventually};

const SUBJECT: &str = "Operation Marigold merger terms";
const ATTENDEE: &str = "bob@contoso.example";
const JOIN: &str = "https://us02web.zoom.us/j/81234567890?pwd=MarigoldSecret";
const LOCATION: &str = "Boardroom Marigold";

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)) {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_and_the_log_hold_no_meeting_content() {
    let mut w = ProcessWorld::start(Seed::example(), "debug").await;
    w.connect_and_enable("acme", &["alice@contoso.example".to_string(), ATTENDEE.to_string()])
        .await;
    w.admin(Method::POST, "/orgs/acme/calendar/test")
        .json(&json!({"email": "alice@contoso.example"}))
        .send()
        .await
        .unwrap();
    let day = (w.emulator.now() + chrono::Duration::days(1)).date_naive();
    for (i, location) in [LOCATION, "@webex"].iter().enumerate() {
        let r = w
            .emu(Method::POST, "/users/alice@contoso.example/events")
            .json(&json!({"subject": SUBJECT, "location": {"displayName": location},
                "body": {"contentType": "html", "content": format!("<p>Join: <a href=\"{JOIN}\">{JOIN}</a></p>")},
                "start": {"dateTime": format!("{day}T{:02}:00:00", 9 + i), "timeZone": "UTC"},
                "end": {"dateTime": format!("{day}T{:02}:30:00", 9 + i), "timeZone": "UTC"},
                "attendees": [{"type": "required", "emailAddress": {"address": ATTENDEE, "name": "Bob Marigold"}}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
    }
    w.emu(Method::PATCH, "/users/alice@contoso.example/mailboxSettings")
        .json(&json!({"automaticRepliesSetting": {"status": "alwaysEnabled", "internalReplyMessage": "Away: Marigold offsite"}}))
        .send()
        .await
        .unwrap();
    // Both meetings listed for bob, the keyword one decorated, all content readable through the API.
    let list = format!("http://{}/api/v1/users/{ATTENDEE}/meetings", w.listen);
    eventually(15, "processed", || async {
        let v: Value = w
            .http
            .get(&list)
            .bearer_auth(support::ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["meetings"].as_array().is_some_and(|m| {
            m.len() == 2
                && m.iter().all(|m| m["subject"] == SUBJECT)
                && m.iter().any(|m| m["join"]["provider"] == "webex")
        })
    })
    .await;
    let inspection = w
        .admin(Method::GET, "/mailboxes/alice@contoso.example")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!inspection.contains(SUBJECT), "inspection is redacted by default");
    w.kill9();

    let logged = std::fs::read_to_string(w.log()).unwrap();
    assert!(logged.lines().count() > 20, "the log was written at debug level");
    for needle in [
        SUBJECT,
        "Marigold",
        ATTENDEE,
        "alice@contoso.example",
        JOIN,
        "us02web.zoom.us",
        "hcal.webex.com/meet",
    ] {
        assert_eq!(
            files_containing(&w.data(), needle.as_bytes()),
            Vec::<String>::new(),
            "{needle:?} is on disk in plaintext"
        );
        let line = logged.lines().find(|l| l.contains(needle));
        assert!(
            line.is_none(),
            "{needle:?} is in the node's log: {}",
            line.unwrap_or_default()
        );
    }
}
