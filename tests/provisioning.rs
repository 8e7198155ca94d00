//! Provisioning as an admin lives it: admin consent (granted, refused,
//! replayed, forged), the test-mailbox check per permission, and enabling
//! users with the status admins expect, against the Graph emulator.

mod support;

use hcal_emulator::Seed;
use hcal_emulator::seed::{ConsentMode, EXAMPLE_TENANT};
use reqwest::Method;
use serde_json::json;
use support::{World, eventually};

fn seed_with(f: impl FnOnce(&mut hcal_emulator::SeedTenant)) -> Seed {
    let mut seed = Seed::example();
    f(&mut seed.tenants[0]);
    seed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_consent_connects_the_org_once_and_only_with_a_fresh_state() {
    let w = World::start(Seed::example()).await;
    let (status, body) = w.connect("acme").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tenant_id"], EXAMPLE_TENANT);
    let (_, summary) = w.admin(Method::GET, "/orgs/acme", None).await;
    assert_eq!(summary["consent"], "granted");
    assert_eq!(summary["tenant_id"], EXAMPLE_TENANT);

    // The same tenant again is fine (idempotent).
    let (status, _) = w.connect("acme").await;
    assert_eq!(status, 200);

    // A forged or replayed state is refused; a second org cannot take the tenant.
    let (_, setup) = w.admin(Method::POST, "/orgs/acme/calendar/setup", None).await;
    let url = setup["consent_url"].as_str().unwrap();
    let state = url.split("state=").nth(1).unwrap().split('&').next().unwrap();
    let callback = |q: String| w.http.get(w.url(&format!("/admin/v1/consent/callback?{q}"))).send();
    let forged = callback(format!("admin_consent=True&tenant={EXAMPLE_TENANT}&state=acme.forged"))
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 400);
    let ok = callback(format!("admin_consent=True&tenant={EXAMPLE_TENANT}&state={state}"))
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let replay = callback(format!("admin_consent=True&tenant={EXAMPLE_TENANT}&state={state}"))
        .await
        .unwrap();
    assert_eq!(replay.status().as_u16(), 400);
    let (status, body) = w.connect("globex").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "tenant_taken");

    // The admin API wants the token; the consent callback does not.
    let anon = w
        .http
        .post(w.url("/admin/v1/orgs/acme/calendar/setup"))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status().as_u16(), 401);
    let wrong = w
        .http
        .get(w.url("/admin/v1/orgs/acme/users"))
        .bearer_auth("not-the-token-at-all")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_consent_is_reported_and_recorded() {
    let w = World::start(seed_with(|t| t.apps[0].consent = ConsentMode::Deny)).await;
    let (status, body) = w.connect("acme").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "consent_refused");
    let (_, summary) = w.admin(Method::GET, "/orgs/acme", None).await;
    assert_eq!(summary["consent"], "failed");
    // Without consent nothing can be checked.
    let (status, _) = w
        .admin(
            Method::POST,
            "/orgs/acme/calendar/test",
            Some(json!({"email": "alice@contoso.example"})),
        )
        .await;
    assert_eq!(status, 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_mailbox_check_proves_each_permission() {
    let w = World::start(Seed::example()).await;
    assert_eq!(w.connect("acme").await.0, 200);
    let (status, report) = w
        .admin(
            Method::POST,
            "/orgs/acme/calendar/test",
            Some(json!({"email": "alice@contoso.example"})),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], true, "{report}");
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "create_event",
            "read_event",
            "patch_event",
            "read_mailbox_settings",
            "delete_event"
        ]
    );
    // The probe event is gone again.
    let (status, events) = w.emu(Method::GET, "/users/alice@contoso.example/events", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        events["value"].as_array().expect("the emulator's truth").len(),
        0,
        "{events}"
    );

    // An unknown mailbox fails with Graph's code, every step.
    let (_, report) = w
        .admin(
            Method::POST,
            "/orgs/acme/calendar/test",
            Some(json!({"email": "nobody@contoso.example"})),
        )
        .await;
    assert_eq!(report["ok"], false);
    assert_eq!(report["checks"][0]["error"], "ErrorInvalidUser", "{report}");
    assert_eq!(report["checks"][1]["error"], "skipped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_fails_its_own_check_only() {
    let w = World::start(seed_with(|t| t.apps[0].roles = vec!["Calendars.ReadWrite".into()])).await;
    assert_eq!(w.connect("acme").await.0, 200);
    let (_, report) = w
        .admin(
            Method::POST,
            "/orgs/acme/calendar/test",
            Some(json!({"email": "alice@contoso.example"})),
        )
        .await;
    assert_eq!(report["ok"], false);
    let by_name = |n: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("create_event")["ok"], true);
    assert_eq!(by_name("patch_event")["ok"], true);
    assert_eq!(by_name("read_mailbox_settings")["ok"], false);
    assert_eq!(by_name("read_mailbox_settings")["error"], "ErrorAccessDenied");
    assert_eq!(by_name("delete_event")["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabling_users_gives_each_the_status_admins_expect() {
    let seed = seed_with(|t| {
        t.users[2].in_policy = false; // carol: outside the application access policy
        t.users[1].unlicensed = true; // bob: no Exchange Online licence
    });
    let mut w = World::start(seed).await;
    assert_eq!(w.connect("acme").await.0, 200);
    for (email, kind) in [
        ("alice@contoso.example", "user"),
        ("bob@contoso.example", "user"),
        ("carol@contoso.example", "user"),
        ("nobody@contoso.example", "user"),
        ("room.amstel@contoso.example", "room"),
    ] {
        let (status, body) = w.enable("acme", email, kind).await;
        assert_eq!(status, 200, "{email}: {body}");
    }
    let expect = [
        ("alice@contoso.example", "activated", None),
        ("room.amstel@contoso.example", "activated", None),
        ("bob@contoso.example", "error", Some("mailbox_not_enabled_for_rest")),
        ("carol@contoso.example", "error", Some("outside_access_policy")),
        ("nobody@contoso.example", "error", Some("not_found")),
    ];
    for (email, status, kind) in expect {
        w.await_status("acme", email, status, 10).await;
        let u = w.user_status("acme", email).await.unwrap();
        if let Some(kind) = kind {
            assert_eq!(u["error"]["kind"], kind, "{u}");
            assert!(u["error"]["message"].as_str().unwrap().len() > 20);
        }
    }
    // The org's summary counts them by status.
    assert_eq!(user_counts(&w).await, [5, 2, 0, 3]);
    // Exactly the activated mailboxes have subscriptions, at hcal and at Graph.
    let ours = w.subscriptions().await;
    assert_eq!(ours.len(), 2, "{ours:?}");
    assert_eq!(w.graph_subscriptions().await.len(), 2);
    // Only activated mailboxes are served: one in error has no meeting list
    // (and so no actor syncing it against Graph).
    for (email, served) in [("alice@contoso.example", 200), ("carol@contoso.example", 404)] {
        let res = reqwest::Client::new()
            .get(w.url(&format!("/api/v1/users/{email}/meetings")))
            .bearer_auth(support::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), served, "{email}");
    }

    // Bad input is refused plainly.
    let (status, _) = w.enable("acme", "not-an-address", "user").await;
    assert_eq!(status, 400);
    let (status, _) = w.enable("acme", "alice@contoso.example", "lamp").await;
    assert_eq!(status, 400);
    let (status, _) = w
        .admin(Method::PUT, "/orgs/Bad%20Org/users/alice@contoso.example", None)
        .await;
    assert_eq!(status, 400);

    // Disabling deletes the subscription at Graph.
    let (status, body) = w
        .admin(Method::DELETE, "/orgs/acme/users/alice@contoso.example", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "disabled");
    assert_eq!(w.subscriptions().await.len(), 1);
    assert_eq!(w.graph_subscriptions().await.len(), 1);
    // A disabled user counts nowhere, also once the node has counted again from its log.
    assert_eq!(user_counts(&w).await, [4, 1, 0, 3]);
    w.restart();
    assert_eq!(user_counts(&w).await, [4, 1, 0, 3]);
}

