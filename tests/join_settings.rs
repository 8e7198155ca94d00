//! Per-organisation join settings as an admin uses them: own keywords and
//! wording, the rule tester, an external meeting service (moves and
//! cancellations followed there), a concurrent edit answered 412, a failed
//! decoration shown in the user's status until its retry succeeds, and a
//! `kill -9` between creating the meeting and patching the invite that
//! leaves neither an orphan meeting nor a double decoration.

mod support;

use hcal_emulator::Seed;
use reqwest::Method;
use serde_json::{Value, json};
use support::meeting_service::{MeetingService, TOKEN};
use support::{ProcessWorld, World, eventually};

const ALICE: &str = "alice@contoso.example"; // nl-NL
const BOB: &str = "bob@contoso.example";

async fn world() -> World {
    let w = World::start(Seed::example()).await;
    assert_eq!(w.connect("acme").await.0, 200);
    for u in [ALICE, BOB] {
        assert_eq!(w.enable("acme", u, "user").await.0, 200);
    }
    eventually(10, "activated", || async {
        w.users("acme").await.iter().all(|u| u["status"] == "activated")
    })
    .await;
    w
}

fn at(now: chrono::DateTime<chrono::Utc>, days: i64, hour: u32) -> String {
    format!("{}T{hour:02}:00:00", (now + chrono::Duration::days(days)).date_naive())
}

fn event(now: chrono::DateTime<chrono::Utc>, location: &str, body: &str) -> Value {
    json!({"subject": "Board", "location": {"displayName": location},
           "body": {"contentType": "html", "content": body},
           "start": {"dateTime": at(now, 2, 9), "timeZone": "UTC"}, "end": {"dateTime": at(now, 2, 10), "timeZone": "UTC"}})
}

