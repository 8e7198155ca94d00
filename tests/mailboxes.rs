//! Mailbox actors as users and admins see them: calendars flowing in from
//! Graph notifications into the meeting list (created, edited, moved,
//! cancelled, series with an exception and a deleted occurrence), duplicates
//! costing no Graph reads, gaps closed by a resync, passivation, a panic
//! confined to its mailbox, and the live digest equal to a replay.

mod support;

use hcal_emulator::Seed;
use reqwest::Method;
use serde_json::{Value, json};
use support::{ADMIN_TOKEN, World, eventually};

const ALICE: &str = "alice@contoso.example";
const BOB: &str = "bob@contoso.example";

async fn world_with(users: &[&str]) -> World {
    let w = World::start(Seed::example()).await;
    assert_eq!(w.connect("acme").await.0, 200);
    for u in users {
        assert_eq!(w.enable("acme", u, "user").await.0, 200);
    }
    eventually(10, "mailboxes activated", || async {
        let users = w.users("acme").await;
        users.iter().filter(|u| u["status"] == "activated").count() == users.len()
    })
    .await;
    w
}

/// The meeting list as the admin sees it.
async fn meetings(w: &World, user: &str, from: &str, to: &str) -> Vec<Value> {
    let res = w
        .http
        .get(w.url(&format!("/api/v1/users/{user}/meetings?from={from}&to={to}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "{body}");
    body["meetings"].as_array().cloned().unwrap_or_default()
}

/// A day in the window (tomorrow) at `hour`, UTC.
fn at(w: &World, days: i64, hour: u32) -> String {
    let d = (w.emulator.now() + chrono::Duration::days(days)).date_naive();
    format!("{}T{hour:02}:00:00", d)
}

async fn create(w: &World, user: &str, body: Value) -> String {
    let (s, created) = w.emu(Method::POST, &format!("/users/{user}/events"), Some(body)).await;
    assert_eq!(s, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

fn window(w: &World) -> (String, String) {
    let now = w.emulator.now();
    (
        (now - chrono::Duration::days(7)).to_rfc3339(),
        (now + chrono::Duration::days(31)).to_rfc3339(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_edited_moved_and_cancelled_meetings_show_in_the_list() {
    let w = world_with(&[ALICE, BOB]).await;
    let (from, to) = window(&w);
    let from = urlencode(&from);
    let to = urlencode(&to);
    let id = create(
        &w,
        ALICE,
        json!({"subject": "Roadmap review", "start": {"dateTime": at(&w, 1, 9), "timeZone": "UTC"},
               "end": {"dateTime": at(&w, 1, 10), "timeZone": "UTC"}, "location": {"displayName": "Room 4"},
               "body": {"contentType": "html", "content": "<p>Join: <a href=\"https://us02web.zoom.us/j/81234567890?pwd=abc\">zoom</a></p>"},
               "attendees": [{"type": "required", "emailAddress": {"address": BOB, "name": "Bob"}}]}),
    )
    .await;
    eventually(10, "the meeting in alice's list", || async {
        meetings(&w, ALICE, &from, &to).await.len() == 1
    })
    .await;
    let m = &meetings(&w, ALICE, &from, &to).await[0];
    assert_eq!(m["id"], id.as_str());
    assert_eq!(m["subject"], "Roadmap review");
    assert_eq!(m["location"], "Room 4");
    assert_eq!(m["is_organizer"], true);
    assert_eq!(m["join"]["provider"], "zoom", "{m}");
    assert_eq!(m["join"]["uri"], "https://us02web.zoom.us/j/81234567890?pwd=abc");
    // Bob, invited, has his own copy.
    eventually(10, "bob's copy", || async {
        meetings(&w, BOB, &from, &to).await.len() == 1
    })
    .await;
    assert_eq!(meetings(&w, BOB, &from, &to).await[0]["is_organizer"], false);

    // Edited.
    let (s, _) = w
        .emu(
            Method::PATCH,
            &format!("/users/{ALICE}/events/{id}"),
            Some(json!({"subject": "Roadmap review (v2)"})),
        )
        .await;
    assert_eq!(s, 200);
    eventually(10, "the new subject", || async {
        meetings(&w, ALICE, &from, &to).await[0]["subject"] == "Roadmap review (v2)"
    })
    .await;

    // Moved a day later.
    let (s, _) = w
        .emu(
            Method::POST,
            &format!("/users/{ALICE}/events/{id}/move"),
            Some(json!({"start": {"dateTime": at(&w, 2, 14), "timeZone": "UTC"}, "end": {"dateTime": at(&w, 2, 15), "timeZone": "UTC"}})),
        )
        .await;
    assert!((200..300).contains(&s));
    let moved_start = format!("{}.000Z", at(&w, 2, 14));
    eventually(10, "the new time", || async {
        meetings(&w, ALICE, &from, &to).await[0]["start"] == moved_start.as_str()
    })
    .await;

    // Private meetings show a masked subject.
    let private = create(
        &w,
        ALICE,
        json!({"subject": "Salary talk", "sensitivity": "private", "start": {"dateTime": at(&w, 3, 9), "timeZone": "UTC"},
               "end": {"dateTime": at(&w, 3, 10), "timeZone": "UTC"}}),
    )
    .await;
    eventually(10, "the private meeting", || async {
        meetings(&w, ALICE, &from, &to).await.len() == 2
    })
    .await;
    let listed = meetings(&w, ALICE, &from, &to).await;
    let p = listed.iter().find(|m| m["id"] == private.as_str()).unwrap();
    assert_eq!(p["subject"], "Private meeting");
    assert_eq!(p["private"], true);

    // Cancelled by the organizer: gone from hers, cancelled in his.
    let (s, _) = w
        .emu(
            Method::POST,
            &format!("/users/{ALICE}/events/{id}/cancel"),
            Some(json!({})),
        )
        .await;
    assert!((200..300).contains(&s));
    eventually(10, "gone from alice's list", || async {
        meetings(&w, ALICE, &from, &to).await.len() == 1
    })
    .await;
    eventually(10, "cancelled in bob's", || async {
        let b = meetings(&w, BOB, &from, &to).await;
        b.is_empty() || b[0]["is_cancelled"] == true
    })
    .await;
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weekly_series_with_an_exception_and_a_deleted_occurrence() {
    let w = world_with(&[ALICE]).await;
    let (from, to) = window(&w);
    let (from, to) = (urlencode(&from), urlencode(&to));
    let start_day = (w.emulator.now() + chrono::Duration::days(1)).date_naive();
    let master = create(
        &w,
        ALICE,
        json!({"subject": "Weekly sync", "start": {"dateTime": format!("{start_day}T08:00:00"), "timeZone": "W. Europe Standard Time"},
               "end": {"dateTime": format!("{start_day}T08:30:00"), "timeZone": "W. Europe Standard Time"},
               "recurrence": {"pattern": {"type": "weekly", "interval": 1,
                                          "daysOfWeek": [start_day.format("%A").to_string().to_lowercase()]},
                              "range": {"type": "numbered", "startDate": start_day.to_string(), "numberOfOccurrences": 4}}}),
    )
    .await;
    eventually(10, "four occurrences", || async {
        meetings(&w, ALICE, &from, &to).await.len() == 4
    })
    .await;
    let listed = meetings(&w, ALICE, &from, &to).await;
    assert!(listed.iter().all(|m| m["series_master_id"] == master.as_str()));

    // Second occurrence gets a new subject (an exception); the third is cancelled.
    let second = start_day + chrono::Duration::days(7);
    let third = start_day + chrono::Duration::days(14);
    let (s, b) = w
        .emu(
            Method::PATCH,
            &format!("/users/{ALICE}/events/{master}/occurrences/{second}"),
            Some(json!({"subject": "Weekly sync (planning)"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = w
        .emu(
            Method::DELETE,
            &format!("/users/{ALICE}/events/{master}/occurrences/{third}"),
            None,
        )
        .await;
    assert!((200..300).contains(&s), "{b}");
    eventually(10, "three occurrences, one renamed", || async {
        let l = meetings(&w, ALICE, &from, &to).await;
        l.len() == 3 && l.iter().any(|m| m["subject"] == "Weekly sync (planning)")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_cost_no_reads_and_a_gap_is_closed_by_a_resync() {
    let w = world_with(&[ALICE]).await;
    let (from, to) = window(&w);
    let (from, to) = (urlencode(&from), urlencode(&to));
    w.emu(
        Method::POST,
        "/faults",
        Some(json!({"duplicate_rate": 1.0, "shuffle": true})),
    )
    .await;
    w.emu(Method::DELETE, "/requests", None).await;
    for i in 0..3 {
        create(
            &w,
            ALICE,
            json!({"subject": format!("Dup {i}"), "start": {"dateTime": at(&w, 1, 9 + i), "timeZone": "UTC"},
                                 "end": {"dateTime": at(&w, 1, 10 + i), "timeZone": "UTC"}}),
        )
        .await;
    }
    eventually(10, "three meetings", || async {
        meetings(&w, ALICE, &from, &to).await.len() == 3
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let requests = w.requests().await;
    let gets = requests["counts"]["GET /v1.0/users/{user}/events/{id}"]
        .as_u64()
        .unwrap_or(0);
    assert!(gets <= 3, "{gets} GETs for 3 changes delivered twice each: {requests}");

    // Notifications dropped (Graph then sends `missed`): the resync converges to Graph's truth.
    w.emu(
        Method::POST,
        "/faults",
        Some(json!({"duplicate_rate": 0.0, "shuffle": false, "drop_notifications": 1.0})),
    )
    .await;
    let deltas_before = w.requests().await["counts"]["GET /v1.0/users/{user}/calendarView/delta"]
        .as_u64()
        .unwrap_or(0);
    create(
        &w,
        ALICE,
        json!({"subject": "Missed one", "start": {"dateTime": at(&w, 2, 9), "timeZone": "UTC"},
                             "end": {"dateTime": at(&w, 2, 10), "timeZone": "UTC"}}),
    )
    .await;
    eventually(10, "the missed meeting after resync", || async {
        meetings(&w, ALICE, &from, &to)
            .await
            .iter()
            .any(|m| m["subject"] == "Missed one")
    })
    .await;
    let deltas_after = w.requests().await["counts"]["GET /v1.0/users/{user}/calendarView/delta"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        deltas_after > deltas_before,
        "the meeting should have come by a delta round"
    );
    w.emu(Method::POST, "/faults", Some(json!({"drop_notifications": 0.0})))
        .await;
    eventually(10, "resync recorded", || async {
        w.subscriptions().await[0]["resync_needed"] == false
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_one_mailbox_leaves_the_others_working() {
    let w = world_with(&[ALICE, BOB]).await;
    let (from, to) = window(&w);
    let (from, to) = (urlencode(&from), urlencode(&to));
    let (s, b) = w
        .admin(
            Method::POST,
            &format!("/mailboxes/{ALICE}/faults"),
            Some(json!({"panic_next": 2})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    create(
        &w,
        ALICE,
        json!({"subject": "A", "start": {"dateTime": at(&w, 1, 9), "timeZone": "UTC"},
                             "end": {"dateTime": at(&w, 1, 10), "timeZone": "UTC"}}),
    )
    .await;
    create(
        &w,
        BOB,
        json!({"subject": "B", "start": {"dateTime": at(&w, 1, 11), "timeZone": "UTC"},
                           "end": {"dateTime": at(&w, 1, 12), "timeZone": "UTC"}}),
    )
    .await;
    eventually(10, "bob unaffected", || async {
        meetings(&w, BOB, &from, &to).await.len() == 1
    })
    .await;
    // Alice's failure is recorded, retried with back-off, and she catches up.
    eventually(10, "alice's error recorded", || async {
        let (_, i) = w.admin(Method::GET, &format!("/mailboxes/{ALICE}"), None).await;
        i["health"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("panicked"))
    })
    .await;
    eventually(15, "alice recovered", || async {
        meetings(&w, ALICE, &from, &to).await.len() == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_log_tokens_and_the_live_digest() {
    let mut w = world_with(&[ALICE, BOB]).await;
    let (from, to) = window(&w);
    let (from, to) = (urlencode(&from), urlencode(&to));
    create(
        &w,
        ALICE,
        json!({"subject": "Secret project", "start": {"dateTime": at(&w, 1, 9), "timeZone": "UTC"},
                             "end": {"dateTime": at(&w, 1, 10), "timeZone": "UTC"}}),
    )
    .await;
    eventually(10, "the meeting", || async {
        meetings(&w, ALICE, &from, &to).await.len() == 1
    })
    .await;

    let (s, i) = w.admin(Method::GET, &format!("/mailboxes/{ALICE}"), None).await;
    assert_eq!(s, 200, "{i}");
    assert_eq!(i["meetings"], 1);
    assert!(i["version"].as_u64().unwrap() >= 2);
    assert!(!i.to_string().contains("Secret project"), "redacted by default: {i}");
    assert!(i["subscription"]["id"].is_string());
    let (_, revealed) = w
        .admin(Method::GET, &format!("/mailboxes/{ALICE}?reveal=true"), None)
        .await;
    assert!(revealed.to_string().contains("Secret project"));
    let (_, log) = w
        .admin(Method::GET, &format!("/mailboxes/{ALICE}/log?after=0&limit=10"), None)
        .await;
    let types: Vec<&str> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"mailbox.calendar_event_upserted"), "{log}");
    assert!(!log.to_string().contains("Secret project"));

    // A personal token reads its own mailbox only.
    let (s, t) = w
        .admin(Method::POST, &format!("/orgs/acme/users/{ALICE}/tokens"), None)
        .await;
    assert_eq!(s, 201, "{t}");
    let token = t["token"].as_str().unwrap().to_string();
    let own = w
        .http
        .get(w.url(&format!("/api/v1/users/{ALICE}/meetings?from={from}&to={to}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status().as_u16(), 200);
    let other = w
        .http
        .get(w.url(&format!("/api/v1/users/{BOB}/meetings")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 403);
    let none = w
        .http
        .get(w.url(&format!("/api/v1/users/{ALICE}/meetings")))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status().as_u16(), 401);

    // The live digest equals a replay of the data directory.
    let (_, live) = w.admin(Method::GET, "/digest", None).await;
    w.node.take().unwrap().stop();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hcal"))
        .args(["replay", "--data-dir"])
        .arg(w.data_dir())
        .env("HCAL_MASTER_KEY", support::MASTER_B64)
        .env_remove("HCAL_MASTER_KEY_FILE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let replayed: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(replayed["digest"], live["digest"], "live {live} vs replay {replayed}");
    assert_eq!(replayed["events"], live["events"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_mailboxes_passivate_and_come_back_on_demand() {
    let w = World::start_configured(Seed::example(), hcal_emulator::EmulatorConfig::default(), |c| {
        c.mailbox.idle = std::time::Duration::from_millis(600);
    })
    .await;
    assert_eq!(w.connect("acme").await.0, 200);
    assert_eq!(w.enable("acme", ALICE, "user").await.0, 200);
    w.await_status("acme", ALICE, "activated", 10).await;
    let (from, to) = window(&w);
    let (from, to) = (urlencode(&from), urlencode(&to));
    create(
        &w,
        ALICE,
        json!({"subject": "Before", "start": {"dateTime": at(&w, 1, 9), "timeZone": "UTC"},
                             "end": {"dateTime": at(&w, 1, 10), "timeZone": "UTC"}}),
    )
    .await;
    eventually(10, "the first meeting", || async {
        meetings(&w, ALICE, &from, &to).await.len() == 1
    })
    .await;
    let active = || async { w.admin(Method::GET, &format!("/mailboxes/{ALICE}"), None).await.1["active"].clone() };
    eventually(10, "passivated when idle", || async { active().await == false }).await;
    // Its state is still there (from snapshot and log), and a notification brings it back.
    let (_, i) = w.admin(Method::GET, &format!("/mailboxes/{ALICE}"), None).await;
    assert_eq!(i["meetings"], 1, "{i}");
    create(
        &w,
        ALICE,
        json!({"subject": "After", "start": {"dateTime": at(&w, 2, 9), "timeZone": "UTC"},
                             "end": {"dateTime": at(&w, 2, 10), "timeZone": "UTC"}}),
    )
    .await;
    eventually(10, "reactivated by the notification", || async {
        meetings(&w, ALICE, &from, &to).await.len() == 2
    })
    .await;
    let m = w.metrics().await;
    let total = |name: &str| support::metric(&m, name, "");
    let activations = total("hcal_mailbox_activations_total");
    assert!(activations >= 2.0, "{activations}");
    // The lists' subjects came from the log, not from the actors' memory.
    let contents = total("hcal_meeting_contents_read_total");
    assert!(contents >= 2.0, "{contents}");
}