/// The org summary's users: enabled, activated, pending, in error.
async fn user_counts(w: &World) -> [u64; 4] {
    let (status, summary) = w.admin(Method::GET, "/orgs/acme", None).await;
    assert_eq!(status, 200, "{summary}");
    ["users", "activated", "pending", "in_error"].map(|k| summary[k].as_u64().unwrap_or(u64::MAX))
}

/// A burst of Graph errors while a mailbox is enabled leaves it in error, and it
/// is tried again after 30 seconds, not after the quarter-hour recheck that
/// lasting conditions get.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_that_met_transient_graph_errors_is_retried_within_a_minute() {
    const ALICE: &str = "alice@contoso.example";
    let w = World::start(Seed::example()).await;
    assert_eq!(w.connect("acme").await.0, 200);
    let (s, b) = w
        .emu(
            Method::POST,
            "/faults",
            Some(json!({"error_rate": 1.0, "error_status": 500, "only_mailbox": ALICE})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(w.enable("acme", ALICE, "user").await.0, 200);
    w.await_status("acme", ALICE, "error", 30).await;
    let u = w.user_status("acme", ALICE).await.unwrap();
    assert_eq!(u["error"]["kind"], "other", "{u}");
    assert!(u["error"]["message"].as_str().unwrap().contains("retry"), "{u}");

    // Graph recovers; 25 s (and a little) later nothing has been tried, at 31 s it has.
    assert_eq!(w.emu(Method::DELETE, "/faults", None).await.0, 204);
    w.advance(25).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(w.user_status("acme", ALICE).await.unwrap()["status"], "error");
    w.advance(6).await;
    w.await_status("acme", ALICE, "activated", 10).await;
    assert_eq!(w.graph_subscriptions().await.len(), 1);
}

/// A directory sync enabling many users at once: every enable is answered 200
/// while earlier ones are still being activated, each ends activated, and
/// the operator's gauges of the onboarding come back to nothing left to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabling_many_users_at_once_answers_every_one() {
    const USERS: usize = 120;
    const CLIENTS: usize = 4;
    // An organisation of its own: the node's metrics are the process's.
    const ORG: &str = "burst";
    let user = |i: usize| format!("burst{i:03}@contoso.example");
    let w = World::start(support::example_with_users(0x9000, USERS, user)).await;
    assert_eq!(w.connect(ORG).await.0, 200);
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let http = w.http.clone();
        let urls: Vec<String> = (c..USERS)
            .step_by(CLIENTS)
            .map(|i| w.url(&format!("/admin/v1/orgs/{ORG}/users/{}", user(i))))
            .collect();
        clients.spawn(async move {
            let mut refused = Vec::new();
            for url in urls {
                let r = http
                    .put(&url)
                    .bearer_auth(support::ADMIN_TOKEN)
                    .send()
                    .await
                    .expect("enable");
                if r.status() != 200 {
                    refused.push(format!("{url}: {} {}", r.status(), r.text().await.unwrap_or_default()));
                }
            }
            refused
        });
    }
    let refused: Vec<String> = clients.join_all().await.into_iter().flatten().collect();
    assert!(
        refused.is_empty(),
        "{} enables refused, e.g. {:?}",
        refused.len(),
        refused.first()
    );
    eventually(60, "every burst user activated", || async {
        let users = w.users(ORG).await;
        users.len() == USERS && users.iter().all(|u| u["status"] == "activated")
    })
    .await;
    let metrics = w.metrics().await;
    let value = |name: &str| -> Option<f64> {
        metrics
            .lines()
            .find(|l| l.starts_with(name) && l.contains(&format!("org=\"{ORG}\"")))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    };
    assert_eq!(value("hcal_users_awaiting_activation"), Some(0.0), "{metrics}");
    assert_eq!(value("hcal_user_checks_in_flight"), Some(0.0), "{metrics}");
    let checks = support::metric(&metrics, "hcal_user_check_seconds_count", "");
    assert!(checks >= USERS as f64, "{checks} checks recorded for {USERS} users");
}