async fn body_of(w: &World, user: &str, id: &str) -> String {
    let (_, all) = w.emu(Method::GET, &format!("/users/{user}/events"), None).await;
    all["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .map(|e| e["body"]["content"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_keywords_wording_and_the_rule_tester() {
    let w = world().await;
    let settings = json!({
        "keywords": [{"keyword": "@video", "default_action": "one_time"}],
        "templates": {"default_language": "en", "custom": {"nl": {"header": "Welkom bij Contoso.", "footer": "Vragen? Bel de servicedesk."}}},
        "provider": {"kind": "site", "site": "contoso.webex.com", "dial_in": [{"label": "NL", "number": "+31 20 555 0199"}]},
        "rules": {"version": 1, "rules": [{"name": "video-id", "provider": "sip", "pattern": "Video ID: (?P<id>\\d{9})", "template": "sip:{id}@video.contoso.example"}]}
    });
    let (s, b) = w.admin(Method::PUT, "/orgs/acme/join-settings", Some(settings)).await;
    assert_eq!(s, 200, "{b}");

    let (s, created) = w
        .emu(
            Method::POST,
            &format!("/users/{ALICE}/events"),
            Some(event(w.emulator.now(), "@video", "")),
        )
        .await;
    assert_eq!(s, 201);
    let id = created["id"].as_str().unwrap().to_string();
    eventually(10, "decorated with the org's wording and site", || async {
        let b = body_of(&w, ALICE, &id).await;
        b.contains("Welkom bij Contoso.")
            && b.contains("Vragen? Bel de servicedesk.")
            && b.contains("https://contoso.webex.com/contoso/j.php?MTID=")
    })
    .await;
    // @webex is no keyword of this org any more.
    let (_, other) = w
        .emu(
            Method::POST,
            &format!("/users/{ALICE}/events"),
            Some(event(w.emulator.now(), "@webex", "")),
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert!(
        !body_of(&w, ALICE, other["id"].as_str().unwrap())
            .await
            .contains("hcal-join")
    );

    // The tester applies the org's rules before the built-ins.
    let probe =
        json!({"subject": "x", "body": {"contentType": "text", "content": "Dial in from a room. Video ID: 123456789"}});
    let (s, r) = w.admin(Method::POST, "/orgs/acme/join-rules/test", Some(probe)).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["join"]["provider"], "sip", "{r}");
    assert_eq!(r["join"]["uri"], "sip:123456789@video.contoso.example");
    assert_eq!(r["join"]["source"], "rule:video-id");

    // Bad settings are refused with the reason, and nothing changes.
    for bad in [
        json!({"templates": {"custom": {"en": {"header": "x".repeat(1025)}}}}),
        json!({"rules": {"version": 1, "rules": [{"name": "r", "provider": "sip", "pattern": "(unclosed"}]}}),
        json!({"provider": {"kind": "site", "site": "not a host"}}),
        json!({"keywords": [{"keyword": "webex", "default_action": "space"}]}),
        json!({"colour": "blue"}),
    ] {
        let (s, b) = w
            .admin(Method::PUT, "/orgs/acme/join-settings", Some(bad.clone()))
            .await;
        assert_eq!(s, 400, "{bad} -> {b}");
    }
    let (_, now) = w.admin(Method::GET, "/orgs/acme/join-settings", None).await;
    assert_eq!(now["provider"]["Site"]["site"], "contoso.webex.com", "{now}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_meeting_service_follows_moves_and_cancellations_and_a_412_is_retried() {
    let svc = MeetingService::start();
    let w = world().await;
    let settings = json!({"provider": {"kind": "http", "provider": "webex", "url": svc.url, "token": TOKEN}});
    let (s, b) = w.admin(Method::PUT, "/orgs/acme/join-settings", Some(settings)).await;
    assert_eq!(s, 200, "{b}");
    assert!(!b.to_string().contains(TOKEN), "the token is never shown: {b}");

    // Hold the meeting service so that the invite changes between hcal's read and its PATCH.
    svc.state.lock().unwrap().hold = true;
    let (_, created) = w
        .emu(
            Method::POST,
            &format!("/users/{BOB}/events"),
            Some(event(w.emulator.now(), "@webex", "<p>Agenda</p>")),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    eventually(10, "the create request arrived", || async {
        svc.state.lock().unwrap().held >= 1
    })
    .await;
    let (s, _) = w
        .emu(
            Method::PATCH,
            &format!("/users/{BOB}/events/{id}"),
            Some(json!({"subject": "Board (moved room)"})),
        )
        .await;
    assert_eq!(s, 200);
    svc.state.lock().unwrap().hold = false;
    eventually(10, "decorated with the service's meeting", || async {
        body_of(&w, BOB, &id)
            .await
            .contains("https://meet.example.test/j/000001")
    })
    .await;
    let (_, all) = w.emu(Method::GET, &format!("/users/{BOB}/events"), None).await;
    let e = all["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(e["subject"], "Board (moved room)", "the user's edit survives");
    let statuses: Vec<u64> = w.requests().await["recent"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "PATCH" && r["route"].as_str().unwrap().contains("/events/"))
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![412, 200], "a stale If-Match, then a fresh one");
    assert_eq!(svc.state.lock().unwrap().meetings.len(), 1);

    // Moved: the service's meeting moves too. Cancelled: it is deleted.
    w.emu(
        Method::POST,
        &format!("/users/{BOB}/events/{id}/move"),
        Some(json!({"start": {"dateTime": at(w.emulator.now(), 3, 14), "timeZone": "UTC"}, "end": {"dateTime": at(w.emulator.now(), 3, 15), "timeZone": "UTC"}})),
    )
    .await;
    eventually(10, "the meeting moved at the service", || async {
        svc.state.lock().unwrap().patches.len() == 1
    })
    .await;
    w.emu(
        Method::POST,
        &format!("/users/{BOB}/events/{id}/cancel"),
        Some(json!({})),
    )
    .await;
    eventually(10, "the meeting deleted at the service", || async {
        svc.state.lock().unwrap().deletes == vec!["m-1".to_string()]
    })
    .await;
    svc.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_decoration_shows_in_the_users_status_until_its_retry_succeeds() {
    let svc = MeetingService::start();
    let w = world().await;
    let settings = json!({"provider": {"kind": "http", "provider": "webex", "url": svc.url, "token": TOKEN}});
    assert_eq!(
        w.admin(Method::PUT, "/orgs/acme/join-settings", Some(settings)).await.0,
        200
    );
    svc.state.lock().unwrap().fail = 1;
    let (_, created) = w
        .emu(
            Method::POST,
            &format!("/users/{BOB}/events"),
            Some(event(w.emulator.now(), "@webex", "<p>Agenda</p>")),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    eventually(10, "the failure in Bob's status", || async {
        !w.user_status("acme", BOB).await.unwrap()["join_failures"].is_null()
    })
    .await;
    let trouble = w.user_status("acme", BOB).await.unwrap()["join_failures"].clone();
    assert_eq!(trouble["meetings"], 1, "{trouble}");
    assert_eq!(trouble["code"], "provider_unavailable", "{trouble}");
    assert!(
        trouble["next_retry_at"].is_string(),
        "a transient failure is retried: {trouble}"
    );
    assert!(
        trouble["message"].as_str().unwrap().contains("tries again"),
        "{trouble}"
    );
    assert!(w.user_status("acme", ALICE).await.unwrap()["join_failures"].is_null());
    assert!(!body_of(&w, BOB, &id).await.contains("meet.example.test"));

    // The service is back; once the back-off has passed, the retry decorates and the status clears.
    w.advance(61).await;
    eventually(10, "decorated on retry", || async {
        body_of(&w, BOB, &id).await.contains("https://meet.example.test/j/")
    })
    .await;
    eventually(10, "the failure gone from Bob's status", || async {
        w.user_status("acme", BOB).await.unwrap()["join_failures"].is_null()
    })
    .await;
    assert_eq!(svc.state.lock().unwrap().creates, 2, "one failed attempt, one retry");
    svc.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_creating_the_meeting_and_patching_leaves_no_orphan_and_no_double_decoration() {
    let svc = MeetingService::start();
    let mut w = ProcessWorld::start(Seed::example(), "info").await;
    let r = w
        .admin(Method::PUT, "/orgs/acme/join-settings")
        .json(&json!({"provider": {"kind": "http", "provider": "webex", "url": svc.url, "token": TOKEN}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    w.connect_and_enable("acme", &[ALICE.to_string()]).await;

    svc.state.lock().unwrap().hold = true;
    let created: Value = w
        .emu(Method::POST, &format!("/users/{ALICE}/events"))
        .json(&event(w.emulator.now(), "@webex", "<p>Agenda</p>"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    eventually(10, "the create request arrived", || async {
        svc.state.lock().unwrap().held >= 1
    })
    .await;
    w.kill9();
    svc.state.lock().unwrap().hold = false;

    w.start_node().await;
    let body = || async {
        let all = w.truth(ALICE).await;
        all.iter()
            .find(|e| e["id"] == id.as_str())
            .map(|e| e["body"]["content"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    eventually(15, "decorated after the restart", || async {
        body().await.contains("https://meet.example.test/j/000001")
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let b = body().await;
    assert_eq!(b.matches("hcal-join:begin").count(), 1, "one block: {b}");
    {
        let st = svc.state.lock().unwrap();
        assert_eq!(st.meetings.len(), 1, "no orphan meeting");
        assert!(st.creates >= 2, "the create was asked again after the restart");
    }
    w.kill9();
    svc.stop();
}
