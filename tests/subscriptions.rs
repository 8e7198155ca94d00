//! The subscription lifecycle against the emulator: created on enable,
//! renewed before expiry as the clock moves, reauthorised, recreated after
//! removal or expiry, `missed` followed by a resync, deleted on disable,
//! and reconciled with Graph at start.

mod support;

use hcal_actors::subscriptions::Verdict;
use hcal_emulator::Seed;
use reqwest::Method;
use serde_json::Value;
use support::{World, eventually};

async fn connected_with_alice() -> World {
    let w = World::start(Seed::example()).await;
    assert_eq!(w.connect("acme").await.0, 200);
    assert_eq!(w.enable("acme", "alice@contoso.example", "user").await.0, 200);
    eventually(10, "alice subscribed", || async { w.subscriptions().await.len() == 1 }).await;
    w
}

async fn only(w: &World) -> Value {
    let subs = w.subscriptions().await;
    assert_eq!(subs.len(), 1, "{subs:?}");
    subs[0].clone()
}

fn expiry(s: &Value) -> String {
    s["expirationDateTime"]
        .as_str()
        .or(s["expires_at"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewed_before_expiry_as_time_passes() {
    let w = connected_with_alice().await;
    let before = only(&w).await;
    let at_graph = w.graph_subscriptions().await;
    assert_eq!(at_graph.len(), 1);
    assert_eq!(at_graph[0]["id"], before["id"]);
    assert!(
        at_graph[0]["notificationUrl"]
            .as_str()
            .unwrap()
            .ends_with("/graph/notifications")
    );
    assert!(
        at_graph[0]["lifecycleNotificationUrl"]
            .as_str()
            .unwrap()
            .ends_with("/graph/lifecycle")
    );
    assert!(before["last_renewed"].is_null());

    // 60 of its 70.5 hours later it is inside the renewal margin (a day, each
    // subscription renewing at its own point in the margin's first quarter).
    w.advance(60 * 3600).await;
    eventually(10, "renewal", || async { !only(&w).await["last_renewed"].is_null() }).await;
    let after = only(&w).await;
    assert_eq!(after["id"], before["id"]);
    assert!(expiry(&after) > expiry(&before), "{before} -> {after}");
    let graph_now = &w.graph_subscriptions().await[0];
    assert_eq!(graph_now["id"], before["id"]);
    assert!(expiry(graph_now) > expiry(&at_graph[0]));
    // One renewal, not one per tick (a 401 for the token the moved clock expired does not count).
    let requests = w.requests().await;
    let renewals = requests["recent"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "PATCH" && r["route"] == "/v1.0/subscriptions/{id}" && r["status"] == 200)
        .count();
    assert_eq!(renewals, 1, "{requests}");
}

/// A hundred subscriptions due at once are renewed a batch at a time, each
/// batch right after the one before (the manager answering what queued
/// meanwhile), not one batch per tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_due_subscriptions_are_renewed_in_batches_without_waiting_for_ticks() {
    const USERS: usize = 100;
    let user = |i: usize| format!("many{i:03}@contoso.example");
    let seed = support::example_with_users(0x9100, USERS, user);
    // Ticks 15 s apart: whatever is renewed well within 15 s of the first
    // renewal was renewed without waiting for a tick.
    let w = World::start_configured(seed, Default::default(), |c| {
        c.subscriptions.tick = std::time::Duration::from_secs(15);
    })
    .await;
    assert_eq!(w.connect("acme").await.0, 200);
    for i in 0..USERS {
        assert_eq!(w.enable("acme", &user(i), "user").await.0, 200);
    }
    eventually(60, "every user subscribed", || async {
        w.subscriptions().await.len() == USERS
    })
    .await;

    // 60 of their 70.5 hours later every one is inside its renewal point.
    w.advance(60 * 3600).await;
    let renewed = || async {
        w.subscriptions()
            .await
            .iter()
            .filter(|s| !s["last_renewed"].is_null())
            .count()
    };
    eventually(30, "a first renewal", || async { renewed().await > 0 }).await;
    let first = std::time::Instant::now();
    eventually(30, "every renewal", || async { renewed().await == USERS }).await;
    let took = first.elapsed();
    assert!(
        took < std::time::Duration::from_secs(10),
        "the last renewal came {took:?} after the first: a tick apart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_expired_and_missed_subscriptions_are_followed_through() {
    let w = connected_with_alice().await;
    let first = only(&w).await["id"].as_str().unwrap().to_string();

    // subscriptionRemoved: recreated, and the mailbox needs a resync.
    let (s, _) = w
        .emu(Method::POST, &format!("/subscriptions/{first}/remove"), None)
        .await;
    assert!((200..300).contains(&s));
    eventually(10, "recreated after removal", || async {
        let subs = w.subscriptions().await;
        subs.len() == 1 && subs[0]["id"] != first.as_str()
    })
    .await;
    let second = only(&w).await;
    // The gap is closed by a resync of the mailbox (a second delta round), then recorded as done.
    eventually(10, "the mailbox resynced", || async {
        let deltas = w.requests().await["counts"]["GET /v1.0/users/{user}/calendarView/delta"]
            .as_u64()
            .unwrap_or(0);
        deltas >= 2 && only(&w).await["resync_needed"] == false
    })
    .await;
    assert_eq!(w.graph_subscriptions().await.len(), 1);

    // reauthorizationRequired: reauthorised, delivery resumes.
    let id = second["id"].as_str().unwrap().to_string();
    w.emu(
        Method::POST,
        &format!("/subscriptions/{id}/reauthorization-required"),
        None,
    )
    .await;
    eventually(10, "reauthorised", || async {
        w.graph_subscriptions()
            .await
            .iter()
            .any(|s| s["id"] == id.as_str() && s["paused"] == false)
            && w.requests().await["counts"]["POST /v1.0/subscriptions/{id}/reauthorize"].as_u64() == Some(1)
    })
    .await;

    // Expired silently at Graph: the next renewal finds it gone and recreates.
    w.emu(Method::POST, &format!("/subscriptions/{id}/expire"), None).await;
    w.advance(60 * 3600).await;
    eventually(10, "recreated after expiry", || async {
        let subs = w.subscriptions().await;
        subs.len() == 1 && subs[0]["id"] != id.as_str()
    })
    .await;
    let third = only(&w).await["id"].as_str().unwrap().to_string();
    assert!(w.graph_subscriptions().await.iter().any(|s| s["id"] == third.as_str()));

    // missed: a resync of the mailbox follows, and is recorded.
    let deltas = || async {
        w.requests().await["counts"]["GET /v1.0/users/{user}/calendarView/delta"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = deltas().await;
    w.emu(Method::POST, &format!("/subscriptions/{third}/missed"), None)
        .await;
    eventually(10, "missed followed by a resync", || async {
        deltas().await > before && only(&w).await["resync_needed"] == false
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_reconciles_with_graph() {
    let mut w = connected_with_alice().await;
    assert_eq!(w.enable("acme", "bob@contoso.example", "user").await.0, 200);
    eventually(10, "bob subscribed", || async { w.subscriptions().await.len() == 2 }).await;
    let ids: Vec<String> = w
        .subscriptions()
        .await
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    // While hcal is down, one subscription vanishes at Graph.
    w.node.take().unwrap().stop();
    w.emu(Method::POST, &format!("/subscriptions/{}/expire", ids[0]), None)
        .await;
    w.restart();
    eventually(10, "the vanished subscription recreated", || async {
        let subs = w.subscriptions().await;
        subs.len() == 2 && !subs.iter().any(|s| s["id"] == ids[0].as_str())
    })
    .await;
    let graph: Vec<String> = w
        .graph_subscriptions()
        .await
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let ours: Vec<String> = w
        .subscriptions()
        .await
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(graph.len(), 2);
    assert!(ours.iter().all(|id| graph.contains(id)), "{ours:?} vs {graph:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_webhook_knows_each_subscription_by_its_client_state() {
    let mut w = connected_with_alice().await;
    let (_, subs) = w.emu(Method::GET, "/subscriptions", None).await;
    let sub = &subs["value"][0];
    let (id, client_state) = (
        sub["id"].as_str().unwrap().to_string(),
        sub["clientState"].as_str().unwrap().to_string(),
    );
    // The client state is not in the aggregate's memory: the restarted node
    // reads it from the event that created the subscription.
    w.node.take().unwrap().stop();
    w.restart();
    eventually(10, "the subscription known again", || async {
        matches!(
            w.node().state.directory.check(&id, Some(&client_state)),
            Verdict::Accepted(_)
        )
    })
    .await;
    assert_eq!(w.node().state.directory.check(&id, Some("guess")), Verdict::Forged);
    assert_eq!(
        w.node().state.directory.check("no-such-id", Some(&client_state)),
        Verdict::Unknown
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_shows_when_it_last_brought_a_notification_also_after_a_restart() {
    let mut w = connected_with_alice().await;
    assert!(only(&w).await["last_notification"].is_null(), "nothing heard yet");
    let day = (w.emulator.now() + chrono::Duration::days(1)).date_naive();
    let body = serde_json::json!({
        "subject": "Heard from",
        "start": {"dateTime": format!("{day}T09:00:00"), "timeZone": "UTC"},
        "end": {"dateTime": format!("{day}T10:00:00"), "timeZone": "UTC"},
    });
    let (s, created) = w
        .emu(Method::POST, "/users/alice@contoso.example/events", Some(body))
        .await;
    assert_eq!(s, 201, "{created}");
    eventually(10, "the notification noted", || async {
        !only(&w).await["last_notification"].is_null()
    })
    .await;
    let heard = only(&w).await["last_notification"].clone();
    w.node.take().unwrap().stop();
    w.restart();
    assert_eq!(only(&w).await["last_notification"], heard);
}
