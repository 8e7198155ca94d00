//! App-only access tokens per tenant (client-credentials flow), cached and
//! refreshed before they expire. One request per tenant at a time: callers
//! that find the token due wait for the one refresh in flight instead of
//! each asking the identity platform.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hcal_schemas::graph::{AadError, TokenResponse};
use zeroize::Zeroizing;

use super::config::GraphConfig;
use super::error::{ErrorInfo, GraphError};
use super::retry;

/// An access token. Zeroized on drop; Debug never shows it.
pub struct AccessToken(Zeroizing<String>);

impl AccessToken {
    pub(crate) fn bearer(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

struct Cached {
    token: Arc<AccessToken>,
    /// Refresh from here on (80% of the lifetime).
    refresh_at: Instant,
    /// Not usable from here on (a little before Graph's expiry, for clock skew).
    expires_at: Instant,
}

#[derive(Default)]
struct Slot {
    cached: tokio::sync::Mutex<Option<Cached>>,
}

pub(crate) struct TokenCache {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

/// `expires_in` Graph gives when the answer has none (it documents 3599).
const DEFAULT_LIFETIME: u64 = 3599;

impl TokenCache {
    pub(crate) fn new() -> Self {
        TokenCache {
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, tenant: &str) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(tenant.to_ascii_lowercase()).or_default().clone()
    }

    /// A token for `tenant`: the cached one until 80% of its lifetime, then a fresh one.
    /// If the refresh fails while the old token is still valid, the old one is used.
    pub(crate) async fn get(
        &self,
        http: &reqwest::Client,
        cfg: &GraphConfig,
        tenant: &str,
    ) -> Result<Arc<AccessToken>, GraphError> {
        let slot = self.slot(tenant);
        let mut cached = slot.cached.lock().await;
        let now = Instant::now();
        if let Some(c) = cached.as_ref()
            && now < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        match fetch(http, cfg, tenant).await {
            Ok(fresh) => {
                let token = fresh.token.clone();
                *cached = Some(fresh);
                Ok(token)
            }
            Err(e) => match cached.as_mut() {
                Some(c) if Instant::now() < c.expires_at => {
                    tracing::warn!(error = %e, "token refresh failed; the current token is still valid");
                    // Not every call during an identity-platform outage should wait out a
                    // whole retry sequence: try again in a while.
                    let left = c.expires_at.saturating_duration_since(Instant::now());
                    c.refresh_at = Instant::now() + (left / 2).min(Duration::from_secs(30));
                    Ok(c.token.clone())
                }
                _ => {
                    *cached = None;
                    Err(e)
                }
            },
        }
    }

    /// Drop the cached token of `tenant` (after a 401). With `stale`, only if it is still
    /// that token, so a token another caller just refreshed is kept.
    pub(crate) async fn invalidate(&self, tenant: &str, stale: Option<&Arc<AccessToken>>) {
        let slot = self.slot(tenant);
        let mut cached = slot.cached.lock().await;
        let same = match (cached.as_ref(), stale) {
            (Some(c), Some(s)) => Arc::ptr_eq(&c.token, s),
            (Some(_), None) => true,
            (None, _) => false,
        };
        if same {
            *cached = None;
        }
    }
}

/// One token request, retried on 429/5xx and connection failures.
async fn fetch(http: &reqwest::Client, cfg: &GraphConfig, tenant: &str) -> Result<Cached, GraphError> {
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        cfg.login_url.trim_end_matches('/'),
        super::url::segment(tenant)
    );
    let form = [
        ("client_id", cfg.client_id.as_str()),
        ("client_secret", cfg.client_secret.expose()),
        ("scope", "https://graph.microsoft.com/.default"),
        ("grant_type", "client_credentials"),
    ];
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let crid = uuid::Uuid::new_v4().to_string();
        let started = Instant::now();
        let sent = http
            .post(&url)
            .header("client-request-id", &crid)
            .header("Accept", "application/json")
            .form(&form)
            .send()
            .await;
        let result = match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = retry::retry_after(resp.headers());
                match resp.bytes().await {
                    Ok(body) => Ok((status, retry_after, body)),
                    Err(e) => Err(GraphError::transport(&e)),
                }
            }
            Err(e) => Err(GraphError::transport(&e)),
        };
        let elapsed = started.elapsed();
        let outcome = match &result {
            Ok((s, ..)) if (200..300).contains(s) => "ok",
            Ok(_) => "error",
            Err(_) => "transport",
        };
        metrics::counter!("hcal_graph_token_requests_total", "outcome" => outcome).increment(1);
        metrics::histogram!("hcal_graph_token_request_duration_seconds").record(elapsed.as_secs_f64());
        tracing::debug!(
            target: "hcal::graph",
            attempt,
            outcome,
            duration_ms = elapsed.as_millis() as u64,
            client_request_id = %crid,
            "token request"
        );
        let wait = match result {
            Ok((status, _, body)) if (200..300).contains(&status) => {
                let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| GraphError::decode("token", &e))?;
                let life = Duration::from_secs(t.expires_in.unwrap_or(DEFAULT_LIFETIME).max(1));
                let now = Instant::now();
                let skew = (life / 10).min(Duration::from_secs(30));
                return Ok(Cached {
                    token: Arc::new(AccessToken(Zeroizing::new(t.access_token))),
                    refresh_at: now + life.mul_f64(0.8),
                    expires_at: now + life - skew,
                });
            }
            Ok((status, retry_after, body)) => {
                let transient = status == 429 || status >= 500;
                if !transient || attempt > cfg.max_retries {
                    return Err(token_error(status, &body, retry_after, crid));
                }
                retry_after
                    .filter(|d| *d <= cfg.max_retry_after)
                    .unwrap_or_else(|| retry::backoff(cfg, attempt))
            }
            Err(e) => {
                if attempt > cfg.max_retries {
                    return Err(e);
                }
                retry::backoff(cfg, attempt)
            }
        };
        metrics::counter!("hcal_graph_retries_total", "route" => "token", "reason" => "token").increment(1);
        tokio::time::sleep(wait).await;
    }
}

fn token_error(status: u16, body: &[u8], retry_after: Option<Duration>, crid: String) -> GraphError {
    match serde_json::from_slice::<AadError>(body) {
        Ok(err) if !err.error.is_empty() => {
            let info = Box::new(ErrorInfo::from_aad(status, &err, Some(crid)));
            match status {
                429 => GraphError::Throttled { retry_after, info },
                s if s >= 500 => GraphError::Server {
                    status: s,
                    code: info.code.clone(),
                    info,
                },
                _ => GraphError::Auth {
                    aadsts: err.aadsts(),
                    info,
                },
            }
        }
        _ => {
            let info = ErrorInfo::from_graph(status, body, None, Some(crid));
            GraphError::from_status(status, info, retry_after, None, false)
        }
    }
}
