//! The Graph client against the Graph emulator on loopback: tokens, retries,
//! per-mailbox limits, typed errors, paging, delta and subscriptions. Counts
//! come from the emulator's request log; nothing here asserts a duration
//! (one test checks that a retry came no sooner than `Retry-After` said).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hcal_actors::graph::{DeltaItem, GraphClient, GraphConfig, GraphError, TransportKind};
use hcal_emulator::seed::{EXAMPLE_ALICE, EXAMPLE_BOB, EXAMPLE_CLIENT, EXAMPLE_SECRET, EXAMPLE_TENANT};
use hcal_emulator::{ClockMode, Emulator, EmulatorConfig, EmulatorHandle, Seed};
use hcal_schemas::Timestamp;
use hcal_schemas::graph::{
    AutomaticRepliesStatus, Event, ItemBody, Location, SingleValueExtendedProperty, SubscriptionRequest, parse_offset,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TENANT: &str = EXAMPLE_TENANT;
const ALICE: &str = "alice@contoso.example";
const TOKEN_ROUTE: &str = "POST /{tenant}/oauth2/v2.0/token";
const GET_EVENT: &str = "GET /v1.0/users/{user}/events/{id}";
const PROP_ID: &str = "String {66f5a359-4659-4830-9070-00040ec6ac6e} Name HcalMarker";

// ---------------------------------------------------------------------------------------
// Helpers

async fn emulator(cfg: EmulatorConfig) -> EmulatorHandle {
    emulator_with(Seed::example(), cfg).await
}

async fn emulator_with(seed: Seed, cfg: EmulatorConfig) -> EmulatorHandle {
    Emulator::start(seed, cfg).await.expect("emulator starts")
}

/// A client for the emulator with quick back-off, Graph's default page size.
fn config(emu: &EmulatorHandle) -> GraphConfig {
    let mut c = GraphConfig::new(EXAMPLE_CLIENT, EXAMPLE_SECRET).with_base_url(&emu.base_url());
    c.backoff_base = Duration::from_millis(10);
    c.backoff_max = Duration::from_millis(50);
    c.request_timeout = Duration::from_secs(20);
    c.page_size = None;
    c
}

fn client(emu: &EmulatorHandle) -> GraphClient {
    GraphClient::new(config(emu)).unwrap()
}

async fn control(emu: &EmulatorHandle, method: &str, path: &str, body: Value) -> Value {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let r = reqwest::Client::new()
        .request(m, format!("{}/_emulator{path}", emu.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "control {method} {path}: {}", r.status());
    let text = r.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn log(emu: &EmulatorHandle) -> Value {
    control(emu, "GET", "/requests", Value::Null).await
}

fn count(log: &Value, route: &str) -> u64 {
    log["counts"][route].as_u64().unwrap_or(0)
}

/// Statuses of the logged requests on `route` (method and template), in order.
fn statuses(log: &Value, method: &str, route: &str) -> Vec<u64> {
    log["recent"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == method && r["route"] == route)
        .map(|r| r["status"].as_u64().unwrap())
        .collect()
}

fn event_at(subject: &str, day: u32, hour: u32) -> Value {
    json!({
        "subject": subject,
        "start": {"dateTime": format!("2024-05-{day:02}T{hour:02}:00:00"), "timeZone": "UTC"},
        "end": {"dateTime": format!("2024-05-{day:02}T{hour:02}:30:00"), "timeZone": "UTC"},
    })
}

fn insert(emu: &EmulatorHandle, user: &str, bodies: &[Value]) -> Vec<String> {
    emu.insert_events(user, bodies).unwrap()
}

fn ts(text: &str) -> Timestamp {
    parse_offset(text).unwrap()
}

fn may() -> (Timestamp, Timestamp) {
    (ts("2024-05-01T00:00:00Z"), ts("2024-06-01T00:00:00Z"))
}

/// Wait until the emulator has answered `route` with `status` at least once.
async fn until_status(emu: &EmulatorHandle, method: &str, route: &str, status: u64) {
    for _ in 0..2000 {
        if statuses(&log(emu).await, method, route).contains(&status) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no {status} on {route}");
}

/// A tiny HTTP/1.1 server on loopback: `answer` gets (method, target, headers) and
/// returns (status, content type, body). Every request is recorded.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

type Answerer = Arc<dyn Fn(&Seen) -> (u16, &'static str, String) + Send + Sync>;

async fn mini_server(answer: Answerer) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (answer, seen) = (answer.clone(), seen2.clone());
            tokio::spawn(async move {
                loop {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let head_end = loop {
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p + 4;
                        }
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let mut lines = head.split("\r\n");
                    let mut first = lines.next().unwrap_or("").split(' ');
                    let method = first.next().unwrap_or("").to_string();
                    let target = first.next().unwrap_or("").to_string();
                    let headers: Vec<(String, String)> = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                        .collect();
                    let len: usize = headers
                        .iter()
                        .find(|(k, _)| k == "content-length")
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let req = Seen {
                        method,
                        target,
                        headers,
                    };
                    let (status, ct, body) = answer(&req);
                    seen.lock().unwrap().push(req);
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if sock.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (base, seen)
}

fn query_param(target: &str, name: &str) -> Option<String> {
    let q = target.split_once('?')?.1;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| percent_decode(&v.replace('+', " ")))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A webhook that passes Graph's validation handshake (the decoded token echoed as
/// text/plain) and accepts notifications with 202; or, with `echo: false`, answers the
/// handshake with the token still encoded, which Graph refuses.
async fn webhook(echo: bool) -> String {
    mini_server(Arc::new(move |req: &Seen| {
        match query_param(&req.target, "validationToken") {
            Some(token) if echo => (200, "text/plain; charset=utf-8", token),
            Some(_) => (200, "text/plain", req.target.clone()),
            None => (202, "text/plain", String::new()),
        }
    }))
    .await
    .0
}

// ---------------------------------------------------------------------------------------
// Tokens

#[tokio::test]
async fn one_token_for_many_calls_and_concurrent_first_calls_share_it() {
    let emu = emulator(EmulatorConfig::default()).await;
    let id = insert(&emu, ALICE, &[event_at("a", 2, 9)]).remove(0);
    let graph = client(&emu);
    // Ten first calls at once: one token request between them.
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let (g, id) = (graph.clone(), id.clone());
            tokio::spawn(async move { g.get_event(TENANT, EXAMPLE_ALICE, &id).await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    for _ in 0..10 {
        graph.get_event(TENANT, EXAMPLE_ALICE, &id).await.unwrap();
    }
    graph.token_ok(TENANT).await.unwrap();
    let l = log(&emu).await;
    assert_eq!(count(&l, TOKEN_ROUTE), 1);
    assert_eq!(count(&l, GET_EVENT), 20);
}

#[tokio::test]
async fn the_token_is_refreshed_before_it_expires() {
    let emu = emulator(EmulatorConfig {
        token_lifetime_secs: 2,
        ..Default::default()
    })
    .await;
    let id = insert(&emu, ALICE, &[event_at("a", 2, 9)]).remove(0);
    let graph = client(&emu);
    graph.get_event(TENANT, EXAMPLE_ALICE, &id).await.unwrap();
    graph.get_event(TENANT, EXAMPLE_ALICE, &id).await.unwrap();
    assert_eq!(count(&log(&emu).await, TOKEN_ROUTE), 1);
    // Past 80% of the 2 s lifetime (and before it ends): a new token, no 401 on the way.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    graph.get_event(TENANT, EXAMPLE_ALICE, &id).await.unwrap();
    let l = log(&emu).await;
    assert_eq!(count(&l, TOKEN_ROUTE), 2);
    assert_eq!(
        statuses(&l, "GET", "/v1.0/users/{user}/events/{id}"),
        vec![200, 200, 200]
    );
}

#[tokio::test]
async fn a_401_drops_the_token_and_retries_once() {
    let emu = emulator(EmulatorConfig {
        clock: ClockMode::Manual { start: None },
        ..Default::default()
    })
    .await;
    let id = insert(&emu, ALICE, &[event_at("a", 2, 9)]).remove(0);
    let graph = client(&emu);
    graph.get_event(TENANT, EXAMPLE_ALICE, &id).await.unwrap();
    // Graph's clock says the token expired; the client's still thinks it fresh.
    emu.advance_clock(chrono::Duration::hours(2));
    graph.get_event(TENANT, EXAMPLE_ALICE, &id).await.unwrap();
    let l = log(&emu).await;
    assert_eq!(count(&l, TOKEN_ROUTE), 2);
    assert_eq!(
        statuses(&l, "GET", "/v1.0/users/{user}/events/{id}"),
        vec![200, 401, 200]
    );
}

#[tokio::test]
async fn auth_failures_are_typed_and_keep_secrets_out() {
    let emu = emulator(EmulatorConfig::default()).await;
    let mut cfg = config(&emu);
    cfg.client_secret = "not-the-secret".into();
    let wrong = GraphClient::new(cfg.clone()).unwrap();
    let e = wrong.token_ok(TENANT).await.unwrap_err();
    match &e {
        GraphError::Auth { aadsts, info } => {
            assert_eq!(*aadsts, Some(7000215));
            assert_eq!(info.code, "invalid_client");
        }
        other => panic!("{other:?}"),
    }
    let shown = format!("{e} {e:?} {cfg:?} {wrong:?}");
    assert!(!shown.contains("not-the-secret"), "{shown}");
    // Not retried: a wrong secret will not get better.
    assert_eq!(count(&log(&emu).await, TOKEN_ROUTE), 1);
}

#[tokio::test]
async fn revoked_consent_shows_as_access_denied_then_auth() {
    let emu = emulator(EmulatorConfig::default()).await;
    let id = insert(&emu, ALICE, &[event_at("a", 2, 9)]).remove(0);
    let graph = client(&emu);
    graph.get_event(TENANT, EXAMPLE_ALICE, &id).await.unwrap();
    let consent = format!("/tenants/{TENANT}/apps/{EXAMPLE_CLIENT}/consent");
    control(&emu, "POST", &consent, json!({"granted": false})).await;
    // The token already issued is refused by Graph ...
    let e = graph.get_event(TENANT, EXAMPLE_ALICE, &id).await.unwrap_err();
    assert!(matches!(e, GraphError::AccessDenied { .. }), "{e:?}");
    assert_eq!(e.code(), Some("ErrorAccessDenied"));
    // ... and the next call's fresh token request names the cause.
    let e = graph.get_event(TENANT, EXAMPLE_ALICE, &id).await.unwrap_err();
    match &e {
        GraphError::Auth { aadsts, info } => {
            assert_eq!(*aadsts, Some(700016));
            assert_eq!(info.code, "unauthorized_client");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(graph.token_ok(TENANT).await, Err(GraphError::Auth { .. })));
    control(&emu, "POST", &consent, json!({"granted": true})).await;
    graph.token_ok(TENANT).await.unwrap();
    graph.get_event(TENANT, EXAMPLE_ALICE, &id).await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Retries

#[tokio::test]
async fn a_429_waits_retry_after_and_then_succeeds() {
    let emu = emulator(EmulatorConfig::default()).await;
    let id = insert(&emu, ALICE, &[event_at("a", 2, 9)]).remove(0);
    let graph = client(&emu);
    graph.token_ok(TENANT).await.unwrap();
    control(
        &emu,
        "POST",
        "/faults",
        json!({"throttle_rate": 1.0, "retry_after_secs": 1}),
    )
    .await;
    let call = {
        let (g, id) = (graph.clone(), id.clone());
        tokio::spawn(async move { g.get_event(TENANT, EXAMPLE_ALICE, &id).await })
    };
    until_status(&emu, "GET", "/v1.0/users/{user}/events/{id}", 429).await;
    control(&emu, "DELETE", "/faults", Value::Null).await;
    let ev = call.await.unwrap().unwrap();
    assert_eq!(ev.id.as_deref(), Some(id.as_str()));
    let l = log(&emu).await;
    let recent: Vec<&Value> = l["recent"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["route"] == "/v1.0/users/{user}/events/{id}")
        .collect();
    assert!(recent.len() >= 2);
    assert_eq!(recent.last().unwrap()["status"], 200);
    assert!(recent[..recent.len() - 1].iter().all(|r| r["status"] == 429));
    // Each retry came no sooner than the 1 s Retry-After.
    let at = |r: &Value| ts(r["at"].as_str().unwrap()).millis();
    for pair in recent.windows(2) {
        assert!(at(pair[1]) - at(pair[0]) >= 1000, "{pair:?}");
    }
}

#[tokio::test]
async fn server_errors_are_retried_until_they_pass() {
    let emu = emulator(EmulatorConfig::default()).await;
    let id = insert(&emu, ALICE, &[event_at("a", 2, 9)]).remove(0);
    let mut cfg = config(&emu);
    // Slow enough that the fault is lifted while retries remain.
    cfg.backoff_base = Duration::from_millis(300);
    cfg.backoff_max = Duration::from_secs(2);
    let graph = GraphClient::new(cfg).unwrap();
    graph.token_ok(TENANT).await.unwrap();
    for status in [503u64, 500] {
        control(&emu, "DELETE", "/requests", Value::Null).await;
        control(
            &emu,
            "POST",
            "/faults",
            json!({"error_rate": 1.0, "error_status": status, "retry_after_secs": 1}),
        )
        .await;
        let call = {
            let (g, id) = (graph.clone(), id.clone());
            tokio::spawn(async move { g.get_event(TENANT, EXAMPLE_ALICE, &id).await })
        };
        until_status(&emu, "GET", "/v1.0/users/{user}/events/{id}", status).await;
        control(&emu, "DELETE", "/faults", Value::Null).await;
        call.await.unwrap().unwrap();
        let s = statuses(&log(&emu).await, "GET", "/v1.0/users/{user}/events/{id}");
        assert_eq!(s.last(), Some(&200), "{s:?}");
        assert!(s[..s.len() - 1].iter().all(|x| *x == status), "{s:?}");
    }
}

#[tokio::test]
async fn exhausted_retries_give_typed_errors() {
    let emu = emulator(EmulatorConfig::default()).await;
    let id = insert(&emu, ALICE, &[event_at("a", 2, 9)]).remove(0);
    let mut cfg = config(&emu);
    cfg.max_retries = 2;
    let graph = GraphClient::new(cfg.clone()).unwrap();

    control(&emu, "POST", "/faults", json!({"error_rate": 1.0, "error_status": 502})).await;
    let e = graph.get_event(TENANT, EXAMPLE_ALICE, &id).await.unwrap_err();
    assert!(
        matches!(e, GraphError::Server { status: 502, ref code, .. } if code == "badGateway"),
        "{e:?}"
    );
    assert!(e.is_transient());
    assert_eq!(count(&log(&emu).await, GET_EVENT), 3, "first attempt and two retries");

    control(&emu, "DELETE", "/faults", Value::Null).await;
    control(&emu, "DELETE", "/requests", Value::Null).await;
    control(
        &emu,
        "POST",
        "/faults",
        json!({"throttle_rate": 1.0, "retry_after_secs": 1}),
    )
    .await;
    cfg.max_retries = 1;
    let graph = GraphClient::new(cfg.clone()).unwrap();
    let e = graph.get_event(TENANT, EXAMPLE_ALICE, &id).await.unwrap_err();
    assert!(
        matches!(e, GraphError::Throttled { retry_after: Some(d), .. } if d == Duration::from_secs(1)),
        "{e:?}"
    );
    assert_eq!(e.code(), Some("ApplicationThrottled"));
    assert_eq!(count(&log(&emu).await, GET_EVENT), 2);

    // A Retry-After longer than the client waits inside a call is handed back at once.
    control(&emu, "DELETE", "/requests", Value::Null).await;
    control(&emu, "POST", "/faults", json!({"retry_after_secs": 120})).await;
    cfg.max_retries = 5;
    let graph = GraphClient::new(cfg).unwrap();
    let e = graph.get_event(TENANT, EXAMPLE_ALICE, &id).await.unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(count(&log(&emu).await, GET_EVENT), 1);
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_retried_only_where_safe() {
    let token = json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "tok"}).to_string();
    let (login, _) = mini_server(Arc::new(move |_: &Seen| (200, "application/json", token.clone()))).await;
    // Graph that accepts connections and never answers.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hole_url = format!("http://{}", hole.local_addr().unwrap());
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = hole.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(sock);
        }
    });
    let accepts = || accepted.load(std::sync::atomic::Ordering::SeqCst);
    let mut cfg = GraphConfig::new("app", "sec");
    cfg.login_url = login;
    cfg.graph_url = hole_url;
    cfg.request_timeout = Duration::from_millis(200);
    cfg.max_retries = 2;
    cfg.backoff_base = Duration::from_millis(1);
    cfg.backoff_max = Duration::from_millis(5);
    let graph = GraphClient::new(cfg.clone()).unwrap();

    // A read: retried.
    let e = graph.get_event("t", "u", "i").await.unwrap_err();
    assert!(
        matches!(
            e,
            GraphError::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(accepts(), 3);
    // A subscription create may have been acted on: not retried.
    let req = SubscriptionRequest::mailbox_events("u", "https://h/n", None, Timestamp(0), "s");
    let e = graph.create_subscription("t", &req).await.unwrap_err();
    assert!(
        matches!(
            e,
            GraphError::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(accepts(), 4);

    // Nobody listening: a connection never made is safe to retry, even for a create.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    cfg.graph_url = format!("http://{closed}");
    let graph = GraphClient::new(cfg).unwrap();
    let e = graph.create_subscription("t", &req).await.unwrap_err();
    assert!(
        matches!(
            e,
            GraphError::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.to_string().contains("/subscriptions"), "{e}");
}

// ---------------------------------------------------------------------------------------
// Per-mailbox limits

/// `n` GETs of Alice's event `id` at once, each answer 150 ms late (holding Graph's
/// concurrency slot meanwhile); the statuses Graph gave, retries included.
async fn slow_gets_at_once(emu: &EmulatorHandle, graph: &GraphClient, id: &str, n: usize) -> Vec<u64> {
    control(emu, "POST", "/faults", json!({"latency_ms": 150})).await;
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let (g, id) = (graph.clone(), id.to_string());
            tokio::spawn(async move { g.get_event(TENANT, EXAMPLE_ALICE, &id).await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    statuses(&log(emu).await, "GET", "/v1.0/users/{user}/events/{id}")
}

#[tokio::test]
async fn never_more_than_four_in_flight_per_mailbox() {
    let emu = emulator(EmulatorConfig::default()).await;
    let id = insert(&emu, ALICE, &[event_at("a", 2, 9)]).remove(0);
    let graph = client(&emu);
    graph.token_ok(TENANT).await.unwrap();
    // Slow answers hold the emulator's concurrency slot: a fifth request in flight would
    // be answered 429 MailboxConcurrency.
    let s = slow_gets_at_once(&emu, &graph, &id, 20).await;
    assert_eq!(s.len(), 20, "no retries were needed: {s:?}");
    assert!(s.iter().all(|x| *x == 200), "{s:?}");
}

#[tokio::test]
async fn never_more_in_flight_than_the_client_allows() {
    // Graph would take two at a time from this mailbox; the client allows four per mailbox
    // but two in all, so no request is ever refused.
    let emu = emulator(EmulatorConfig {
        throttle_concurrency: 2,
        ..EmulatorConfig::default()
    })
    .await;
    let id = insert(&emu, ALICE, &[event_at("a", 2, 9)]).remove(0);
    let mut cfg = config(&emu);
    cfg.max_in_flight = 2;
    let graph = GraphClient::new(cfg).unwrap();
    graph.token_ok(TENANT).await.unwrap();
    let s = slow_gets_at_once(&emu, &graph, &id, 12).await;
    assert_eq!(s.len(), 12, "no request was refused and retried: {s:?}");
    assert!(s.iter().all(|x| *x == 200), "{s:?}");
}

#[tokio::test]
async fn the_mailbox_budget_is_enforced_before_graph() {
    let emu = emulator(EmulatorConfig::default()).await;
    let id = insert(&emu, ALICE, &[event_at("a", 2, 9)]).remove(0);
    let bob = insert(&emu, "bob@contoso.example", &[event_at("b", 2, 9)]).remove(0);
    let mut cfg = config(&emu);
    cfg.mailbox_budget = 5;
    let graph = GraphClient::new(cfg).unwrap();
    for _ in 0..5 {
        graph.get_event(TENANT, EXAMPLE_ALICE, &id).await.unwrap();
    }
    // The key is the user argument lower-cased.
    let e = graph
        .get_event(TENANT, &EXAMPLE_ALICE.to_ascii_uppercase(), &id)
        .await
        .unwrap_err();
    match e {
        GraphError::BudgetExhausted { retry_after } => {
            // Free a window after the end of the first request's bucket (a tenth of
            // the window).
            assert!(retry_after > Duration::from_secs(590) && retry_after <= Duration::from_secs(660));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        count(&log(&emu).await, GET_EVENT),
        5,
        "the sixth call never reached Graph"
    );
    // Other mailboxes have their own budget.
    graph.get_event(TENANT, EXAMPLE_BOB, &bob).await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Typed errors

#[tokio::test]
async fn mailbox_errors_are_typed() {
    let mut seed = Seed::example();
    seed.tenants[0].users[1].in_policy = false; // bob
    seed.tenants[0].users[2].unlicensed = true; // carol
    let emu = emulator_with(seed, EmulatorConfig::default()).await;
    let graph = client(&emu);
    let (s, e) = may();

    let err = graph.get_event(TENANT, EXAMPLE_BOB, "AAMkAGx").await.unwrap_err();
    assert!(matches!(err, GraphError::AccessDeniedByPolicy { .. }), "{err:?}");
    assert_eq!(err.code(), Some("ErrorAccessDenied"));
    assert!(err.request_id().is_some());
    let err = graph
        .get_mailbox_settings(TENANT, "bob@contoso.example")
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::AccessDeniedByPolicy { .. }), "{err:?}");

    let err = graph
        .calendar_view(TENANT, "carol@contoso.example", s, e)
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::MailboxNotEnabledForRest { .. }), "{err:?}");

    let err = graph
        .get_event(TENANT, "nobody@contoso.example", "AAMkAGx")
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::InvalidUser { .. }), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("nobody"), "{shown}");
    assert!(
        err.info()
            .unwrap()
            .raw_message()
            .unwrap()
            .contains("nobody@contoso.example")
    );

    // None of these is retried.
    let l = log(&emu).await;
    assert_eq!(count(&l, GET_EVENT), 2);

    // A deleted event.
    let id = insert(&emu, ALICE, &[event_at("a", 2, 9)]).remove(0);
    graph.delete_event(TENANT, EXAMPLE_ALICE, &id).await.unwrap();
    let err = graph.get_event(TENANT, EXAMPLE_ALICE, &id).await.unwrap_err();
    assert!(matches!(err, GraphError::ItemNotFound { .. }), "{err:?}");
    assert_eq!(err.code(), Some("ErrorItemNotFound"));
    let err = graph.delete_event(TENANT, EXAMPLE_ALICE, &id).await.unwrap_err();
    assert!(matches!(err, GraphError::ItemNotFound { .. }), "{err:?}");

    // A stale If-Match.
    let id = insert(&emu, ALICE, &[event_at("b", 3, 9)]).remove(0);
    let before = graph.get_event(TENANT, EXAMPLE_ALICE, &id).await.unwrap();
    let etag = before.odata_etag.clone().unwrap();
    let after = graph
        .patch_event(TENANT, EXAMPLE_ALICE, &id, &json!({"subject": "moved"}), Some(&etag))
        .await
        .unwrap();
    assert_ne!(after.change_key, before.change_key);
    let err = graph
        .patch_event(TENANT, EXAMPLE_ALICE, &id, &json!({"subject": "again"}), Some(&etag))
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::PreconditionFailed { .. }), "{err:?}");

    // A user unknown to the directory.
    let err = graph.get_user(TENANT, "nobody@contoso.example").await.unwrap_err();
    assert!(matches!(err, GraphError::ItemNotFound { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------------------
// Operations

#[tokio::test]
async fn events_are_created_read_with_their_property_patched_and_deleted() {
    let emu = emulator(EmulatorConfig::default()).await;
    let graph = client(&emu);
    let new = Event {
        subject: Some("Project sync".into()),
        body: Some(ItemBody {
            content_type: Some(hcal_schemas::graph::BodyType::Html),
            content: Some("<p>Agenda</p>".into()),
        }),
        start: Some(hcal_schemas::graph::DateTimeTimeZone::utc(ts("2024-05-06T09:00:00Z"))),
        end: Some(hcal_schemas::graph::DateTimeTimeZone::utc(ts("2024-05-06T09:30:00Z"))),
        location: Some(Location {
            display_name: Some("@webex".into()),
            ..Default::default()
        }),
        single_value_extended_properties: Some(vec![SingleValueExtendedProperty {
            id: PROP_ID.into(),
            value: Some("handled".into()),
        }]),
        ..Default::default()
    };
    let created = graph.create_event(TENANT, ALICE, &new).await.unwrap();
    let id = created.id.clone().unwrap();
    let tx = created.transaction_id.clone().expect("a transactionId was chosen");
    assert_eq!(created.start_utc(), Some(ts("2024-05-06T09:00:00Z")));
    // Creating again with the same transactionId gives the same event, not a second one.
    let again = graph.create_event(TENANT, ALICE, &created).await.unwrap();
    assert_eq!(again.id.as_deref(), Some(id.as_str()));
    assert_eq!(again.transaction_id.as_deref(), Some(tx.as_str()));

    let plain = graph.get_event(TENANT, ALICE, &id).await.unwrap();
    assert_eq!(plain.extended_property(PROP_ID), None);
    assert!(plain.body.unwrap().content.unwrap().contains("Agenda"));
    let with = graph
        .get_event_with_property(TENANT, ALICE, &id, PROP_ID)
        .await
        .unwrap();
    assert_eq!(with.extended_property(PROP_ID), Some("handled"));

    let patched = graph
        .patch_event(
            TENANT,
            ALICE,
            &id,
            &json!({"singleValueExtendedProperties": [{"id": PROP_ID, "value": "patched"}]}),
            plain.odata_etag.as_deref(),
        )
        .await
        .unwrap();
    assert_ne!(patched.change_key, plain.change_key);
    let with = graph
        .get_event_with_property(TENANT, ALICE, &id, PROP_ID)
        .await
        .unwrap();
    assert_eq!(with.extended_property(PROP_ID), Some("patched"));

    graph.delete_event(TENANT, ALICE, &id).await.unwrap();
    let truth = control(&emu, "GET", &format!("/users/{ALICE}/events"), Value::Null).await;
    assert!(!truth.to_string().contains(&id));
}

#[tokio::test]
async fn instances_and_calendar_view_follow_every_page() {
    let emu = emulator(EmulatorConfig::default()).await;
    let mut series = event_at("daily", 1, 8);
    series["recurrence"] = json!({
        "pattern": {"type": "daily", "interval": 1},
        "range": {"type": "numbered", "startDate": "2024-05-01", "numberOfOccurrences": 25}
    });
    let master = insert(&emu, ALICE, &[series]).remove(0);
    insert(
        &emu,
        ALICE,
        &[event_at("x", 3, 12), event_at("y", 4, 12), event_at("z", 5, 12)],
    );
    let graph = client(&emu);
    let (s, e) = may();

    let inst = graph
        .list_instances(TENANT, EXAMPLE_ALICE, &master, s, e)
        .await
        .unwrap();
    assert_eq!(inst.len(), 25);
    assert!(
        inst.iter()
            .all(|i| i.series_master_id.as_deref() == Some(master.as_str()))
    );
    let mut ids: Vec<_> = inst.iter().map(|i| i.id.clone().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 25);
    assert_eq!(inst[24].start_utc(), Some(ts("2024-05-25T08:00:00Z")));

    let view = graph.calendar_view(TENANT, EXAMPLE_ALICE, s, e).await.unwrap();
    assert_eq!(view.len(), 28);
    let l = log(&emu).await;
    assert_eq!(
        count(&l, "GET /v1.0/users/{user}/events/{id}/instances"),
        3,
        "pages of 10"
    );
    assert_eq!(count(&l, "GET /v1.0/users/{user}/calendarView"), 3);

    // With a page size, $top rides along in every nextLink.
    let mut cfg = config(&emu);
    cfg.page_size = Some(7);
    let sevens = GraphClient::new(cfg).unwrap();
    control(&emu, "DELETE", "/requests", Value::Null).await;
    assert_eq!(
        sevens.calendar_view(TENANT, EXAMPLE_ALICE, s, e).await.unwrap().len(),
        28
    );
    assert_eq!(count(&log(&emu).await, "GET /v1.0/users/{user}/calendarView"), 4);
}

#[tokio::test]
async fn delta_rounds_removals_resets_and_lost_sync_state() {
    let emu = emulator(EmulatorConfig::default()).await;
    let bodies: Vec<Value> = (0..12).map(|i| event_at(&format!("e{i}"), 2 + i, 9)).collect();
    let ids = insert(&emu, ALICE, &bodies);
    let graph = client(&emu);
    let (s, e) = may();

    let first = graph.calendar_view_delta(TENANT, ALICE, s, e).await.unwrap();
    assert_eq!(first.items.len(), 12);
    assert!(first.items.iter().all(|i| matches!(i, DeltaItem::Upserted(_))));
    assert_eq!(count(&log(&emu).await, "GET /v1.0/users/{user}/calendarView/delta"), 2);

    // A deletion and an edit by the user.
    control(
        &emu,
        "DELETE",
        &format!("/users/{ALICE}/events/{}", ids[0]),
        Value::Null,
    )
    .await;
    control(
        &emu,
        "PATCH",
        &format!("/users/{ALICE}/events/{}", ids[1]),
        json!({"subject": "edited"}),
    )
    .await;
    let second = graph
        .calendar_view_delta_continue(TENANT, ALICE, &first.delta_link)
        .await
        .unwrap();
    assert!(
        second.items.contains(&DeltaItem::Removed { id: ids[0].clone() }),
        "{:?}",
        second.items
    );
    assert!(
        second
            .items
            .iter()
            .any(|i| matches!(i, DeltaItem::Upserted(ev) if ev.id.as_deref() == Some(ids[1].as_str())))
    );
    assert!(
        !second
            .items
            .iter()
            .any(|i| matches!(i, DeltaItem::Upserted(ev) if ev.id.as_deref() == Some(ids[2].as_str())))
    );

    // 410 with a Location: a full resync from there.
    control(&emu, "POST", "/faults", json!({"delta_reset_next": true})).await;
    let err = graph
        .calendar_view_delta_continue(TENANT, ALICE, &second.delta_link)
        .await
        .unwrap_err();
    let GraphError::DeltaReset { location, .. } = err else {
        panic!("{err:?}")
    };
    let resync = graph
        .calendar_view_delta_continue(TENANT, ALICE, &location)
        .await
        .unwrap();
    assert_eq!(resync.items.len(), 11);

    // An expired token.
    control(
        &emu,
        "POST",
        "/faults",
        json!({"delta_sync_state_not_found_next": true}),
    )
    .await;
    let err = graph
        .calendar_view_delta_continue(TENANT, ALICE, &resync.delta_link)
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::SyncStateNotFound { .. }), "{err:?}");

    // A link to another host is never followed (the token would go with it).
    let err = graph
        .calendar_view_delta_continue(TENANT, ALICE, "https://elsewhere.example/v1.0/x?$deltatoken=1")
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::UntrustedLink), "{err:?}");
}

#[tokio::test]
async fn mailbox_settings_and_users() {
    let emu = emulator(EmulatorConfig::default()).await;
    control(
        &emu,
        "PATCH",
        &format!("/users/{ALICE}/mailboxSettings"),
        json!({"automaticRepliesSetting": {
            "status": "scheduled", "externalAudience": "all",
            "scheduledStartDateTime": {"dateTime": "2024-05-01T07:00:00", "timeZone": "UTC"},
            "scheduledEndDateTime": {"dateTime": "2024-05-08T07:00:00", "timeZone": "UTC"},
            "internalReplyMessage": "<p>away</p>", "externalReplyMessage": "<p>away</p>"}}),
    )
    .await;
    let graph = client(&emu);
    let settings = graph.get_mailbox_settings(TENANT, EXAMPLE_ALICE).await.unwrap();
    assert_eq!(settings.language.unwrap().locale.as_deref(), Some("nl-NL"));
    let auto = settings.automatic_replies_setting.unwrap();
    assert_eq!(auto.status, Some(AutomaticRepliesStatus::Scheduled));
    assert!(auto.active_at(ts("2024-05-02T00:00:00Z")));
    assert!(!auto.active_at(ts("2024-05-09T00:00:00Z")));

    let user = graph.get_user(TENANT, "Alice@Contoso.example").await.unwrap();
    assert_eq!(user.id, EXAMPLE_ALICE);
    assert_eq!(user.mail.as_deref(), Some(ALICE));
}

#[tokio::test]
async fn subscriptions_are_created_renewed_reauthorized_listed_and_deleted() {
    let emu = emulator(EmulatorConfig::default()).await;
    let graph = client(&emu);
    let hook = webhook(true).await;
    let expires = Timestamp::now().plus_millis(2 * 3600 * 1000);
    let req = SubscriptionRequest::mailbox_events(
        EXAMPLE_ALICE,
        &format!("{hook}/graph/notifications"),
        Some(&format!("{hook}/graph/lifecycle")),
        expires,
        "client-state-secret",
    );
    let sub = graph.create_subscription(TENANT, &req).await.unwrap();
    assert!(!sub.id.is_empty());
    assert_eq!(sub.client_state.as_deref(), Some("client-state-secret"));
    assert!((sub.expires().unwrap().millis() - expires.millis()).abs() < 1000);

    let listed = graph.list_subscriptions(TENANT).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        vec![sub.id.as_str()]
    );

    let later = expires.plus_millis(3600 * 1000);
    let renewed = graph.renew_subscription(TENANT, &sub.id, later).await.unwrap();
    assert!((renewed.expires().unwrap().millis() - later.millis()).abs() < 1000);
    graph.reauthorize_subscription(TENANT, &sub.id).await.unwrap();

    graph.delete_subscription(TENANT, &sub.id).await.unwrap();
    assert!(graph.list_subscriptions(TENANT).await.unwrap().is_empty());
    // Already gone counts as deleted; renewing it is ItemNotFound.
    graph.delete_subscription(TENANT, &sub.id).await.unwrap();
    let err = graph.renew_subscription(TENANT, &sub.id, later).await.unwrap_err();
    assert!(matches!(err, GraphError::ItemNotFound { .. }), "{err:?}");

    // An endpoint that fails the handshake: ValidationFailed, and the create is not retried.
    let bad = webhook(false).await;
    let req = SubscriptionRequest::mailbox_events(EXAMPLE_ALICE, &format!("{bad}/n"), None, expires, "s");
    let err = graph.create_subscription(TENANT, &req).await.unwrap_err();
    assert!(matches!(err, GraphError::ValidationFailed { .. }), "{err:?}");
    let l = log(&emu).await;
    assert_eq!(statuses(&l, "POST", "/v1.0/subscriptions"), vec![201, 400]);
}

#[tokio::test]
async fn the_admin_consent_url_is_the_v2_endpoint() {
    let emu = emulator(EmulatorConfig::default()).await;
    let graph = client(&emu);
    let url = graph.admin_consent_url(TENANT, "https://hcal.example/setup/callback", "st&te 1");
    assert!(url.starts_with(&format!("{}/{TENANT}/v2.0/adminconsent?", emu.base_url())));
    assert!(url.contains("scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("https://hcal.example/setup/callback?"), "{loc}");
    assert!(
        loc.contains("admin_consent=True") && loc.contains(&format!("tenant={TENANT}")),
        "{loc}"
    );
    assert!(
        loc.contains("state=st%26te+1") || loc.contains("state=st%26te%201"),
        "{loc}"
    );
    assert!(
        graph
            .admin_consent_url("", "https://x/cb", "s")
            .contains("/organizations/v2.0/adminconsent?")
    );
}

// ---------------------------------------------------------------------------------------
// What goes on the wire

#[tokio::test]
async fn every_call_carries_token_request_id_and_prefer_with_encoded_paths() {
    let token = json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "tok-123"}).to_string();
    let event = json!({"id": "AAMk/1+=", "subject": "s"}).to_string();
    let (base, seen) = mini_server(Arc::new(move |req: &Seen| {
        if req.target.ends_with("/oauth2/v2.0/token") {
            (200, "application/json", token.clone())
        } else if req.target.contains("/mailboxSettings") {
            (200, "application/json", "{}".into())
        } else {
            (200, "application/json", event.clone())
        }
    }))
    .await;
    let mut cfg = GraphConfig::new("app", "sec").with_base_url(&base);
    cfg.backoff_base = Duration::from_millis(1);
    let graph = GraphClient::new(cfg).unwrap();
    graph
        .get_event("t1", "o'neil@contoso.example", "AAMk/1+=")
        .await
        .unwrap();
    graph.get_mailbox_settings("t1", "bob@contoso.example").await.unwrap();
    graph
        .get_event_with_property("t1", "bob@contoso.example", "AAMk", PROP_ID)
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].target, "/t1/oauth2/v2.0/token");
    let h = |s: &Seen, k: &str| s.headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(seen[1].target, "/v1.0/users/o'neil@contoso.example/events/AAMk%2F1+=");
    assert_eq!(
        h(&seen[1], "prefer").as_deref(),
        Some("outlook.timezone=\"UTC\", outlook.body-content-type=\"html\"")
    );
    assert_eq!(seen[2].target, "/v1.0/users/bob@contoso.example/mailboxSettings");
    assert_eq!(h(&seen[2], "prefer").as_deref(), Some("outlook.timezone=\"UTC\""));
    assert_eq!(
        query_param(&seen[3].target, "$expand").as_deref(),
        Some(format!("singleValueExtendedProperties($filter=id eq '{PROP_ID}')").as_str())
    );
    let mut crids = Vec::new();
    for s in &seen[1..] {
        assert_eq!(h(s, "authorization").as_deref(), Some("Bearer tok-123"));
        let crid = h(s, "client-request-id").unwrap();
        assert!(uuid::Uuid::parse_str(&crid).is_ok(), "{crid}");
        crids.push(crid);
    }
    crids.dedup();
    assert_eq!(crids.len(), 3);
}
