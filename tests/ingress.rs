//! The webhook front door as Graph and an attacker meet it: the validation
//! handshake, bad bodies, forged clientState, notifications reaching the
//! durable inbox, and a `kill -9` in the middle of a burst that loses no
//! notification hcal acknowledged.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hcal_actors::Store;
use hcal_actors::inbox::{Inbox, InboxItem};
use hcal_actors::log::LogOptions;
use hcal_emulator::Seed;
use hcal_schemas::{OrgId, StreamId};
use reqwest::Method;
use serde_json::{Value, json};
use support::{ProcessWorld, World, eventually, metric};

async fn alice_subscribed() -> World {
    let w = World::start(Seed::example()).await;
    assert_eq!(w.connect("acme").await.0, 200);
    assert_eq!(w.enable("acme", "alice@contoso.example", "user").await.0, 200);
    eventually(10, "alice subscribed", || async { w.subscriptions().await.len() == 1 }).await;
    // Graph holds the subscription a moment before the node has recorded the mailbox.
    eventually(10, "alice's mailbox known to the node", || async {
        w.admin(Method::GET, "/mailboxes/alice@contoso.example", None).await.0 == 200
    })
    .await;
    w
}

fn alice_stream(w: &World) -> StreamId {
    let state = &w.node().state;
    StreamId::mailbox(
        &OrgId::new("acme").unwrap(),
        &state.store.keys.mailbox_key("alice@contoso.example"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_validation_handshake_echoes_the_decoded_token_on_both_urls() {
    let w = World::start(Seed::example()).await;
    for path in ["/graph/notifications", "/graph/lifecycle"] {
        let res = w
            .http
            .post(w.url(&format!(
                "{path}?validationToken=Validation%3A%20Testing%20client%20application%2B%26"
            )))
            .header("content-type", "text/plain; charset=utf-8")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        assert_eq!(res.text().await.unwrap(), "Validation: Testing client application+&");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_4xx_and_forged_notifications_are_dropped_silently() {
    let w = alice_subscribed().await;
    let post = |body: Vec<u8>| {
        w.http
            .post(w.url("/graph/notifications"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(post(b"{not json".to_vec()).await.unwrap().status().as_u16(), 400);
    assert_eq!(post(br#"{"value": 7}"#.to_vec()).await.unwrap().status().as_u16(), 400);
    assert_eq!(post(vec![b' '; 2 * 1024 * 1024]).await.unwrap().status().as_u16(), 413);

    // Unknown subscription: accepted on the wire (the sender learns nothing), dropped.
    let unknown = json!({"value": [{"subscriptionId": "00000000-0000-0000-0000-000000000000", "clientState": "x",
        "changeType": "updated", "resource": "Users/x/Events/y", "resourceData": {"id": "y"}}]});
    assert_eq!(
        post(serde_json::to_vec(&unknown).unwrap())
            .await
            .unwrap()
            .status()
            .as_u16(),
        202
    );

    // A forged clientState, delivered by the emulator as Graph would.
    let id = w.subscriptions().await[0]["id"].as_str().unwrap().to_string();
    let (s, _) = w
        .emu(
            Method::POST,
            &format!("/subscriptions/{id}/forge"),
            Some(json!({"clientState": "guess"})),
        )
        .await;
    assert!((200..300).contains(&s));
    eventually(10, "the forged notification counted", || async {
        let m = w.metrics().await;
        metric(&m, "hcal_notifications_dropped_total", "client_state") >= 1.0
    })
    .await;
    let m = w.metrics().await;
    assert!(metric(&m, "hcal_notifications_dropped_total", "unknown_subscription") >= 1.0);
    assert!(w.node().state.inbox.count(&alice_stream(&w)).unwrap() == 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_notifications_reach_the_inbox_once_per_change() {
    let w = alice_subscribed().await;
    // Keep the mailbox from consuming them: its rounds fail (a drill), so entries stay.
    let (s, b) = w
        .admin(
            Method::POST,
            "/mailboxes/alice@contoso.example/faults",
            Some(json!({"panic_next": 1000})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    // Graph sends duplicates; the inbox keeps one entry per (event, etag).
    w.emu(Method::POST, "/faults", Some(json!({"duplicate_rate": 1.0})))
        .await;
    let (s, created) = w
        .emu(
            Method::POST,
            "/users/alice@contoso.example/events",
            Some(
                json!({"subject": "Roadmap", "start": {"dateTime": "2030-01-07T10:00:00", "timeZone": "UTC"},
                        "end": {"dateTime": "2030-01-07T11:00:00", "timeZone": "UTC"}}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let event_id = created["id"].as_str().unwrap().to_string();
    let stream = alice_stream(&w);
    eventually(10, "the change in the inbox", || async {
        w.node()
            .state
            .inbox
            .pending(&stream, usize::MAX)
            .unwrap()
            .iter()
            .any(|p| matches!(&p.item, InboxItem::Change { event_id: e, .. } if *e == event_id))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pending = w.node().state.inbox.pending(&stream, usize::MAX).unwrap();
    let keys: HashSet<&Vec<u8>> = pending.iter().map(|p| &p.key).collect();
    assert_eq!(keys.len(), pending.len());
    let deliveries = w.emu(Method::GET, "/notifications", None).await.1;
    let delivered = deliveries.to_string().matches("202").count();
    assert!(delivered >= 2, "the emulator should have sent duplicates: {deliveries}");
    assert!(
        pending.len() < delivered,
        "{} entries for {delivered} deliveries",
        pending.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_burst_loses_no_acknowledged_notification() {
    let mut w = ProcessWorld::start(Seed::example(), "info").await;
    w.connect_and_enable("acme", &["alice@contoso.example".to_string()])
        .await;
    let subs: Value = w
        .emu(Method::GET, "/subscriptions")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let s = &subs["value"][0];
    let (sub, client_state) = (
        s["id"].as_str().unwrap().to_string(),
        s["clientState"].as_str().unwrap().to_string(),
    );
    // The mailbox cannot read Graph now, so what arrives stays in its inbox (retried, never dropped).
    w.emu(Method::POST, "/users/alice@contoso.example/policy")
        .json(&json!({"in_policy": false}))
        .send()
        .await
        .unwrap();

    // 32 senders post batches of 10 notifications, as Graph would, until the node dies.
    let listen = w.listen;
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut senders = Vec::new();
    for sender in 0..32 {
        let (http, acked, sub, cs) = (w.http.clone(), acked.clone(), sub.clone(), client_state.clone());
        senders.push(tokio::spawn(async move {
            for batch in 0.. {
                let ids: Vec<String> = (0..10).map(|i| format!("AAMkAGburst-{sender}-{batch}-{i}")).collect();
                let value: Vec<Value> = ids
                    .iter()
                    .map(|id| json!({"subscriptionId": sub, "clientState": cs, "changeType": "updated", "tenantId": "t",
                        "resource": format!("Users/u/Events/{id}"),
                        "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "@odata.id": format!("Users/u/Events/{id}"),
                                         "@odata.etag": "W/\"1\"", "id": id}}))
                    .collect();
                match http.post(format!("http://{listen}/graph/notifications")).json(&json!({"value": value})).send().await {
                    Ok(r) if r.status().as_u16() == 202 => acked.lock().unwrap().extend(ids),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    w.kill9();
    for s in senders {
        let _ = s.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 100,
        "only {} notifications were acknowledged before the kill",
        acked.len()
    );

    // Every acknowledged notification is in the inbox on disk.
    {
        let store = Store::open_existing(&w.data(), support::master(), &LogOptions::default()).unwrap();
        let stream = StreamId::mailbox(
            &OrgId::new("acme").unwrap(),
            &store.keys.mailbox_key("alice@contoso.example"),
        );
        let stored: HashSet<String> = Inbox::new(store.log.clone())
            .pending(&stream, usize::MAX)
            .unwrap()
            .into_iter()
            .filter_map(|p| match p.item {
                InboxItem::Change { event_id, .. } => Some(event_id),
                _ => None,
            })
            .collect();
        let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
        assert!(
            lost.is_empty(),
            "{} of {} acknowledged notifications lost, e.g. {:?}",
            lost.len(),
            acked.len(),
            &lost[..lost.len().min(3)]
        );
    }
    // And the node comes back up on the same data directory.
    w.start_node().await;
    w.kill9();
    eprintln!("{} acknowledged notifications survived kill -9", acked.len());
}

/// A backlog larger than one mailbox round takes is worked off to its end
/// with no further notification to wake the mailbox, and a notification whose
/// id Graph calls malformed (400) is dropped rather than holding up the ones
/// behind it: the last change of a burst of 302 is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_larger_than_a_round_is_worked_off_past_a_malformed_id() {
    let w = alice_subscribed().await;
    w.await_status("acme", "alice@contoso.example", "activated", 10).await;
    let day = (w.emulator.now() + chrono::Duration::days(2)).date_naive();
    let real = w
        .emulator
        .insert_events(
            "alice@contoso.example",
            &[json!({"subject": "Late in the burst",
                     "start": {"dateTime": format!("{day}T10:00:00"), "timeZone": "UTC"},
                     "end": {"dateTime": format!("{day}T11:00:00"), "timeZone": "UTC"}})],
        )
        .unwrap()
        .remove(0);
    // Well-formed ids of events that do not exist (Graph: 404): the real id with
    // one base64 quantum before the last replaced.
    let gone = |n: usize| format!("{}{n:04}{}", &real[..real.len() - 8], &real[real.len() - 4..]);
    let (_, subs) = w.emu(Method::GET, "/subscriptions", None).await;
    let sub = &subs["value"][0];
    let (sub_id, client_state) = (sub["id"].as_str().unwrap(), sub["clientState"].as_str().unwrap());
    let item = |id: &str| {
        json!({"subscriptionId": sub_id, "clientState": client_state, "changeType": "updated",
               "tenantId": hcal_emulator::seed::EXAMPLE_TENANT,
               "resource": format!("Users/alice/Events/{id}"), "resourceData": {"id": id}})
    };
    // One POST, so that the whole backlog is waiting when the mailbox wakes.
    let mut value: Vec<Value> = (0..300).map(|n| item(&gone(n))).collect();
    value.push(item("not-an-exchange-id"));
    value.push(item(&real));
    let r = w
        .http
        .post(w.url("/graph/notifications"))
        .json(&json!({ "value": value }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    // The round's entries leave the inbox with its events, a moment before the
    // actor folds them in: the state is what to wait for.
    eventually(30, "the last change applied", || async {
        let (_, view) = w.admin(Method::GET, "/mailboxes/alice@contoso.example", None).await;
        view["meetings"] == 1
    })
    .await;
    let (s, view) = w.admin(Method::GET, "/mailboxes/alice@contoso.example", None).await;
    assert_eq!(s, 200, "{view}");
    assert_eq!(view["health"]["graph_gets"], 302, "{view}");
    assert_eq!(w.node().state.inbox.count(&alice_stream(&w)).unwrap(), 0);
}
