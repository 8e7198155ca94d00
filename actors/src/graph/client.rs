//! The request engine under every operation: token, per-mailbox limits,
//! headers, retries, classification, tracing and metrics.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::LOCATION;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tracing::Instrument;

use super::config::GraphConfig;
use super::error::{ErrorInfo, GraphError};
use super::limiter::{Limiters, Refused};
use super::retry;
use super::token::TokenCache;
use super::url;

/// The Microsoft Graph client every hcal actor uses. Cheap to clone (one HTTP
/// connection pool, one token cache and one set of mailbox limits inside).
#[derive(Clone)]
pub struct GraphClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) cfg: GraphConfig,
    /// `{graph_url}/v1.0`.
    pub(crate) base: String,
    pub(crate) tokens: TokenCache,
    pub(crate) limiters: Limiters,
    /// One permit per request in flight (`GraphConfig::max_in_flight`).
    pub(crate) in_flight: Arc<Semaphore>,
}

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClient")
            .field("graph_url", &self.inner.cfg.graph_url)
            .field("client_id", &self.inner.cfg.client_id)
            .finish_non_exhaustive()
    }
}

/// Which failures a request may be sent again after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Safe to repeat (reads, PATCH, DELETE, a create carrying a `transactionId`).
    Always,
    /// Not idempotent: only where Graph cannot have acted on it (429, and a connection
    /// that was never made).
    Unprocessed,
}

/// One logical request (its attempts share everything here).
#[derive(Clone, Debug)]
pub(crate) struct Request<'a> {
    pub method: Method,
    pub url: String,
    /// Route template for logs and metrics: no ids, no addresses.
    pub route: &'static str,
    pub tenant: &'a str,
    /// Mailbox key for the per-mailbox limits; `None` for non-mailbox routes.
    pub mailbox: Option<String>,
    pub body: Option<Vec<u8>>,
    pub if_match: Option<&'a str>,
    pub prefer: Option<String>,
    pub retry: Retry,
    pub subscription_create: bool,
}

impl<'a> Request<'a> {
    pub(crate) fn new(method: Method, url: String, route: &'static str, tenant: &'a str) -> Self {
        Request {
            method,
            url,
            route,
            tenant,
            mailbox: None,
            body: None,
            if_match: None,
            prefer: None,
            retry: Retry::Always,
            subscription_create: false,
        }
    }

    pub(crate) fn mailbox(mut self, user: &str) -> Self {
        self.mailbox = Some(user.to_ascii_lowercase());
        self
    }

    pub(crate) fn prefer(mut self, p: impl Into<String>) -> Self {
        self.prefer = Some(p.into());
        self
    }

    pub(crate) fn json<T: serde::Serialize + ?Sized>(mut self, body: &T) -> Result<Self, GraphError> {
        let bytes = serde_json::to_vec(body).map_err(|e| GraphError::decode(self.route, &e))?;
        self.body = Some(bytes);
        Ok(self)
    }
}

/// A 2xx answer.
pub(crate) struct Answer {
    pub body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json<T: DeserializeOwned>(&self, route: &'static str) -> Result<T, GraphError> {
        serde_json::from_slice(&self.body).map_err(|e| GraphError::decode(route, &e))
    }
}

/// `outlook.timezone="UTC"`: every read asks for UTC times.
pub(crate) const PREFER_UTC: &str = "outlook.timezone=\"UTC\"";
/// UTC times and HTML bodies, where bodies are read.
pub(crate) const PREFER_UTC_HTML: &str = "outlook.timezone=\"UTC\", outlook.body-content-type=\"html\"";

