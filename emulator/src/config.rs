//! Emulator configuration: limits, timings and the clock.

use serde::{Deserialize, Serialize};

/// How the emulator's clock runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum ClockMode {
    /// Wall-clock time.
    Real,
    /// Frozen at `start` (or now) until advanced through `POST /_emulator/clock`.
    Manual {
        #[serde(default)]
        start: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Runs `factor` times faster than the wall clock from `start` (or now).
    Speed {
        factor: f64,
        #[serde(default)]
        start: Option<chrono::DateTime<chrono::Utc>>,
    },
}

/// What the emulator is configured with. Every field has Graph's value as default.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct EmulatorConfig {
    /// Default page size of events, calendarView, instances and delta (Graph: 10).
    pub page_size: usize,
    /// Largest `$top` accepted (Graph: 1000 for events).
    pub max_top: usize,
    /// `expires_in` of issued tokens, seconds (Graph: 3599).
    pub token_lifetime_secs: i64,
    /// Requests per (app, mailbox) per `throttle_window_secs` (Graph: 10,000 per 10 minutes).
    pub throttle_requests: u32,
    pub throttle_window_secs: i64,
    /// Concurrent requests per (app, mailbox) (Graph: 4).
    pub throttle_concurrency: u32,
    /// `Retry-After` seconds on a concurrency 429.
    pub concurrency_retry_after_secs: u64,
    /// Maximum subscription lifetime in minutes (Graph today: 10,080; older: 4,230).
    pub subscription_max_minutes: i64,
    /// Minimum lifetime; shorter requests are raised to this (Graph: 45).
    pub subscription_min_minutes: i64,
    /// Outlook subscriptions per mailbox (Graph: 1,000).
    pub subscriptions_per_mailbox: usize,
    /// Send `reauthorizationRequired` this many minutes before a subscription expires
    /// (0 = never on that ground).
    pub reauthorize_before_expiry_minutes: i64,
    /// Most notifications in one POST.
    pub notification_batch_size: usize,
    /// Delay before a notification is due, milliseconds of emulator time.
    pub notification_delay_ms: u64,
    /// Wait this long (real ms) for more notifications to batch before a POST.
    pub notification_batch_wait_ms: u64,
    /// Response budget of a notification POST, real milliseconds (Graph: 3,000).
    pub notification_timeout_ms: u64,
    /// Response budget of a validation handshake, real milliseconds (Graph: 10,000).
    pub validation_timeout_ms: u64,
    /// A delivery slower than this counts as slow (Graph: 2,900 ms).
    pub slow_threshold_ms: u64,
    /// Notifications an endpoint must have received before the slow rule applies (Graph: 100).
    pub slow_min_sample: u32,
    /// Slow share at which an endpoint is delayed (Graph: 0.10) ...
    pub slow_delay_share: f64,
    /// ... and at which its notifications are dropped (Graph: 0.15).
    pub slow_drop_share: f64,
    /// Delay applied to a slow endpoint, seconds of emulator time (Graph: 600), also the
    /// period after which the slow counters are reset.
    pub slow_delay_secs: i64,
    /// First retry delay after a failed delivery, seconds of emulator time; doubles each time.
    pub retry_initial_secs: i64,
    /// Longest delay between retries, seconds.
    pub retry_max_secs: i64,
    /// Give up on a notification after this long, seconds (Graph: 4 hours).
    pub retry_give_up_secs: i64,
    /// Accept `http://` notification URLs on loopback (127.0.0.0/8, `localhost`, `[::1]`).
    /// Any other `http://` URL is refused like Graph refuses non-HTTPS.
    pub allow_http_loopback: bool,
    /// Editing or cancelling one occurrence notifies only the series master (as observed on
    /// Graph); `false` also notifies the occurrence id.
    pub occurrence_notifies_master_only: bool,
    /// Seconds (emulator time) before an access-policy change takes effect.
    pub policy_change_delay_secs: i64,
    /// Horizon of `noEnd` series expansion, days after the series start.
    pub no_end_horizon_days: i64,
    /// actix workers (default 2).
    pub workers: usize,
    /// Pin the workers to this CPU (Linux only; default none). For single-client benchmarks
    /// on small VMs, where a wake-up across vCPUs costs more than the request itself: pin the
    /// client with [`crate::pin_current_thread`] to the same CPU.
    pub cpu_affinity: Option<usize>,
    /// The clock.
    pub clock: ClockMode,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            page_size: 10,
            max_top: 1000,
            token_lifetime_secs: 3599,
            throttle_requests: 10_000,
            throttle_window_secs: 600,
            throttle_concurrency: 4,
            concurrency_retry_after_secs: 1,
            subscription_max_minutes: 10_080,
            subscription_min_minutes: 45,
            subscriptions_per_mailbox: 1000,
            reauthorize_before_expiry_minutes: 0,
            notification_batch_size: 10,
            notification_delay_ms: 0,
            notification_batch_wait_ms: 20,
            notification_timeout_ms: 3000,
            validation_timeout_ms: 10_000,
            slow_threshold_ms: 2900,
            slow_min_sample: 100,
            slow_delay_share: 0.10,
            slow_drop_share: 0.15,
            slow_delay_secs: 600,
            retry_initial_secs: 30,
            retry_max_secs: 1800,
            retry_give_up_secs: 4 * 3600,
            allow_http_loopback: true,
            occurrence_notifies_master_only: true,
            policy_change_delay_secs: 0,
            no_end_horizon_days: 3650,
            workers: 2,
            cpu_affinity: None,
            clock: ClockMode::Real,
        }
    }
}
