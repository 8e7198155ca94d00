//! Change and lifecycle notification delivery: per-endpoint queues, batching, the 3-second
//! budget, retries with back-off on the emulator clock, the slow-endpoint rule, and the
//! validation handshake.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::seq::SliceRandom;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::model::{Change, State, Subscription};
use crate::shared::{Shared, lock};
use crate::wire;

#[derive(Debug, Clone)]
struct Pending {
    value: Value,
    sub_id: String,
    due: DateTime<Utc>,
    ready: Instant,
    first: DateTime<Utc>,
    attempts: u32,
    lifecycle: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointHealth {
    Normal,
    Delayed,
    Dropping,
}

#[derive(Debug)]
struct Endpoint {
    /// Queued notifications by (due, arrival).
    items: std::collections::BTreeMap<(DateTime<Utc>, u64), Pending>,
    seq: u64,
    in_flight: bool,
    window_start: DateTime<Utc>,
    total: u32,
    slow: u32,
    health: EndpointHealth,
}

/// One POST made to a notification or lifecycle URL.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub at: String,
    pub url: String,
    pub count: usize,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub elapsed_ms: u64,
    pub lifecycle: bool,
}

#[derive(Default)]
pub struct Notifier {
    endpoints: Mutex<HashMap<String, Endpoint>>,
    deliveries: Mutex<VecDeque<Delivery>>,
}

impl Notifier {
    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.deliveries).iter().cloned().collect()
    }

    pub fn clear(&self) {
        lock(&self.endpoints).clear();
        lock(&self.deliveries).clear();
    }

    pub fn health(&self) -> Value {
        let eps = lock(&self.endpoints);
        let mut m = serde_json::Map::new();
        for (url, e) in eps.iter() {
            m.insert(
                url.clone(),
                json!({"health": e.health, "queued": e.items.len(), "total": e.total, "slow": e.slow}),
            );
        }
        Value::Object(m)
    }

    fn push(&self, url: &str, p: Pending, now: DateTime<Utc>, delay_secs: i64) -> bool {
        let mut eps = lock(&self.endpoints);
        let e = eps.entry(url.to_string()).or_insert(Endpoint {
            items: Default::default(),
            seq: 0,
            in_flight: false,
            window_start: now,
            total: 0,
            slow: 0,
            health: EndpointHealth::Normal,
        });
        let mut p = p;
        if !p.lifecycle {
            match e.health {
                EndpointHealth::Dropping => return false,
                EndpointHealth::Delayed => p.due += Duration::seconds(delay_secs),
                EndpointHealth::Normal => {}
            }
        }
        e.seq += 1;
        e.items.insert((p.due, e.seq), p);
        true
    }
}

fn resource_path(user_id: &str, event_id: &str) -> String {
    format!("Users/{user_id}/Events/{event_id}")
}

fn change_payload(
    sub: &Subscription,
    user_id: &str,
    event_id: &str,
    change_type: &str,
    etag: &str,
    client_state: Option<&str>,
) -> Value {
    let res = resource_path(user_id, event_id);
    json!({
        "subscriptionId": sub.id,
        "subscriptionExpirationDateTime": wire::fmt_utc(sub.expiration),
        "changeType": change_type,
        "resource": res,
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Event",
            "@odata.id": res,
            "@odata.etag": etag,
            "id": event_id,
        },
        "clientState": client_state,
        "tenantId": sub.tenant_id,
    })
}

/// The lifecycle notification for `sub`.
pub fn lifecycle_payload(sub: &Subscription, event: &str) -> Value {
    json!({
        "subscriptionId": sub.id,
        "subscriptionExpirationDateTime": wire::fmt_utc(sub.expiration),
        "tenantId": sub.tenant_id,
        "clientState": sub.client_state,
        "lifecycleEvent": event,
    })
}

/// Queue notifications for calendar changes to every matching subscription.
/// Called with the state locked.
pub fn enqueue_changes(shared: &Shared, st: &mut State, changes: &[Change]) {
    if changes.is_empty() {
        return;
    }
    let now = shared.now();
    let faults = lock(&shared.faults).clone();
    let mut rng = rand::thread_rng();
    let mut missed = Vec::new();
    for ch in changes {
        let Some(mb) = st.mailboxes.get(ch.mailbox) else {
            continue;
        };
        if !mb.in_policy || mb.unlicensed {
            // Graph cannot read the mailbox for the app any more: nothing is delivered.
            continue;
        }
        let user_id = mb.id.clone();
        for sub in st.subscriptions.of_mailbox(&user_id) {
            if sub.paused || sub.expiration <= now || !sub.change_types.contains(&ch.change_type) {
                continue;
            }
            let mut kinds = vec![ch.change_type.as_str()];
            if faults.created_then_updated
                && ch.change_type == crate::model::ChangeType::Created
                && sub.change_types.contains(&crate::model::ChangeType::Updated)
            {
                kinds.push("updated");
            }
            if faults.duplicate_rate > 0.0 && rng.gen_bool(faults.duplicate_rate.clamp(0.0, 1.0)) {
                kinds.push(ch.change_type.as_str());
            }
            for k in kinds {
                if faults.drop_notifications > 0.0 && rng.gen_bool(faults.drop_notifications.clamp(0.0, 1.0)) {
                    missed.push(sub.id.clone());
                    continue;
                }
                let due = now
                    + Duration::milliseconds((shared.cfg.notification_delay_ms + faults.notification_delay_ms) as i64);
                let p = Pending {
                    value: change_payload(sub, &user_id, &ch.event_id, k, &ch.etag, sub.client_state.as_deref()),
                    sub_id: sub.id.clone(),
                    due,
                    ready: Instant::now() + std::time::Duration::from_millis(shared.cfg.notification_batch_wait_ms),
                    first: now,
                    attempts: 0,
                    lifecycle: false,
                };
                if !shared
                    .notifier
                    .push(&sub.notification_url, p, now, shared.cfg.slow_delay_secs)
                {
                    missed.push(sub.id.clone());
                }
            }
        }
    }
    for id in missed {
        if let Some(s) = st.subscriptions.get_mut(&id) {
            s.missed_pending = true;
        }
    }
}

