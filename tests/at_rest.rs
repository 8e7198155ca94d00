//! No sensitive value in plaintext at rest or in logs: a node process runs a
//! day of calendar work (meetings with distinctive subjects, attendees, join
//! links, a keyword decoration, automatic replies), and afterwards neither its
//! data directory nor its log (at debug level) holds any of them.

mod support;

use std::path::Path;

use hcal_emulator::{Emulator, EmulatorConfig, Seed};
use reqwest::Method;
use serde_json::{Value, json};
use support::{NodeProcess, eventually};

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
    let emulator = Emulator::start(Seed::example(), EmulatorConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let listen = support::free_port();
    let log = dir.path().join("node.log");
    let node = NodeProcess::start_with_log_level(&emulator, &data, listen, &log, "debug").await;
    let http = reqwest::Client::new();
    let admin = |m: Method, p: &str| {
        http.request(m, format!("http://{listen}/admin/v1{p}"))
            .bearer_auth(support::ADMIN_TOKEN)
    };
    let setup: Value = admin(Method::POST, "/orgs/acme/calendar/setup")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    http.get(setup["consent_url"].as_str().unwrap()).send().await.unwrap();
    admin(Method::POST, "/orgs/acme/calendar/test")
        .json(&json!({"email": "alice@contoso.example"}))
        .send()
        .await
        .unwrap();
    for u in ["alice@contoso.example", ATTENDEE] {
        admin(Method::PUT, &format!("/orgs/acme/users/{u}"))
            .send()
            .await
            .unwrap();
    }
    eventually(10, "activated", || async {
        let v: Value = admin(Method::GET, "/orgs/acme/users")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["users"]
            .as_array()
            .is_some_and(|u| u.len() == 2 && u.iter().all(|u| u["status"] == "activated"))
    })
    .await;
    let day = (emulator.now() + chrono::Duration::days(1)).date_naive();
    let emu = |m: Method, p: String| http.request(m, format!("{}/_emulator{p}", emulator.base_url()));
    for (i, location) in [LOCATION, "@webex"].iter().enumerate() {
        let r = emu(Method::POST, "/users/alice@contoso.example/events".into())
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
    emu(Method::PATCH, "/users/alice@contoso.example/mailboxSettings".into())
        .json(&json!({"automaticRepliesSetting": {"status": "alwaysEnabled", "internalReplyMessage": "Away: Marigold offsite"}}))
        .send()
        .await
        .unwrap();
    // Both meetings listed for bob, the keyword one decorated, all content readable through the API.
    eventually(15, "processed", || async {
        let v: Value = http
            .get(format!("http://{listen}/api/v1/users/{ATTENDEE}/meetings"))
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
    let inspection = admin(Method::GET, "/mailboxes/alice@contoso.example")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!inspection.contains(SUBJECT), "inspection is redacted by default");
    node.kill9();

    let logged = std::fs::read_to_string(&log).unwrap();
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
            files_containing(&data, needle.as_bytes()),
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
