//! Subscriptions and notifications over loopback: handshake, limits, payload shape, batching,
//! duplicates, retries under a driven clock, expiry, lifecycle events, slow endpoints.

mod common;
use common::*;
use hcal_emulator::{EmulatorConfig, Seed};
use serde_json::{Value, json};

async fn subscribe(env: &Env, rx: &Receiver, resource: &str, lifecycle: bool) -> common::R {
    let mut body = json!({
        "changeType": "created,updated,deleted",
        "notificationUrl": format!("{}/notify?tenant=x", rx.base),
        "resource": resource,
        "expirationDateTime": (env.emu.now() + chrono::Duration::hours(24)).to_rfc3339(),
        "clientState": "secret-state",
    });
    if lifecycle {
        body["lifecycleNotificationUrl"] = json!(format!("{}/lifecycle", rx.base));
    }
    env.post("/subscriptions", body).await
}

#[tokio::test]
async fn handshake_on_both_urls_then_notifications_with_ids_only() {
    let env = env().await;
    let rx = Receiver::start();
    let s = subscribe(&env, &rx, &format!("users/{ALICE}/events"), true).await;
    assert_eq!(s.status, 201, "{}", s.body);
    assert_eq!(s.body["changeType"], "created,updated,deleted");
    assert_eq!(s.body["latestSupportedTlsVersion"], "v1_2");
    let v = rx.validations();
    assert_eq!(v.len(), 2, "one handshake per URL");
    assert!(v.iter().all(|r| r.content_type.starts_with("text/plain")));
    assert!(
        v[0].validation.as_ref().unwrap().contains(' '),
        "the token needs decoding"
    );
    assert!(v[0].query.contains("tenant=x"), "query string of notificationUrl kept");
    let sub_id = s.body["id"].as_str().unwrap().to_string();

    let ev = env
        .create(ALICE, "hello", "2024-05-01T09:00:00", "2024-05-01T10:00:00")
        .await;
    let id = ev["id"].as_str().unwrap();
    rx.wait_for("created", |r| !r.items("/notify").is_empty()).await;
    let n = &rx.items("/notify")[0];
    assert_eq!(n["subscriptionId"], sub_id.as_str());
    assert_eq!(n["changeType"], "created");
    assert_eq!(n["clientState"], "secret-state");
    assert_eq!(n["tenantId"], hcal_emulator::seed::EXAMPLE_TENANT);
    let res = format!("Users/{}/Events/{id}", hcal_emulator::seed::EXAMPLE_ALICE);
    assert_eq!(n["resource"], res.as_str(), "user GUID even when subscribed by mail");
    assert_eq!(n["resourceData"]["@odata.type"], "#Microsoft.Graph.Event");
    assert_eq!(n["resourceData"]["@odata.id"], res.as_str());
    assert_eq!(n["resourceData"]["id"], id);
    assert_eq!(n["resourceData"]["@odata.etag"], ev["@odata.etag"]);
    assert!(n.get("subject").is_none() && n["resourceData"].get("subject").is_none());
    assert!(rx.posts("/notify")[0].query.contains("tenant=x"));

    // hcal's own PATCH echoes an `updated`; DELETE gives `deleted`.
    env.patch(&format!("/users/{ALICE}/events/{id}"), json!({"subject": "patched"}))
        .await;
    rx.wait_for("updated", |r| {
        r.items("/notify").iter().any(|n| n["changeType"] == "updated")
    })
    .await;
    env.delete(&format!("/users/{ALICE}/events/{id}")).await;
    rx.wait_for("deleted", |r| {
        r.items("/notify").iter().any(|n| n["changeType"] == "deleted")
    })
    .await;

    // Subscription GET, list, PATCH, reauthorize, DELETE.
    let g = env.get(&format!("/subscriptions/{sub_id}")).await;
    assert_eq!(g.status, 200);
    assert_eq!(
        env.get("/subscriptions").await.body["value"].as_array().unwrap().len(),
        1
    );
    let p = env
        .patch(
            &format!("/subscriptions/{sub_id}"),
            json!({"expirationDateTime": (env.emu.now() + chrono::Duration::hours(48)).to_rfc3339()}),
        )
        .await;
    assert_eq!(p.status, 200);
    assert_eq!(
        env.post(&format!("/subscriptions/{sub_id}/reauthorize"), json!({}))
            .await
            .status,
        204
    );
    let lp = env
        .patch(
            &format!("/subscriptions/{sub_id}"),
            json!({"lifecycleNotificationUrl": format!("{}/x", rx.base)}),
        )
        .await;
    assert_eq!(lp.status, 400);
    assert_eq!(env.delete(&format!("/subscriptions/{sub_id}")).await.status, 204);
    assert_eq!(env.get(&format!("/subscriptions/{sub_id}")).await.status, 404);
}