/// Queue a lifecycle event for `sub` (if it has a lifecycle URL).
pub fn enqueue_lifecycle(shared: &Shared, sub: &Subscription, event: &str) {
    let Some(url) = &sub.lifecycle_url else { return };
    let now = shared.now();
    let p = Pending {
        value: lifecycle_payload(sub, event),
        sub_id: sub.id.clone(),
        due: now,
        ready: Instant::now(),
        first: now,
        attempts: 0,
        lifecycle: true,
    };
    shared.notifier.push(url, p, now, shared.cfg.slow_delay_secs);
}

/// Queue a notification with a forged clientState (for testing the client's rejection).
pub fn enqueue_forged(shared: &Shared, st: &State, sub: &Subscription, client_state: &str) {
    let now = shared.now();
    let user = st
        .mailbox_index(&sub.mailbox_id)
        .map(|i| st.mailboxes[i].id.clone())
        .unwrap_or_default();
    let fake_id = wire::make_item_id(&rand::random());
    let p = Pending {
        value: change_payload(sub, &user, &fake_id, "updated", "W/\"forged\"", Some(client_state)),
        sub_id: sub.id.clone(),
        due: now,
        ready: Instant::now(),
        first: now,
        attempts: 0,
        lifecycle: false,
    };
    shared
        .notifier
        .push(&sub.notification_url, p, now, shared.cfg.slow_delay_secs);
}

