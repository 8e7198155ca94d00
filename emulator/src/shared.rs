//! State shared by the HTTP workers and the background scheduler: the calendar state, the
//! clock, faults, throttling counters and the request log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::clock::Clock;
use crate::config::EmulatorConfig;
use crate::error::GraphError;
use crate::model::State;
use crate::notify::Notifier;
use crate::seed::Seed;

/// Injected faults; `POST /_emulator/faults` merges into these.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Share (0..1) of Graph requests answered 429 ApplicationThrottled.
    pub throttle_rate: f64,
    /// `Retry-After` of injected 429s and 503s, seconds.
    pub retry_after_secs: u64,
    /// Share (0..1) of Graph requests answered with `error_status` (default 503).
    pub error_rate: f64,
    pub error_status: Option<u16>,
    /// Added latency on every Graph request, milliseconds.
    pub latency_ms: u64,
    /// Limit the request faults above to this mailbox (id or mail).
    pub only_mailbox: Option<String>,
    /// Share (0..1) of change notifications dropped (the subscription then gets `missed`).
    pub drop_notifications: f64,
    /// Extra delay before notifications are due, milliseconds of emulator time.
    pub notification_delay_ms: u64,
    /// Share (0..1) of notifications sent twice.
    pub duplicate_rate: f64,
    /// A `created` is followed by an `updated` for the same item (as often seen on Graph).
    pub created_then_updated: bool,
    /// Deliver each batch in random order.
    pub shuffle: bool,
    /// The next delta request with a token answers 410 Gone with a fresh `Location`.
    pub delta_reset_next: bool,
    /// The next delta request with a token answers syncStateNotFound.
    pub delta_sync_state_not_found_next: bool,
    /// Share (0..1) of delta items sent twice in a round (Graph may repeat items).
    pub delta_duplicate_rate: f64,
}

/// One logged request.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedRequest {
    #[serde(serialize_with = "ser_time")]
    pub at: DateTime<Utc>,
    pub method: String,
    pub route: String,
    pub path: String,
    pub status: u16,
    pub batch: bool,
}

fn ser_time<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::wire::fmt_utc(*t))
}

/// Counts per method and route template, plus the recent requests.
#[derive(Debug, Default)]
pub struct RequestLog {
    pub counts: BTreeMap<String, u64>,
    pub recent: VecDeque<LoggedRequest>,
    pub total: u64,
}

impl RequestLog {
    pub fn to_json(&self) -> Value {
        json!({"total": self.total, "counts": self.counts, "recent": self.recent})
    }
}

#[derive(Debug, Clone)]
struct ThrottleEntry {
    window_start: DateTime<Utc>,
    count: u32,
    in_flight: u32,
}

pub struct Shared {
    pub state: Mutex<State>,
    pub clock: Clock,
    pub cfg: EmulatorConfig,
    pub faults: Mutex<Faults>,
    pub log: Mutex<RequestLog>,
    throttle: Mutex<HashMap<(String, String), ThrottleEntry>>,
    pub notifier: Notifier,
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Releases a concurrency slot when the request is done.
pub struct ThrottleGuard {
    shared: Arc<Shared>,
    key: (String, String),
}

impl Drop for ThrottleGuard {
    fn drop(&mut self) {
        let mut t = lock(&self.shared.throttle);
        if let Some(e) = t.get_mut(&self.key) {
            e.in_flight = e.in_flight.saturating_sub(1);
        }
    }
}

impl Shared {
    pub fn new(seed: Seed, cfg: EmulatorConfig) -> Shared {
        Shared {
            state: Mutex::new(State::from_seed(seed)),
            clock: Clock::new(&cfg.clock),
            cfg,
            faults: Mutex::new(Faults::default()),
            log: Mutex::new(RequestLog::default()),
            throttle: Mutex::new(HashMap::new()),
            notifier: Notifier::default(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn record(&self, method: &str, route: &str, path: &str, status: u16, batch: bool) {
        let mut log = lock(&self.log);
        log.total += 1;
        let key = format!("{method} {route}");
        match log.counts.get_mut(&key) {
            Some(n) => *n += 1,
            None => {
                log.counts.insert(key, 1);
            }
        }
        if log.recent.len() >= 1000 {
            log.recent.pop_front();
        }
        log.recent.push_back(LoggedRequest {
            at: self.now(),
            method: method.to_string(),
            route: route.to_string(),
            path: path.to_string(),
            status,
            batch,
        });
    }

    /// Count a request against (app, mailbox): the rate window and the concurrency limit.
    pub fn throttle(self: &Arc<Self>, app: &str, mailbox: &str) -> Result<ThrottleGuard, GraphError> {
        let now = self.now();
        let key = (app.to_string(), mailbox.to_string());
        let mut t = lock(&self.throttle);
        let e = t.entry(key.clone()).or_insert(ThrottleEntry {
            window_start: now,
            count: 0,
            in_flight: 0,
        });
        let window = chrono::Duration::seconds(self.cfg.throttle_window_secs.max(1));
        if now >= e.window_start + window {
            e.window_start = now;
            e.count = 0;
        }
        if e.in_flight >= self.cfg.throttle_concurrency {
            return Err(GraphError::throttled(
                "Application is over its MailboxConcurrency limit.",
                self.cfg.concurrency_retry_after_secs,
            ));
        }
        if e.count >= self.cfg.throttle_requests {
            let wait = (e.window_start + window - now).num_seconds().max(1) as u64;
            return Err(GraphError::throttled(
                "Application is over its incoming request rate limit.",
                wait,
            ));
        }
        e.count += 1;
        e.in_flight += 1;
        Ok(ThrottleGuard {
            shared: self.clone(),
            key,
        })
    }

    pub fn reset_throttle(&self) {
        lock(&self.throttle).clear();
    }
}