#[tokio::test]
async fn failed_handshake_creates_nothing() {
    let env = env().await;
    let rx = Receiver::start();
    rx.set(Behaviour {
        echo_encoded: true,
        ..Default::default()
    });
    let s = subscribe(&env, &rx, &format!("users/{ALICE}/events"), false).await;
    assert_eq!(
        (s.status, s.body["error"]["code"].as_str()),
        (400, Some("InvalidRequest"))
    );
    rx.set(Behaviour {
        echo: false,
        ..Default::default()
    });
    let s = subscribe(&env, &rx, &format!("users/{ALICE}/events"), false).await;
    assert_eq!(s.status, 400);
    assert_eq!(
        env.get("/subscriptions").await.body["value"].as_array().unwrap().len(),
        0
    );
}

#[tokio::test]
async fn subscription_limits() {
    let env = env().await;
    let rx = Receiver::start();
    let exp = |mins: i64| (env.emu.now() + chrono::Duration::minutes(mins)).to_rfc3339();
    let base = |e: String| json!({"changeType": "updated", "notificationUrl": format!("{}/n", rx.base), "resource": format!("users/{ALICE}/events"), "expirationDateTime": e});
    // Too far: 400 ExtensionError naming the cap.
    let r = env.post("/subscriptions", base(exp(10_081 + 5))).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (400, Some("ExtensionError"))
    );
    assert!(r.body["error"]["message"].as_str().unwrap().contains("10080"));
    // Under 45 minutes: raised to 45.
    let r = env.post("/subscriptions", base(exp(5))).await;
    assert_eq!(r.status, 201);
    let got = chrono::DateTime::parse_from_rfc3339(r.body["expirationDateTime"].as_str().unwrap()).unwrap();
    assert!(got.with_timezone(&chrono::Utc) >= env.emu.now() + chrono::Duration::minutes(44));
    // clientState over 128.
    let mut b = base(exp(60));
    b["clientState"] = json!("x".repeat(129));
    assert_eq!(env.post("/subscriptions", b).await.status, 400);
    // Non-HTTPS, non-loopback URL.
    let mut b = base(exp(60));
    b["notificationUrl"] = json!("http://hooks.example.com/n");
    assert_eq!(env.post("/subscriptions", b).await.status, 400);
    // Bad change type, unknown property, /me resource.
    let mut b = base(exp(60));
    b["changeType"] = json!("moved");
    assert_eq!(env.post("/subscriptions", b).await.status, 400);
    let mut b = base(exp(60));
    b["bogus"] = json!(1);
    assert_eq!(env.post("/subscriptions", b).await.status, 400);
    let mut b = base(exp(60));
    b["resource"] = json!("me/events");
    assert_eq!(env.post("/subscriptions", b).await.status, 400);
}