/// The background loop: expiries, scheduled lifecycle events, policy changes, deliveries.
pub async fn scheduler(shared: Arc<Shared>) {
    let client = match reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(shared.cfg.notification_timeout_ms))
        .pool_max_idle_per_host(4)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the notification client");
            return;
        }
    };
    loop {
        tick_state(&shared);
        start_deliveries(&shared, &client);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

fn tick_state(shared: &Shared) {
    let now = shared.now();
    let mut st = shared.state();
    let expired: Vec<String> = st
        .subscriptions
        .values()
        .filter(|s| s.expiration <= now)
        .map(|s| s.id.clone())
        .collect();
    for id in expired {
        st.subscriptions.remove(&id);
    }
    let before = shared.cfg.reauthorize_before_expiry_minutes;
    let mut lifecycle = Vec::new();
    for s in st.subscriptions.values_mut() {
        if before > 0 && !s.reauth_sent && s.expiration - now <= Duration::minutes(before) {
            s.reauth_sent = true;
            lifecycle.push((s.clone(), "reauthorizationRequired"));
        }
        if s.missed_pending {
            s.missed_pending = false;
            lifecycle.push((s.clone(), "missed"));
        }
    }
    for m in st.mailboxes.iter_mut() {
        if let Some((v, at)) = m.policy_pending
            && at <= now
        {
            m.in_policy = v;
            m.policy_pending = None;
        }
    }
    drop(st);
    for (s, ev) in lifecycle {
        enqueue_lifecycle(shared, &s, ev);
    }
}

/// Take the next batch of an endpoint: due (emulator clock) and past the batching wait.
fn take_batch(e: &mut Endpoint, now: DateTime<Utc>, instant: Instant, max: usize, shuffle: bool) -> Vec<Pending> {
    let mut batch = Vec::new();
    while batch.len() < max {
        match e.items.first_key_value() {
            Some((_, p)) if p.due <= now && p.ready <= instant => {}
            _ => break,
        }
        match e.items.pop_first() {
            Some((_, p)) => batch.push(p),
            None => break,
        }
    }
    if shuffle {
        batch.shuffle(&mut rand::thread_rng());
    }
    batch
}

fn spawn_delivery(shared: Arc<Shared>, client: reqwest::Client, url: String, batch: Vec<Pending>) {
    let fut: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
        Box::pin(deliver(shared, client, url, batch));
    tokio::spawn(fut);
}

fn start_deliveries(shared: &Arc<Shared>, client: &reqwest::Client) {
    let now = shared.now();
    let instant = Instant::now();
    let shuffle = lock(&shared.faults).shuffle;
    let mut eps = lock(&shared.notifier.endpoints);
    for (url, e) in eps.iter_mut() {
        if now >= e.window_start + Duration::seconds(shared.cfg.slow_delay_secs.max(1)) {
            e.window_start = now;
            e.total = 0;
            e.slow = 0;
            e.health = EndpointHealth::Normal;
        }
        if e.in_flight || e.items.is_empty() {
            continue;
        }
        let batch = take_batch(e, now, instant, shared.cfg.notification_batch_size.max(1), shuffle);
        if batch.is_empty() {
            continue;
        }
        e.in_flight = true;
        spawn_delivery(shared.clone(), client.clone(), url.clone(), batch);
    }
}

async fn deliver(shared: Arc<Shared>, client: reqwest::Client, url: String, batch: Vec<Pending>) {
    let values: Vec<Value> = batch.iter().map(|p| p.value.clone()).collect();
    let body = json!({"value": values});
    let started = Instant::now();
    let result = client
        .post(&url)
        .header("Content-Type", "application/json; charset=utf-8")
        .json(&body)
        .send()
        .await;
    let elapsed = started.elapsed();
    let (status, error) = match &result {
        Ok(r) => (Some(r.status().as_u16()), None),
        Err(e) => (
            None,
            Some(if e.is_timeout() {
                "timeout".to_string()
            } else {
                e.to_string()
            }),
        ),
    };
    let ok = status.is_some_and(|s| (200..300).contains(&s));
    let now = shared.now();
    let lifecycle = batch.iter().all(|p| p.lifecycle);
    {
        let mut d = lock(&shared.notifier.deliveries);
        if d.len() >= 2000 {
            d.pop_front();
        }
        d.push_back(Delivery {
            at: wire::fmt_utc(now),
            url: url.clone(),
            count: batch.len(),
            status,
            error,
            elapsed_ms: elapsed.as_millis() as u64,
            lifecycle,
        });
    }
    let cfg = &shared.cfg;
    let mut given_up = Vec::new();
    {
        let mut eps = lock(&shared.notifier.endpoints);
        let Some(e) = eps.get_mut(&url) else { return };
        e.in_flight = false;
        let n = batch.iter().filter(|p| !p.lifecycle).count() as u32;
        e.total += n;
        if elapsed.as_millis() as u64 > cfg.slow_threshold_ms || (!ok && status.is_none()) {
            e.slow += n;
        }
        if e.total >= cfg.slow_min_sample && e.total > 0 {
            let share = e.slow as f64 / e.total as f64;
            e.health = if share >= cfg.slow_drop_share {
                EndpointHealth::Dropping
            } else if share >= cfg.slow_delay_share {
                EndpointHealth::Delayed
            } else {
                EndpointHealth::Normal
            };
        }
        if !ok {
            for mut p in batch {
                p.attempts += 1;
                if now - p.first >= Duration::seconds(cfg.retry_give_up_secs)
                    || (e.health == EndpointHealth::Dropping && !p.lifecycle)
                {
                    if !p.lifecycle {
                        given_up.push(p.sub_id.clone());
                    }
                    continue;
                }
                let exp = (p.attempts - 1).min(20);
                let mut wait = (cfg.retry_initial_secs.max(1))
                    .saturating_mul(1i64 << exp)
                    .min(cfg.retry_max_secs.max(1));
                if e.health == EndpointHealth::Delayed {
                    wait = wait.max(cfg.slow_delay_secs);
                }
                p.due = now + Duration::seconds(wait);
                p.ready = Instant::now();
                e.seq += 1;
                e.items.insert((p.due, e.seq), p);
            }
        }
        // Keep going while more is due, without waiting for the next tick.
        let shuffle = lock(&shared.faults).shuffle;
        let next = take_batch(e, now, Instant::now(), cfg.notification_batch_size.max(1), shuffle);
        if !next.is_empty() {
            e.in_flight = true;
            spawn_delivery(shared.clone(), client.clone(), url.clone(), next);
        }
    }
    if !given_up.is_empty() {
        let mut st = shared.state();
        for id in given_up {
            if let Some(s) = st.subscriptions.get_mut(&id) {
                s.missed_pending = true;
            }
        }
    }
}

/// The validation handshake: `POST {url}?validationToken=...` with a text/plain body; the
/// endpoint must answer 200, text/plain, with the decoded token, within the budget.
pub async fn validate_endpoint(url: &str, timeout_ms: u64) -> Result<(), String> {
    let token = format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        uuid::Uuid::new_v4()
    );
    let sep = if url.contains('?') { '&' } else { '?' };
    let full = format!("{url}{sep}validationToken={}", wire::qenc(&token));
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(timeout_ms))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .post(&full)
        .header("Content-Type", "text/plain; charset=utf-8")
        .body("")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if resp.status().as_u16() != 200 {
        return Err(format!("status {}", resp.status()));
    }
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !ct.starts_with("text/plain") {
        return Err(format!("content type {ct}"));
    }
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if text != token {
        return Err("token mismatch".into());
    }
    Ok(())
}
