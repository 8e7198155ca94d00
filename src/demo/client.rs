//! The demo's HTTP side: the node's admin and app API with the admin token,
//! the emulator's control API, and bounded polling. Errors name what failed
//! and never carry a URL (paths hold mail addresses) or a response body.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

/// Why a request could not be made or read, in one sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RequestError(pub String);

/// How often a condition is looked at again while waiting for it.
const POLL_EVERY: Duration = Duration::from_millis(100);

pub struct Api {
    http: reqwest::Client,
    node: String,
    emulator: String,
    token: String,
}

impl Api {
    pub fn new(node_url: &str, emulator_url: &str, admin_token: &str) -> Result<Api, RequestError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| RequestError(format!("cannot build an HTTP client: {}", e.without_url())))?;
        Ok(Api {
            http,
            node: node_url.trim_end_matches('/').to_string(),
            emulator: emulator_url.trim_end_matches('/').to_string(),
            token: admin_token.to_string(),
        })
    }

    /// `/admin/v1{path}` on the node, with the admin token.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Result<(u16, Value), RequestError> {
        let req = self
            .http
            .request(method, format!("{}/admin/v1{path}", self.node))
            .bearer_auth(&self.token);
        send(req, body, "the node").await
    }

    /// `/_emulator{path}` on the emulator (acting as a user, reading Graph's truth).
    pub async fn emu(&self, method: Method, path: &str, body: Option<Value>) -> Result<(u16, Value), RequestError> {
        let req = self.http.request(method, format!("{}/_emulator{path}", self.emulator));
        send(req, body, "the Graph emulator").await
    }

    /// A plain GET of an absolute URL (the consent link, as a browser follows it).
    pub async fn get(&self, url: &str) -> Result<(u16, Value), RequestError> {
        send(self.http.get(url), None, "the consent link").await
    }

    /// The meeting list of `email` in `[from, to)` (RFC 3339), as an app or room device reads it.
    pub async fn meetings(&self, email: &str, from: &str, to: &str) -> Result<Vec<Value>, RequestError> {
        let req = self
            .http
            .get(format!("{}/api/v1/users/{email}/meetings", self.node))
            .query(&[("from", from), ("to", to)])
            .bearer_auth(&self.token);
        let (status, body) = send(req, None, "the node").await?;
        if status != 200 {
            return Err(RequestError(format!(
                "the meeting list answered HTTP {status}{}",
                error_code(&body)
            )));
        }
        body["meetings"]
            .as_array()
            .cloned()
            .ok_or_else(|| RequestError("the meeting list answer has no `meetings` array".into()))
    }
}

/// `: code` from an hcal or Graph error body, when there is one (codes hold no user data).
pub fn error_code(body: &Value) -> String {
    match body["error"]["code"].as_str() {
        Some(code) => format!(" ({code})"),
        None => String::new(),
    }
}

async fn send(mut req: reqwest::RequestBuilder, body: Option<Value>, who: &str) -> Result<(u16, Value), RequestError> {
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req
        .send()
        .await
        .map_err(|e| RequestError(format!("{who} did not answer: {}", e.without_url())))?;
    let status = res.status().as_u16();
    let text = res
        .text()
        .await
        .map_err(|e| RequestError(format!("{who}'s answer could not be read: {}", e.without_url())))?;
    let value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    Ok((status, value))
}

/// Looks at `check` until it answers `Ok(value)` or `limit` has passed. `Err(why)`
/// means "not yet"; the last `why` becomes the failure, so it says what was seen.
pub async fn wait_for<T>(limit: Duration, mut check: impl AsyncFnMut() -> Result<T, String>) -> Result<T, String> {
    let deadline = Instant::now() + limit;
    loop {
        let why = match check().await {
            Ok(v) => return Ok(v),
            Err(why) => why,
        };
        if Instant::now() >= deadline {
            return Err(format!("after {} s: {why}", limit.as_secs()));
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wait_for_returns_the_first_success_and_reports_the_last_reason() {
        let mut n = 0;
        let got = wait_for(Duration::from_secs(5), async || {
            n += 1;
            if n >= 3 { Ok(n) } else { Err(format!("only {n}")) }
        })
        .await;
        assert_eq!(got, Ok(3));
        let failed: Result<(), String> = wait_for(Duration::from_millis(250), async || Err("never".into())).await;
        let why = failed.expect_err("it never holds");
        assert!(why.ends_with(": never"), "{why}");
    }

    #[test]
    fn error_codes_are_quoted_only_when_present() {
        assert_eq!(
            error_code(&serde_json::json!({"error": {"code": "not_active"}})),
            " (not_active)"
        );
        assert_eq!(error_code(&Value::Null), "");
    }
}
