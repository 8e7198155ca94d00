//! Throttling, access policy, unlicensed mailboxes, permissions, $batch and injected faults.

mod common;
use common::*;
use hcal_emulator::{EmulatorConfig, Seed};
use serde_json::json;

#[tokio::test]
async fn rate_limit_per_app_and_mailbox() {
    let cfg = EmulatorConfig {
        throttle_requests: 5,
        ..manual_clock()
    };
    let env = env_with(Seed::example(), cfg).await;
    for _ in 0..5 {
        assert_eq!(env.get(&format!("/users/{ALICE}/events")).await.status, 200);
    }
    let r = env.get(&format!("/users/{ALICE}/events")).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (429, Some("ApplicationThrottled"))
    );
    let ra: u64 = r.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!(ra > 0 && ra <= 600);
    // Another mailbox is not affected; the window passes on the driven clock.
    assert_eq!(env.get(&format!("/users/{BOB}/events")).await.status, 200);
    env.advance(601.0).await;
    assert_eq!(env.get(&format!("/users/{ALICE}/events")).await.status, 200);
}

#[tokio::test]
async fn concurrency_limit() {
    let env = env().await;
    env.control("POST", "/_emulator/faults", json!({"latency_ms": 300}))
        .await;
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (http, url, tok) = (
            env.http.clone(),
            env.url(&format!("/users/{ALICE}/events")),
            env.token.clone(),
        );
        tasks.push(tokio::spawn(async move {
            http.get(url).bearer_auth(tok).send().await.unwrap()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        if r.status() == 429 {
            let v: serde_json::Value = r.json().await.unwrap();
            assert_eq!(
                v["error"]["message"],
                "Application is over its MailboxConcurrency limit."
            );
            statuses.push(429);
        } else {
            statuses.push(r.status().as_u16());
        }
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 4, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 2, "{statuses:?}");
}

#[tokio::test]
async fn access_policy_and_licences_on_every_mailbox_path() {
    let mut seed = Seed::example();
    seed.tenants[0].users[1].in_policy = false; // bob
    seed.tenants[0].users[2].unlicensed = true; // carol
    let env = env_with(seed, EmulatorConfig::default()).await;
    let paths = |u: &str| {
        vec![
            format!("/users/{u}/events"),
            format!("/users/{u}/calendar/events"),
            format!("/users/{u}/calendarView?startDateTime=2024-01-01T00:00:00&endDateTime=2024-02-01T00:00:00"),
            format!("/users/{u}/calendarView/delta?startDateTime=2024-01-01T00:00:00&endDateTime=2024-02-01T00:00:00"),
            format!("/users/{u}/mailboxSettings"),
            format!("/users/{u}/events/AAMkAGAQEBAQEBAQEBAQEBAQEBAQE="),
        ]
    };
    for p in paths(BOB) {
        let r = env.get(&p).await;
        assert_eq!(r.status, 403, "{p}");
        assert_eq!(r.body["error"]["code"], "ErrorAccessDenied");
        assert!(r.body["error"]["message"].as_str().unwrap().contains("[RAOP]"));
    }
    let s = env
        .post("/subscriptions", json!({"changeType": "updated", "notificationUrl": "http://127.0.0.1:9/n", "resource": format!("users/{BOB}/events"), "expirationDateTime": (env.emu.now() + chrono::Duration::hours(1)).to_rfc3339()}))
        .await;
    assert_eq!(s.status, 403);
    for p in paths("carol@contoso.example") {
        let r = env.get(&p).await;
        assert_eq!(
            (r.status, r.body["error"]["code"].as_str()),
            (404, Some("MailboxNotEnabledForRESTAPI")),
            "{p}"
        );
    }
    // Putting Bob back in scope through the control API.
    env.control(
        "POST",
        &format!("/_emulator/users/{BOB}/policy"),
        json!({"in_policy": true}),
    )
    .await;
    assert_eq!(env.get(&format!("/users/{BOB}/events")).await.status, 200);
    env.control(
        "POST",
        &format!("/_emulator/users/{ALICE}/policy"),
        json!({"in_policy": false}),
    )
    .await;
    assert_eq!(env.get(&format!("/users/{ALICE}/events")).await.status, 403);
}

#[tokio::test]
async fn missing_permission_is_denied() {
    let mut seed = Seed::example();
    seed.tenants[0].apps[0].roles = vec!["Calendars.Read".into(), "MailboxSettings.Read".into()];
    let env = env_with(seed, EmulatorConfig::default()).await;
    assert_eq!(env.get(&format!("/users/{ALICE}/events")).await.status, 200);
    let r = env
        .post(&format!("/users/{ALICE}/events"), json!({"subject": "x"}))
        .await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (403, Some("ErrorAccessDenied"))
    );
    let r = env
        .patch(&format!("/users/{ALICE}/mailboxSettings"), json!({"timeZone": "UTC"}))
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn batch_items_run_and_throttle_individually() {
    let cfg = EmulatorConfig {
        throttle_requests: 3,
        ..Default::default()
    };
    let env = env_with(Seed::example(), cfg).await;
    let create = json!({"subject": "b", "start": {"dateTime": "2024-05-01T09:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2024-05-01T10:00:00", "timeZone": "UTC"}});
    let r = env
        .post(
            "/$batch",
            json!({"requests": [
                {"id": "1", "method": "POST", "url": format!("/users/{ALICE}/events"), "headers": {"Content-Type": "application/json"}, "body": create},
                {"id": "2", "method": "GET", "url": format!("/users/{ALICE}/events"), "dependsOn": ["1"]},
                {"id": "3", "method": "GET", "url": format!("users/{ALICE}/events/{}", hcal_emulator::wire::make_item_id(&[1; 16]))},
                {"id": "4", "method": "GET", "url": format!("/users/{ALICE}/events"), "dependsOn": ["3"]},
                {"id": "5", "method": "GET", "url": format!("/users/{ALICE}/events")},
                {"id": "6", "method": "GET", "url": format!("/users/{ALICE}/events")}
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let by_id = |id: &str| {
        r.body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id("1")["status"], 201);
    assert_eq!(by_id("2")["status"], 200);
    assert_eq!(by_id("3")["status"], 404);
    assert_eq!(by_id("4")["status"], 424);
    assert_eq!(by_id("5")["status"], 429);
    assert!(by_id("5")["headers"]["Retry-After"].is_string());
    assert_eq!(by_id("5")["body"]["error"]["code"], "ApplicationThrottled");
    // More than 20, duplicate ids, body without Content-Type: the whole batch is refused.
    let many: Vec<_> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/subscriptions"}))
        .collect();
    assert_eq!(env.post("/$batch", json!({"requests": many})).await.status, 400);
    let dup = json!({"requests": [{"id": "1", "method": "GET", "url": "/subscriptions"}, {"id": "1", "method": "GET", "url": "/subscriptions"}]});
    assert_eq!(env.post("/$batch", dup).await.status, 400);
    let noct =
        json!({"requests": [{"id": "1", "method": "POST", "url": format!("/users/{ALICE}/events"), "body": {}}]});
    assert_eq!(env.post("/$batch", noct).await.status, 400);
    // Items are counted under their own routes.
    assert_eq!(env.emu.request_count("POST /v1.0/$batch"), 4);
    assert!(env.emu.request_count("GET /v1.0/users/{user}/events") >= 2);
}

#[tokio::test]
async fn injected_errors_and_latency() {
    let env = env().await;
    env.control(
        "POST",
        "/_emulator/faults",
        json!({"error_rate": 1.0, "retry_after_secs": 7, "only_mailbox": BOB}),
    )
    .await;
    assert_eq!(env.get(&format!("/users/{ALICE}/events")).await.status, 200);
    let r = env.get(&format!("/users/{BOB}/events")).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (503, Some("serviceNotAvailable"))
    );
    assert_eq!(r.headers.get("retry-after").unwrap(), "7");
    env.control(
        "POST",
        "/_emulator/faults",
        json!({"error_rate": 0.0, "throttle_rate": 1.0}),
    )
    .await;
    assert_eq!(env.get(&format!("/users/{BOB}/events")).await.status, 429);
    env.control("DELETE", "/_emulator/faults", json!({})).await;
    assert_eq!(env.get(&format!("/users/{BOB}/events")).await.status, 200);
    let unknown = env.control("POST", "/_emulator/faults", json!({"bogus": 1})).await;
    assert_eq!(unknown.status, 400);
}

#[tokio::test]
async fn policy_changes_take_effect_after_a_delay() {
    let cfg = EmulatorConfig {
        policy_change_delay_secs: 3600,
        ..manual_clock()
    };
    let mut env = env_with(Seed::example(), cfg).await;
    env.control(
        "POST",
        &format!("/_emulator/users/{ALICE}/policy"),
        json!({"in_policy": false}),
    )
    .await;
    assert_eq!(env.get(&format!("/users/{ALICE}/events")).await.status, 200, "not yet");
    env.advance(3601.0).await;
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    env.token = fetch_token(&env.http, &env.emu.base_url()).await;
    let r = env.get(&format!("/users/{ALICE}/mailboxSettings")).await;
    assert_eq!(r.status, 403, "{}", r.body);
}
