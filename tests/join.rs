//! Scheduling without plug-ins, end to end against the emulator: `@webex`
//! decorated in the organiser's language with exactly one PATCH, the Teams
//! blob kept byte for byte, `@meet:space`, the keyword removed, the meeting
//! moved and cancelled, a series and one occurrence, past meetings left alone.

mod support;

use hcal_emulator::Seed;
use reqwest::Method;
use serde_json::{Value, json};
use support::{World, eventually};

const ALICE: &str = "alice@contoso.example"; // nl-NL
const BOB: &str = "bob@contoso.example"; // en-US

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

fn at(w: &World, days: i64, hour: u32) -> String {
    let d = (w.emulator.now() + chrono::Duration::days(days)).date_naive();
    format!("{d}T{hour:02}:00:00")
}

async fn create(w: &World, user: &str, body: Value) -> String {
    let (s, created) = w.emu(Method::POST, &format!("/users/{user}/events"), Some(body)).await;
    assert_eq!(s, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

/// Graph's truth of one event of `user`.
async fn truth(w: &World, user: &str, id: &str) -> Option<Value> {
    let (_, body) = w.emu(Method::GET, &format!("/users/{user}/events"), None).await;
    body["value"].as_array()?.iter().find(|e| e["id"] == id).cloned()
}

fn body_of(e: &Value) -> String {
    e["body"]["content"].as_str().unwrap_or_default().to_string()
}

fn patches(requests: &Value) -> u64 {
    requests["counts"]["PATCH /v1.0/users/{user}/events/{id}"]
        .as_u64()
        .unwrap_or(0)
        + requests["counts"]["PATCH /v1.0/users/{user}/calendar/events/{id}"]
            .as_u64()
            .unwrap_or(0)
}

fn meeting(start: &str, end: &str, extra: Value) -> Value {
    let mut v = json!({"subject": "Quarterly planning",
                        "start": {"dateTime": start, "timeZone": "UTC"}, "end": {"dateTime": end, "timeZone": "UTC"},
                        "attendees": [{"type": "required", "emailAddress": {"address": BOB, "name": "Bob"}}]});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, val) in e {
            o.insert(k.clone(), val.clone());
        }
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webex_keyword_is_decorated_once_in_the_organisers_language_keeping_the_teams_blob() {
    let w = world().await;
    let teams = "<div>Agenda: numbers first.</div><div>________________________________________________________________________________</div>\
<div class=\"me-email-text\"><a href=\"https://teams.microsoft.com/l/meetup-join/19%3ameeting_ZGE3@thread.v2/0?context=%7b%22Tid%22%7d\">Join the meeting now</a></div>\
<div>Meeting ID: 123 456 789 012</div><div>________________________________________________________________________________</div>";
    let id = create(
        &w,
        ALICE,
        meeting(
            &at(&w, 2, 9),
            &at(&w, 2, 10),
            json!({"location": {"displayName": "@webex"}, "body": {"contentType": "html", "content": teams}}),
        ),
    )
    .await;
    let original = body_of(&truth(&w, ALICE, &id).await.unwrap());
    eventually(10, "the join block in alice's invite", || async {
        body_of(&truth(&w, ALICE, &id).await.unwrap()).contains("hcal-join:begin")
    })
    .await;
    let decorated = truth(&w, ALICE, &id).await.unwrap();
    let body = body_of(&decorated);
    // In Dutch (alice's locale), with the meeting's link.
    assert!(body.contains("https://hcal.webex.com/meet/alice"), "{body}");
    assert!(
        body.contains("Deelnemen") || body.contains("deelnemen"),
        "not Dutch: {body}"
    );
    // Every byte outside the block is the body Graph had.
    assert_eq!(hcal_joinlink::remove_block(&body), original);
    let props = decorated["singleValueExtendedProperties"].to_string();
    assert!(props.contains("hcalJoin") && props.contains("pr-alice"), "{props}");

    // Bob's copy follows, and his list has the join target.
    eventually(10, "bob's copy decorated and listed", || async {
        let res = w
            .http
            .get(w.url(&format!("/api/v1/users/{BOB}/meetings")))
            .bearer_auth(support::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let v: Value = res.json().await.unwrap();
        v["meetings"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["join"]["provider"] == "webex"))
    })
    .await;
    // One PATCH, and the echo of it caused none.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(patches(&w.requests().await), 1, "{}", w.requests().await);
    let (_, i) = w.admin(Method::GET, &format!("/mailboxes/{ALICE}"), None).await;
    assert_eq!(i["state"]["join"][&id]["status"], "patched", "{i}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyword_follow_through_space_moved_removed_and_cancelled() {
    let w = world().await;
    let id = create(
        &w,
        BOB,
        meeting(
            &at(&w, 3, 9),
            &at(&w, 3, 10),
            json!({"location": {"displayName": "Room 3; @meet:space"}}),
        ),
    )
    .await;
    eventually(10, "space meeting block", || async {
        body_of(&truth(&w, BOB, &id).await.unwrap()).contains("https://hcal.webex.com/join/sp")
    })
    .await;
    assert!(
        body_of(&truth(&w, BOB, &id).await.unwrap()).contains("Join"),
        "English for bob"
    );

    // Moved: the provider's meeting follows; the body is not patched again.
    let before = patches(&w.requests().await);
    w.emu(
        Method::POST,
        &format!("/users/{BOB}/events/{id}/move"),
        Some(json!({"start": {"dateTime": at(&w, 4, 11), "timeZone": "UTC"}, "end": {"dateTime": at(&w, 4, 12), "timeZone": "UTC"}})),
    )
    .await;
    let moved = format!("{}.000Z", at(&w, 4, 11));
    eventually(10, "the provider meeting moved", || async {
        w.admin(Method::GET, &format!("/mailboxes/{BOB}"), None).await.1["state"]["join"][&id]["start"]
            == moved.as_str()
    })
    .await;
    assert_eq!(patches(&w.requests().await), before);

    // Keyword removed: the block goes, byte for byte.
    w.emu(
        Method::PATCH,
        &format!("/users/{BOB}/events/{id}"),
        Some(json!({"location": {"displayName": "Room 3"}})),
    )
    .await;
    eventually(10, "block removed", || async {
        !body_of(&truth(&w, BOB, &id).await.unwrap()).contains("hcal-join")
    })
    .await;
    eventually(10, "join record gone", || async {
        w.admin(Method::GET, &format!("/mailboxes/{BOB}"), None).await.1["state"]["join"]
            .get(&id)
            .is_none()
    })
    .await;

    // Decorated again, then cancelled: the meeting is deleted with it.
    w.emu(
        Method::PATCH,
        &format!("/users/{BOB}/events/{id}"),
        Some(json!({"location": {"displayName": "@webex:onetime"}})),
    )
    .await;
    eventually(10, "one-time meeting block", || async {
        body_of(&truth(&w, BOB, &id).await.unwrap()).contains("j.php?MTID=")
    })
    .await;
    w.emu(
        Method::POST,
        &format!("/users/{BOB}/events/{id}/cancel"),
        Some(json!({})),
    )
    .await;
    eventually(10, "join record cleared after cancel", || async {
        w.admin(Method::GET, &format!("/mailboxes/{BOB}"), None).await.1["state"]["join"]
            .as_object()
            .is_some_and(|j| j.is_empty())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_on_the_master_an_occurrence_on_its_own_and_never_the_past() {
    let w = world().await;
    let day = (w.emulator.now() + chrono::Duration::days(1)).date_naive();
    let weekday = day.format("%A").to_string().to_lowercase();
    let series = |subject: &str, location: &str| {
        json!({"subject": subject, "location": {"displayName": location},
               "start": {"dateTime": format!("{day}T08:00:00"), "timeZone": "UTC"}, "end": {"dateTime": format!("{day}T08:30:00"), "timeZone": "UTC"},
               "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [weekday]},
                              "range": {"type": "numbered", "startDate": day.to_string(), "numberOfOccurrences": 3}}})
    };
    let master = create(&w, ALICE, series("Weekly", "@webex")).await;
    eventually(10, "series decorated on its master", || async {
        body_of(&truth(&w, ALICE, &master).await.unwrap()).contains("hcal-join:begin")
    })
    .await;

    // A series without a keyword, one occurrence given one: that occurrence alone.
    let plain = create(&w, ALICE, series("Plain weekly", "Room 1")).await;
    let second = day + chrono::Duration::days(7);
    let (s, exc) = w
        .emu(
            Method::PATCH,
            &format!("/users/{ALICE}/events/{plain}/occurrences/{second}"),
            Some(json!({"location": {"displayName": "@webex"}})),
        )
        .await;
    assert_eq!(s, 200, "{exc}");
    let exception = exc["id"].as_str().unwrap().to_string();
    eventually(10, "the occurrence decorated", || async {
        let (_, all) = w.emu(Method::GET, &format!("/users/{ALICE}/events"), None).await;
        all["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == exception.as_str() && body_of(e).contains("hcal-join:begin"))
    })
    .await;
    assert!(!body_of(&truth(&w, ALICE, &plain).await.unwrap()).contains("hcal-join"));

    // A meeting already over is never decorated.
    let past = create(
        &w,
        ALICE,
        meeting(
            &at(&w, -2, 9),
            &at(&w, -2, 10),
            json!({"location": {"displayName": "@webex"}}),
        ),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(!body_of(&truth(&w, ALICE, &past).await.unwrap()).contains("hcal-join"));
    // Nor one that already carries a link of the same service.
    let own = create(
        &w,
        ALICE,
        meeting(
            &at(&w, 5, 9),
            &at(&w, 5, 10),
            json!({"location": {"displayName": "@webex"},
            "body": {"contentType": "html", "content": "<p>https://contoso.webex.com/meet/alice</p>"}}),
        ),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert!(!body_of(&truth(&w, ALICE, &own).await.unwrap()).contains("hcal-join"));
}