#[tokio::test]
async fn batching_duplicates_and_own_patch() {
    let cfg = EmulatorConfig {
        notification_batch_wait_ms: 100,
        ..Default::default()
    };
    let env = env_with(Seed::example(), cfg).await;
    let rx = Receiver::start();
    assert_eq!(
        subscribe(&env, &rx, &format!("users/{ALICE}/events"), false)
            .await
            .status,
        201
    );
    assert_eq!(
        subscribe(&env, &rx, &format!("users/{ALICE}/calendar/events"), false)
            .await
            .status,
        201
    );
    env.control(
        "POST",
        "/_emulator/faults",
        json!({"duplicate_rate": 1.0, "created_then_updated": true}),
    )
    .await;
    env.create(ALICE, "one", "2024-05-01T09:00:00", "2024-05-01T10:00:00")
        .await;
    // 2 subscriptions x (created, created dup, updated) = 6 items.
    rx.wait_for("6 items", |r| r.items("/notify").len() >= 6).await;
    let posts = rx.posts("/notify");
    assert!(
        posts.iter().any(|p| p.body["value"].as_array().unwrap().len() > 1),
        "several notifications in one POST"
    );
    let subs: std::collections::HashSet<String> = rx
        .items("/notify")
        .iter()
        .map(|n| n["subscriptionId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(subs.len(), 2);
}

#[tokio::test]
async fn retries_with_backoff_on_the_emulator_clock() {
    let env = env_with(Seed::example(), manual_clock()).await;
    let rx = Receiver::start();
    assert_eq!(
        subscribe(&env, &rx, &format!("users/{ALICE}/events"), true)
            .await
            .status,
        201
    );
    rx.set(Behaviour {
        status: 500,
        ..Default::default()
    });
    env.create(ALICE, "r", "2024-05-01T09:00:00", "2024-05-01T10:00:00")
        .await;
    rx.wait_for("first attempt", |r| r.posts("/notify").len() == 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(rx.posts("/notify").len(), 1, "no retry before the back-off elapses");
    rx.set(Behaviour::default());
    env.advance(31.0).await;
    rx.wait_for("retry", |r| r.posts("/notify").len() == 2).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(rx.posts("/notify").len(), 2, "delivered once accepted");
    // Give up after 4 hours: a `missed` lifecycle event follows.
    rx.set(Behaviour {
        status: 503,
        ..Default::default()
    });
    env.create(ALICE, "lost", "2024-05-01T09:00:00", "2024-05-01T10:00:00")
        .await;
    rx.wait_for("attempt", |r| r.posts("/notify").len() == 3).await;
    for _ in 0..12 {
        env.advance(1800.0).await;
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    }
    rx.wait_for("missed", |r| {
        r.items("/lifecycle").iter().any(|n| n["lifecycleEvent"] == "missed")
    })
    .await;
}

#[tokio::test]
async fn expiry_and_lifecycle_events() {
    let mut env = env_with(Seed::example(), manual_clock()).await;
    let rx = Receiver::start();
    let s = subscribe(&env, &rx, &format!("users/{ALICE}/events"), true).await;
    let id = s.body["id"].as_str().unwrap().to_string();
    // reauthorizationRequired pauses delivery until reauthorize.
    env.control(
        "POST",
        &format!("/_emulator/subscriptions/{id}/reauthorization-required"),
        json!({}),
    )
    .await;
    rx.wait_for("reauth", |r| {
        r.items("/lifecycle")
            .iter()
            .any(|n| n["lifecycleEvent"] == "reauthorizationRequired")
    })
    .await;
    let l = rx.items("/lifecycle")[0].clone();
    assert_eq!(l["subscriptionId"], id.as_str());
    assert_eq!(l["clientState"], "secret-state");
    env.create(ALICE, "paused", "2024-05-01T09:00:00", "2024-05-01T10:00:00")
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    assert!(rx.items("/notify").is_empty(), "paused");
    assert_eq!(
        env.post(&format!("/subscriptions/{id}/reauthorize"), json!({}))
            .await
            .status,
        204
    );
    env.create(ALICE, "resumed", "2024-05-01T09:00:00", "2024-05-01T10:00:00")
        .await;
    rx.wait_for("resumed", |r| r.items("/notify").len() == 1).await;
    // Expiry removes silently under the driven clock.
    env.advance(25.0 * 3600.0).await;
    tokio::time::sleep(std::time::Duration::from_millis(80)).await;
    let expired = env.get(&format!("/subscriptions/{id}")).await;
    assert_eq!(
        (expired.status, expired.body["error"]["code"].as_str()),
        (401, Some("InvalidAuthenticationToken")),
        "the token expired too"
    );
    env.token = fetch_token(&env.http, &env.emu.base_url()).await;
    assert_eq!(env.get(&format!("/subscriptions/{id}")).await.status, 404);
    assert_eq!(
        env.patch(
            &format!("/subscriptions/{id}"),
            json!({"expirationDateTime": (env.emu.now() + chrono::Duration::hours(1)).to_rfc3339()})
        )
        .await
        .status,
        404
    );
    // subscriptionRemoved and missed on a fresh one; forged clientState.
    let s2 = subscribe(&env, &rx, &format!("users/{ALICE}/events"), true).await;
    let id2 = s2.body["id"].as_str().unwrap().to_string();
    env.control(
        "POST",
        &format!("/_emulator/subscriptions/{id2}/forge"),
        json!({"clientState": "evil"}),
    )
    .await;
    rx.wait_for("forged", |r| {
        r.items("/notify").iter().any(|n| n["clientState"] == "evil")
    })
    .await;
    env.control("POST", &format!("/_emulator/subscriptions/{id2}/missed"), json!({}))
        .await;
    env.control("POST", &format!("/_emulator/subscriptions/{id2}/remove"), json!({}))
        .await;
    rx.wait_for("removed", |r| {
        r.items("/lifecycle")
            .iter()
            .any(|n| n["lifecycleEvent"] == "subscriptionRemoved")
    })
    .await;
    assert!(rx.items("/lifecycle").iter().any(|n| n["lifecycleEvent"] == "missed"));
    assert_eq!(env.get(&format!("/subscriptions/{id2}")).await.status, 404);
}

#[tokio::test]
async fn slow_endpoint_is_delayed_then_dropped() {
    let cfg = EmulatorConfig {
        slow_threshold_ms: 30,
        slow_min_sample: 4,
        notification_batch_size: 1,
        notification_batch_wait_ms: 0,
        ..manual_clock()
    };
    let env = env_with(Seed::example(), cfg).await;
    let rx = Receiver::start();
    assert_eq!(
        subscribe(&env, &rx, &format!("users/{ALICE}/events"), true)
            .await
            .status,
        201
    );
    rx.set(Behaviour {
        delay_ms: 60,
        ..Default::default()
    });
    for i in 0..4 {
        env.create(ALICE, &format!("s{i}"), "2024-05-01T09:00:00", "2024-05-01T10:00:00")
            .await;
    }
    rx.wait_for("4 slow deliveries", |r| r.posts("/notify").len() == 4)
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let health = env.control("GET", "/_emulator/notifications", json!({})).await.body;
    let ep = health["endpoints"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert_eq!(ep["health"], "dropping", "{health}");
    // Dropped notifications surface as `missed`.
    env.create(ALICE, "dropped", "2024-05-01T09:00:00", "2024-05-01T10:00:00")
        .await;
    rx.wait_for("missed", |r| {
        r.items("/lifecycle").iter().any(|n| n["lifecycleEvent"] == "missed")
    })
    .await;
    assert_eq!(rx.posts("/notify").len(), 4);
}

#[tokio::test]
async fn occurrence_edits_notify_the_master() {
    let env = env().await;
    let rx = Receiver::start();
    subscribe(&env, &rx, &format!("users/{ALICE}/events"), false).await;
    let master = env
        .post(
            &format!("/users/{ALICE}/events"),
            json!({"subject": "S", "start": {"dateTime": "2024-03-04T09:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2024-03-04T10:00:00", "timeZone": "UTC"},
                   "recurrence": {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "numbered", "startDate": "2024-03-04", "numberOfOccurrences": 3}}}),
        )
        .await
        .body;
    let mid = master["id"].as_str().unwrap().to_string();
    rx.wait_for("created", |r| r.items("/notify").len() == 1).await;
    let r = env
        .control(
            "PATCH",
            &format!("/_emulator/users/{ALICE}/events/{mid}/occurrences/2024-03-05"),
            json!({"subject": "changed"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    rx.wait_for("updated", |r| r.items("/notify").len() == 2).await;
    let n: Value = rx.items("/notify")[1].clone();
    assert_eq!(n["changeType"], "updated");
    assert_eq!(n["resourceData"]["id"], mid.as_str());
}

#[tokio::test]
async fn no_notifications_for_a_mailbox_outside_the_access_policy() {
    let env = env().await;
    let rx = Receiver::start();
    assert_eq!(
        subscribe(&env, &rx, &format!("users/{ALICE}/events"), false)
            .await
            .status,
        201
    );
    env.control(
        "POST",
        &format!("/_emulator/users/{ALICE}/policy"),
        json!({"in_policy": false}),
    )
    .await;
    let r = env
        .control("POST", &format!("/_emulator/users/{ALICE}/events"), json!({"subject": "hidden", "start": {"dateTime": "2024-05-01T09:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2024-05-01T10:00:00", "timeZone": "UTC"}}))
        .await;
    assert_eq!(r.status, 201);
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    assert!(rx.items("/notify").is_empty(), "{:?}", rx.items("/notify"));
    env.control(
        "POST",
        &format!("/_emulator/users/{ALICE}/policy"),
        json!({"in_policy": true}),
    )
    .await;
    env.control("POST", &format!("/_emulator/users/{ALICE}/events"), json!({"subject": "seen", "start": {"dateTime": "2024-05-01T09:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2024-05-01T10:00:00", "timeZone": "UTC"}}))
        .await;
    rx.wait_for("after policy restored", |r| r.items("/notify").len() == 1)
        .await;
}
