//! calendarView/delta, mailboxSettings and the control API (request log, reset, seed,
//! acting as a user, clock).

mod common;
use common::*;
use hcal_emulator::{EmulatorConfig, Seed};
use serde_json::{Value, json};

const WIN: &str = "startDateTime=2024-05-01T00:00:00Z&endDateTime=2024-06-01T00:00:00Z";

async fn round(env: &Env, mut url: String, headers: &[(&str, &str)]) -> (Vec<Value>, String, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    loop {
        let r = env.call("GET", &url, None, headers).await;
        assert_eq!(r.status, 200, "{}", r.body);
        pages += 1;
        items.extend(r.body["value"].as_array().unwrap().iter().cloned());
        if let Some(n) = r.body["@odata.nextLink"].as_str() {
            assert!(n.contains("$skiptoken="));
            url = n.to_string();
        } else {
            let d = r.body["@odata.deltaLink"].as_str().unwrap().to_string();
            assert!(d.contains("$deltatoken="));
            return (items, d, pages);
        }
    }
}

#[tokio::test]
async fn delta_rounds_report_changes_and_removals() {
    let env = env().await;
    let a = env
        .create(ALICE, "a", "2024-05-02T09:00:00", "2024-05-02T10:00:00")
        .await;
    let b = env
        .create(ALICE, "b", "2024-05-03T09:00:00", "2024-05-03T10:00:00")
        .await;
    let c = env
        .create(ALICE, "c", "2024-05-04T09:00:00", "2024-05-04T10:00:00")
        .await;
    let outside = env
        .create(ALICE, "out", "2024-08-01T09:00:00", "2024-08-01T10:00:00")
        .await;
    let (items, link, pages) = round(
        &env,
        format!("/users/{ALICE}/calendarView/delta?{WIN}"),
        &[("Prefer", "odata.maxpagesize=2")],
    )
    .await;
    assert_eq!(items.len(), 3);
    assert_eq!(pages, 2);
    // Nothing changed: an empty round.
    let (items, link, _) = round(&env, link, &[]).await;
    assert!(items.is_empty(), "{items:?}");
    // Update a, delete b, move c out of the window, change the outside one.
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    env.patch(&format!("/users/{ALICE}/events/{}", id(&a)), json!({"subject": "a2"}))
        .await;
    env.delete(&format!("/users/{ALICE}/events/{}", id(&b))).await;
    env.patch(&format!("/users/{ALICE}/events/{}", id(&c)), json!({"start": {"dateTime": "2024-09-01T09:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2024-09-01T10:00:00", "timeZone": "UTC"}})).await;
    env.patch(
        &format!("/users/{ALICE}/events/{}", id(&outside)),
        json!({"subject": "still out"}),
    )
    .await;
    let (items, link, _) = round(&env, link, &[]).await;
    let find = |i: &str| items.iter().find(|x| x["id"] == i).cloned();
    assert_eq!(find(&id(&a)).unwrap()["subject"], "a2");
    for gone in [id(&b), id(&c), id(&outside)] {
        let g = find(&gone).unwrap_or_else(|| panic!("{gone} missing in {items:?}"));
        assert_eq!(g["@removed"]["reason"], "deleted");
        assert_eq!(g["@odata.type"], "#microsoft.graph.event");
    }
    // Faults: 410 with a fresh Location, then syncStateNotFound.
    env.control("POST", "/_emulator/faults", json!({"delta_reset_next": true}))
        .await;
    let r = env.get(&link).await;
    assert_eq!(r.status, 410);
    let loc = r.headers.get("location").unwrap().to_str().unwrap().to_string();
    assert!(loc.contains("startDateTime="));
    env.control(
        "POST",
        "/_emulator/faults",
        json!({"delta_sync_state_not_found_next": true}),
    )
    .await;
    let r = env.get(&link).await;
    assert_eq!(r.body["error"]["code"], "SyncStateNotFound");
    let r = env
        .get(&format!("/users/{ALICE}/calendarView/delta?$deltatoken=garbage"))
        .await;
    assert_eq!(r.body["error"]["code"], "SyncStateNotFound");
    // The Location starts a full round again.
    let (items, _, _) = round(&env, loc, &[]).await;
    assert_eq!(items.len(), 1);
    let r = env
        .get(&format!("/users/{ALICE}/calendarView/delta?{WIN}&$select=subject"))
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn mailbox_settings_read_and_write() {
    let env = env().await;
    let r = env.get(&format!("/users/{ALICE}/mailboxSettings")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["language"]["locale"], "nl-NL");
    assert_eq!(r.body["timeZone"], "W. Europe Standard Time");
    assert_eq!(r.body["automaticRepliesSetting"]["status"], "disabled");
    let p = env
        .patch(
            &format!("/users/{ALICE}/mailboxSettings"),
            json!({"automaticRepliesSetting": {"status": "Scheduled", "externalAudience": "All",
                "scheduledStartDateTime": {"dateTime": "2024-05-01T07:00:00", "timeZone": "UTC"},
                "scheduledEndDateTime": {"dateTime": "2024-05-03T07:00:00", "timeZone": "UTC"}}}),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    let a = env
        .get(&format!("/users/{ALICE}/mailboxSettings/automaticRepliesSetting"))
        .await;
    assert_eq!(a.body["status"], "scheduled");
    assert_eq!(a.body["externalAudience"], "all");
    assert_eq!(
        a.body["scheduledStartDateTime"]["dateTime"],
        "2024-05-01T07:00:00.0000000"
    );
    assert_eq!(
        env.patch(
            &format!("/users/{ALICE}/mailboxSettings"),
            json!({"automaticRepliesSetting": {"status": "sometimes"}})
        )
        .await
        .status,
        400
    );
    // The control API changes locale and replies as the user would.
    let c = env
        .control(
            "PATCH",
            &format!("/_emulator/users/{ALICE}/mailboxSettings"),
            json!({"language": {"locale": "de-DE"}, "automaticRepliesSetting": {"status": "alwaysEnabled"}}),
        )
        .await;
    assert_eq!(c.status, 200);
    let r = env.get(&format!("/users/{ALICE}/mailboxSettings")).await;
    assert_eq!(r.body["language"]["locale"], "de-DE");
    assert_eq!(r.body["automaticRepliesSetting"]["status"], "alwaysEnabled");
}

#[tokio::test]
async fn request_log_reset_seed_and_acting_as_user() {
    let env = env_with(Seed::example(), manual_clock()).await;
    env.control("DELETE", "/_emulator/requests", json!({})).await;
    let ev = env
        .create(ALICE, "x", "2024-05-01T09:00:00", "2024-05-01T10:00:00")
        .await;
    let id = ev["id"].as_str().unwrap();
    env.get(&format!("/users/{ALICE}/events/{id}")).await;
    env.get(&format!("/users/{ALICE}/events/{id}")).await;
    env.get(&format!("/users/{ALICE}/calendar/events/{id}")).await;
    let log = env.control("GET", "/_emulator/requests", json!({})).await.body;
    assert_eq!(log["counts"]["GET /v1.0/users/{user}/events/{id}"], 2);
    assert_eq!(log["counts"]["GET /v1.0/users/{user}/calendar/events/{id}"], 1);
    assert_eq!(log["counts"]["POST /v1.0/users/{user}/events"], 1);
    assert_eq!(log["recent"].as_array().unwrap().len(), 4);
    // Acting as a user: Bob creates, edits, moves, cancels a meeting with Alice.
    let rx = Receiver::start();
    let s = env
        .post("/subscriptions", json!({"changeType": "created,updated,deleted", "notificationUrl": format!("{}/n", rx.base), "resource": format!("users/{ALICE}/events"), "expirationDateTime": (env.emu.now() + chrono::Duration::hours(2)).to_rfc3339()}))
        .await;
    assert_eq!(s.status, 201);
    let m = env
        .control(
            "POST",
            &format!("/_emulator/users/{BOB}/events"),
            json!({"subject": "From Bob", "start": {"dateTime": "2024-05-02T09:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2024-05-02T10:00:00", "timeZone": "UTC"},
                   "attendees": [{"emailAddress": {"address": ALICE}, "type": "required"}]}),
        )
        .await;
    assert_eq!(m.status, 201, "{}", m.body);
    rx.wait_for("alice's copy created", |r| {
        r.items("/n").iter().any(|n| n["changeType"] == "created")
    })
    .await;
    let bob_id = m.body["id"].as_str().unwrap();
    let mv = env
        .control("POST", &format!("/_emulator/users/{BOB}/events/{bob_id}/move"), json!({"start": {"dateTime": "2024-05-02T11:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2024-05-02T12:00:00", "timeZone": "UTC"}}))
        .await;
    assert_eq!(mv.status, 200);
    rx.wait_for("updated", |r| {
        r.items("/n").iter().any(|n| n["changeType"] == "updated")
    })
    .await;
    let copy = env.get(&format!("/users/{ALICE}/events")).await.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["subject"] == "From Bob")
        .cloned()
        .unwrap();
    assert_eq!(copy["start"]["dateTime"], "2024-05-02T11:00:00.0000000");
    env.control(
        "POST",
        &format!("/_emulator/users/{BOB}/events/{bob_id}/cancel"),
        json!({}),
    )
    .await;
    let copy = env
        .get(&format!("/users/{ALICE}/events/{}", copy["id"].as_str().unwrap()))
        .await
        .body;
    assert_eq!(copy["isCancelled"], true);
    // Clock.
    let c = env
        .control("POST", "/_emulator/clock", json!({"advance_seconds": 60}))
        .await
        .body;
    assert_eq!(c["now"], "2024-05-01T08:01:00.0000000Z");
    // Reset clears calendars and subscriptions but keeps the token valid.
    assert_eq!(env.control("POST", "/_emulator/reset", json!({})).await.status, 204);
    assert_eq!(
        env.get(&format!("/users/{ALICE}/events")).await.body["value"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        env.get("/subscriptions").await.body["value"].as_array().unwrap().len(),
        0
    );
    // A new seed replaces the users.
    let mut seed = Seed::example();
    seed.tenants[0].users.truncate(1);
    assert_eq!(
        env.control("POST", "/_emulator/seed", serde_json::to_value(&seed).unwrap())
            .await
            .status,
        204
    );
    assert_eq!(env.get(&format!("/users/{BOB}/events")).await.status, 404);
}

#[tokio::test]
async fn seed_file_shape_from_the_issue_parses() {
    let text = r#"{"tenants":[{"id":"11111111-1111-4111-8111-111111111111","domain":"contoso.example",
       "apps":[{"client_id":"22222222-2222-4222-8222-222222222222","client_secret":"s3cret","consent":"auto"}],
       "users":[{"id":"33333333-3333-4333-8333-333333333333","mail":"alice@contoso.example","displayName":"Alice",
                 "locale":"nl-NL","timeZone":"W. Europe Standard Time"}],
       "rooms":[{"id":"44444444-4444-4444-8444-444444444444","mail":"room.amstel@contoso.example","displayName":"Amstel"}]}]}"#;
    let seed = Seed::from_json(text).unwrap();
    let env = hcal_emulator::Emulator::start(seed, EmulatorConfig::default())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let r = http
        .post(env.token_url("contoso.example"))
        .form(&[
            ("client_id", "22222222-2222-4222-8222-222222222222"),
            ("client_secret", "s3cret"),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    env.stop().await;
}

#[test]
fn runs_from_a_plain_thread() {
    let emu = hcal_emulator::EmulatorHandle::spawn_thread(Seed::example(), EmulatorConfig::default()).unwrap();
    let tok = emu
        .issue_token("contoso.example", hcal_emulator::seed::EXAMPLE_CLIENT)
        .unwrap();
    let ids = emu
        .insert_events(ALICE, &[json!({"subject": "b", "start": {"dateTime": "2024-05-01T09:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2024-05-01T10:00:00", "timeZone": "UTC"}})])
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{}/users/{ALICE}/events/{}", emu.graph_url(), ids[0]))
            .bearer_auth(tok)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    emu.stop_blocking();
}

#[actix_rt::test]
async fn runs_under_actix_rt() {
    let env = env().await;
    assert_eq!(env.get(&format!("/users/{ALICE}/events")).await.status, 200);
}

#[tokio::test]
async fn clock_speed_factor_runs_expiries_in_seconds() {
    let cfg = EmulatorConfig {
        clock: hcal_emulator::ClockMode::Speed {
            factor: 7200.0,
            start: None,
        },
        ..Default::default()
    };
    let env = env_with(Seed::example(), cfg).await;
    let before = env.emu.now();
    // Half a real second is an hour of emulator time: the token (3599 s) runs out.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert!(env.emu.now() - before >= chrono::Duration::minutes(60));
    let r = env.get(&format!("/users/{ALICE}/events")).await;
    assert_eq!(r.status, 401);
    // The speed can be changed (0 freezes).
    let c = env
        .control("POST", "/_emulator/clock", json!({"speed": 0.0}))
        .await
        .body;
    assert_eq!(c["speed"], 0.0);
    let frozen = env.emu.now();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(env.emu.now(), frozen);
}

#[tokio::test]
async fn serve_listens_on_the_given_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    tokio::spawn(hcal_emulator::serve(addr, Seed::example(), EmulatorConfig::default()));
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("http://{addr}/_emulator/health")).send().await {
            assert_eq!(r.status(), 200);
            let tok = fetch_token(&http, &format!("http://{addr}")).await;
            assert!(!tok.is_empty());
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("serve did not come up on {addr}");
}

#[test]
fn workers_can_be_pinned_for_benchmarks() {
    let cfg = EmulatorConfig {
        cpu_affinity: Some(0),
        ..Default::default()
    };
    let emu = hcal_emulator::EmulatorHandle::spawn_thread(Seed::example(), cfg).unwrap();
    let pinned = std::thread::spawn(|| hcal_emulator::pin_current_thread(0))
        .join()
        .unwrap();
    assert_eq!(pinned, cfg!(target_os = "linux"));
    assert!(
        !hcal_emulator::pin_current_thread(1 << 20),
        "an impossible CPU is refused"
    );
    assert!(
        emu.issue_token("contoso.example", hcal_emulator::seed::EXAMPLE_CLIENT)
            .is_some()
    );
    emu.stop_blocking();
}

#[tokio::test]
async fn spawn_thread_also_works_inside_a_runtime() {
    let emu = hcal_emulator::EmulatorHandle::spawn_thread(Seed::example(), EmulatorConfig::default()).unwrap();
    let r = reqwest::get(format!("{}/_emulator/health", emu.base_url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    emu.stop().await;
}