fn status_class(status: u16) -> &'static str {
    match status {
        429 => "429",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// A short, stable, non-reversible tag of a mailbox for logs.
pub(crate) fn mailbox_tag(key: &str) -> String {
    blake3::hash(key.as_bytes()).to_hex()[..10].to_string()
}

/// Idle keep-alive connections kept to Graph.
const MAX_IDLE_CONNECTIONS: usize = 32;

impl GraphClient {
    pub fn new(cfg: GraphConfig) -> Result<Self, GraphError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.request_timeout)
            .connect_timeout(cfg.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            // Graph is one host: idle connections beyond what steady traffic reuses only
            // hold memory (buffers and channels of some KiB each) after a burst, such as
            // many mailboxes syncing at once.
            .pool_max_idle_per_host(MAX_IDLE_CONNECTIONS)
            .tcp_keepalive(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("hcal/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GraphError::transport(&e))?;
        let base = format!("{}/v1.0", cfg.graph_url.trim_end_matches('/'));
        let limiters = Limiters::new(cfg.max_concurrent_per_mailbox, cfg.mailbox_budget, cfg.budget_window);
        Ok(GraphClient {
            inner: Arc::new(Inner {
                http,
                base,
                tokens: TokenCache::new(),
                limiters,
                in_flight: Arc::new(Semaphore::new(cfg.max_in_flight.max(1))),
                cfg,
            }),
        })
    }

    pub fn config(&self) -> &GraphConfig {
        &self.inner.cfg
    }

    /// Forget `tenant`'s cached token; the next call asks for a new one.
    pub async fn invalidate_token(&self, tenant: &str) {
        self.inner.tokens.invalidate(tenant, None).await;
    }

    /// Prove the tenant: a token can be had for it (from the cache while it is fresh;
    /// call [`GraphClient::invalidate_token`] first to force a new request).
    pub async fn token_ok(&self, tenant: &str) -> Result<(), GraphError> {
        let i = &self.inner;
        i.tokens.get(&i.http, &i.cfg, tenant).await.map(|_| ())
    }

    /// The v2.0 admin-consent URL (contract 1.2). `tenant_hint`: the tenant id or domain
    /// if known, else `organizations`. Microsoft redirects to `redirect_uri` with
    /// `admin_consent`, `tenant`, `state` or with `error`/`error_description`.
    pub fn admin_consent_url(&self, tenant_hint: &str, redirect_uri: &str, state: &str) -> String {
        let hint = if tenant_hint.trim().is_empty() {
            "organizations"
        } else {
            tenant_hint.trim()
        };
        format!(
            "{}/{}/v2.0/adminconsent{}",
            self.inner.cfg.login_url.trim_end_matches('/'),
            url::segment(hint),
            url::query(&[
                ("client_id", self.inner.cfg.client_id.clone()),
                ("scope", "https://graph.microsoft.com/.default".into()),
                ("redirect_uri", redirect_uri.into()),
                ("state", state.into()),
            ])
        )
    }

    /// `{graph}/v1.0{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.inner.base, path)
    }

    /// Send `req`, with retries; a 2xx answer or a typed error.
    pub(crate) async fn execute(&self, req: &Request<'_>) -> Result<Answer, GraphError> {
        if !url::same_origin(&self.inner.base, &req.url) {
            return Err(GraphError::UntrustedLink);
        }
        let tag = req.mailbox.as_deref().map(mailbox_tag);
        let span = tracing::info_span!(
            target: "hcal::graph",
            "graph_request",
            method = %req.method,
            route = req.route,
            mailbox = tag.as_deref().unwrap_or("-"),
            attempt = tracing::field::Empty,
            status = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        self.attempts(req).instrument(span).await
    }

    async fn attempts(&self, req: &Request<'_>) -> Result<Answer, GraphError> {
        let i = &self.inner;
        let method: &'static str = method_name(&req.method);
        let mut attempt: u32 = 0;
        let mut retries: u32 = 0;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            let token = i.tokens.get(&i.http, &i.cfg, req.tenant).await?;
            let permit = match &req.mailbox {
                Some(key) => {
                    let waited = Instant::now();
                    match i.limiters.acquire(key).await {
                        Ok(p) => {
                            metrics::histogram!("hcal_graph_mailbox_slot_wait_seconds")
                                .record(waited.elapsed().as_secs_f64());
                            Some(p)
                        }
                        Err(Refused::Budget(retry_after)) => {
                            metrics::counter!("hcal_graph_budget_exhausted_total", "route" => req.route).increment(1);
                            tracing::warn!(target: "hcal::graph", ?retry_after, "mailbox budget spent");
                            return Err(GraphError::BudgetExhausted { retry_after });
                        }
                    }
                }
                None => None,
            };
            let waited = Instant::now();
            let in_flight = i
                .in_flight
                .clone()
                .acquire_owned()
                .await
                .expect("the client's semaphore is never closed");
            metrics::histogram!("hcal_graph_in_flight_wait_seconds").record(waited.elapsed().as_secs_f64());
            let crid = uuid::Uuid::new_v4().to_string();
            let mut rb = i
                .http
                .request(req.method.clone(), &req.url)
                .bearer_auth(token.bearer())
                .header("client-request-id", &crid)
                .header("Accept", "application/json");
            if let Some(p) = &req.prefer {
                rb = rb.header("Prefer", p);
            }
            if let Some(m) = req.if_match {
                rb = rb.header("If-Match", m);
            }
            if let Some(b) = &req.body {
                rb = rb.header("Content-Type", "application/json").body(b.clone());
            }
            let started = Instant::now();
            let outcome = match rb.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    match resp.bytes().await {
                        Ok(body) => Ok((status, headers, body.to_vec())),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            drop((permit, in_flight));
            let elapsed = started.elapsed();
            let class = match &outcome {
                Ok((s, ..)) => status_class(*s),
                Err(_) => "transport",
            };
            metrics::counter!("hcal_graph_requests_total", "method" => method, "route" => req.route, "status" => class)
                .increment(1);
            metrics::histogram!("hcal_graph_request_duration_seconds", "method" => method, "route" => req.route)
                .record(elapsed.as_secs_f64());
            let status = outcome.as_ref().ok().map(|(s, ..)| *s);
            let span = tracing::Span::current();
            span.record("attempt", attempt);
            span.record("status", status.unwrap_or(0));
            span.record("duration_ms", elapsed.as_millis() as u64);
            tracing::debug!(
                target: "hcal::graph",
                attempt,
                status,
                duration_ms = elapsed.as_millis() as u64,
                client_request_id = %crid,
                "graph attempt"
            );

            let (status, headers, body) = match outcome {
                Ok(o) => o,
                Err(e) => {
                    let err = GraphError::transport(&e);
                    let safe = req.retry == Retry::Always || e.is_connect();
                    if safe && retries < i.cfg.max_retries {
                        retries += 1;
                        self.pause(req, "transport", retry::backoff(&i.cfg, retries)).await;
                        continue;
                    }
                    return Err(err);
                }
            };
            if (200..300).contains(&status) {
                return Ok(Answer { body });
            }
            let retry_after = retry::retry_after(&headers);
            let request_id = headers
                .get("request-id")
                .and_then(|v| v.to_str().ok())
                .map(String::from);
            let info = ErrorInfo::from_graph(status, &body, request_id, Some(crid));
            if status == 401 && !reauthenticated {
                reauthenticated = true;
                i.tokens.invalidate(req.tenant, Some(&token)).await;
                metrics::counter!("hcal_graph_retries_total", "route" => req.route, "reason" => "auth").increment(1);
                tracing::info!(target: "hcal::graph", code = %info.code, "401: token dropped, retrying once");
                continue;
            }
            if status == 429 {
                metrics::counter!("hcal_graph_throttled_total", "route" => req.route).increment(1);
            }
            let honours_retry_after = matches!(status, 429 | 503 | 504);
            let transient = status == 429 || status >= 500;
            let safe = req.retry == Retry::Always || status == 429;
            if transient && safe && retries < i.cfg.max_retries {
                let wait = if honours_retry_after { retry_after } else { None };
                match wait {
                    Some(w) if w > i.cfg.max_retry_after => {
                        // Longer than a call should block: the caller schedules it.
                        tracing::info!(target: "hcal::graph", status, ?w, "Retry-After beyond the in-call cap");
                    }
                    _ => {
                        retries += 1;
                        let reason = match status {
                            429 => "throttled",
                            503 | 504 => "unavailable",
                            _ => "server",
                        };
                        let w = wait.unwrap_or_else(|| retry::backoff(&i.cfg, retries));
                        self.pause(req, reason, w).await;
                        continue;
                    }
                }
            }
            let location = headers.get(LOCATION).and_then(|v| v.to_str().ok()).map(String::from);
            let err = GraphError::from_status(status, info, retry_after, location, req.subscription_create);
            if let GraphError::AccessDenied { .. } = err {
                // Revoked consent shows as 403 on tokens already issued; a fresh token
                // then tells (the token endpoint refuses with AADSTS700016).
                i.tokens.invalidate(req.tenant, Some(&token)).await;
            }
            tracing::debug!(target: "hcal::graph", status, code = err.code().unwrap_or(""), "graph error");
            return Err(err);
        }
    }

    async fn pause(&self, req: &Request<'_>, reason: &'static str, wait: Duration) {
        metrics::counter!("hcal_graph_retries_total", "route" => req.route, "reason" => reason).increment(1);
        tracing::info!(target: "hcal::graph", reason, wait_ms = wait.as_millis() as u64, "retrying");
        tokio::time::sleep(wait).await;
    }

    /// Every page of a collection, following `@odata.nextLink` as given.
    pub(crate) async fn all_pages<T: DeserializeOwned>(&self, first: Request<'_>) -> Result<Vec<T>, GraphError> {
        let mut req = first;
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let page: hcal_schemas::graph::CollectionPage<T> = self.execute(&req).await?.json(req.route)?;
            out.extend(page.value);
            match page.next_link {
                Some(next) => req.url = next,
                None => return Ok(out),
            }
        }
        Err(GraphError::Decode {
            route: req.route,
            detail: format!("more than {MAX_PAGES} pages"),
        })
    }
}

/// A guard against a server that links pages in a circle.
pub(crate) const MAX_PAGES: usize = 10_000;

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        _ => "OTHER",
    }
}
