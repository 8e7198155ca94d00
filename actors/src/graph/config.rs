//! What the Graph client is configured with. Defaults are Graph's public
//! cloud and limits kept a little below Graph's own.

use std::fmt;
use std::time::Duration;

use zeroize::Zeroizing;

/// The app registration's client secret. Zeroized on drop; Debug never shows it.
#[derive(Clone)]
pub struct ClientSecret(Zeroizing<String>);

impl ClientSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        ClientSecret(Zeroizing::new(secret.into()))
    }

    /// The secret, for the token request only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

impl From<String> for ClientSecret {
    fn from(s: String) -> Self {
        ClientSecret::new(s)
    }
}

impl From<&str> for ClientSecret {
    fn from(s: &str) -> Self {
        ClientSecret::new(s)
    }
}

/// Configuration of [`super::GraphClient`].
#[derive(Clone, Debug)]
pub struct GraphConfig {
    /// Graph's root, without `/v1.0` (default `https://graph.microsoft.com`).
    pub graph_url: String,
    /// The identity platform's root (default `https://login.microsoftonline.com`).
    pub login_url: String,
    pub client_id: String,
    pub client_secret: ClientSecret,
    /// Whole-request timeout of one attempt (a subscription create includes Graph's
    /// validation handshake of up to 10 s).
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Requests in flight per mailbox (Graph: 4 per app and mailbox).
    pub max_concurrent_per_mailbox: usize,
    /// Requests in flight in all, whatever the mailbox: a burst (10,000 users enabled at
    /// once) then queues here instead of opening connections faster than Graph accepts them.
    pub max_in_flight: usize,
    /// Requests per mailbox per `budget_window` (Graph: 10,000 per 10 minutes; default
    /// 9,000 leaves room for other clients of the same app and for clock skew).
    pub mailbox_budget: u32,
    pub budget_window: Duration,
    /// Retries after the first attempt (a 401's one re-authentication is not counted).
    pub max_retries: u32,
    /// First back-off step of the exponential, full-jitter back-off.
    pub backoff_base: Duration,
    /// Largest back-off step.
    pub backoff_max: Duration,
    /// Longest `Retry-After` the client sleeps inside a call; a longer one is returned
    /// at once as `Throttled { retry_after }` for the caller to schedule.
    pub max_retry_after: Duration,
    /// `$top` of calendarView and instances, and `odata.maxpagesize` of delta; `None`
    /// takes Graph's default page (10).
    pub page_size: Option<u32>,
}

impl GraphConfig {
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<ClientSecret>) -> Self {
        GraphConfig {
            graph_url: "https://graph.microsoft.com".into(),
            login_url: "https://login.microsoftonline.com".into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_concurrent_per_mailbox: 4,
            max_in_flight: 64,
            mailbox_budget: 9_000,
            budget_window: Duration::from_secs(600),
            max_retries: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(30),
            page_size: Some(100),
        }
    }

    /// Graph and the identity platform both at `base` (the emulator serves both).
    pub fn with_base_url(mut self, base: &str) -> Self {
        let base = base.trim_end_matches('/');
        self.graph_url = base.to_string();
        self.login_url = base.to_string();
        self
    }
}
