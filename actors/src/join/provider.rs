//! Meeting providers: where the meetings behind `@webex` / `@meet` come from.
//!
//! [`MeetingProvider`] creates, moves and deletes a meeting and gives its
//! join details. Creating is idempotent by the request's key (the event), so
//! a crash between creating and patching the invite never leaves an orphan:
//! the retry finds the same meeting. Two providers are built in:
//! [`SiteProvider`], configured per organisation (a meeting site's host),
//! which derives real, stable join details and keeps its meetings in hcal's
//! log, and [`HttpProvider`], which calls an external meeting service.

use std::time::Duration;

use hcal_schemas::Timestamp;
use hcal_schemas::events::mailbox::{JoinAction, ProviderMeeting};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("the meeting service refused: {status} {code}")]
    Refused { status: u16, code: String },
    #[error("the meeting service is unavailable: {0}")]
    Unavailable(String),
    #[error("the meeting service answered something unreadable: {0}")]
    Decode(String),
    #[error("the meeting service is misconfigured: {0}")]
    Config(String),
}

impl ProviderError {
    pub fn code(&self) -> String {
        match self {
            ProviderError::Refused { code, .. } => format!("provider_{code}"),
            ProviderError::Unavailable(_) => "provider_unavailable".into(),
            ProviderError::Decode(_) => "provider_bad_answer".into(),
            ProviderError::Config(_) => "provider_config".into(),
        }
    }
}

/// What the provider needs to know of the meeting to create.
#[derive(Clone, Debug)]
pub struct MeetingRequest {
    /// Idempotency key: the same for every attempt for one event.
    pub key: String,
    pub organizer: String,
    pub subject: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub action: JoinAction,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedMeeting {
    pub meeting_id: String,
    pub details: ProviderMeeting,
}

/// A meeting service.
pub trait MeetingProvider {
    /// Snake-case id of the service (what link detection calls its links).
    fn id(&self) -> &str;
    fn create(&self, req: &MeetingRequest) -> impl Future<Output = Result<CreatedMeeting, ProviderError>> + Send;
    fn update(&self, meeting_id: &str, req: &MeetingRequest) -> impl Future<Output = Result<(), ProviderError>> + Send;
    fn delete(&self, meeting_id: &str) -> impl Future<Output = Result<(), ProviderError>> + Send;
}

/// A meeting site configured per organisation (e.g. `contoso.webex.com`):
/// personal rooms per organiser, one-time meetings and spaces per event.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SiteProvider {
    /// Provider id, e.g. `webex`.
    pub provider: String,
    /// The meeting site's host, e.g. `contoso.webex.com`.
    pub site: String,
    /// Dial-in numbers shown in every block: (label, number).
    #[serde(default)]
    pub dial_in: Vec<(String, String)>,
}

impl Default for SiteProvider {
    fn default() -> Self {
        Self {
            provider: "webex".into(),
            site: "hcal.webex.com".into(),
            dial_in: vec![("Global call-in".into(), "+1 415-655-0001".into())],
        }
    }
}

fn hash_hex(parts: &[&str], n: usize) -> String {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(&[0]);
    }
    h.finalize().to_hex()[..n].to_string()
}

fn number(parts: &[&str]) -> String {
    let h = blake3::hash(parts.join("\0").as_bytes());
    let n = u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or([0; 8])) % 9_000_000_000 + 1_000_000_000;
    let s = n.to_string();
    format!("{} {} {}", &s[..4], &s[4..7], &s[7..])
}

impl SiteProvider {
    /// The meeting for `req`: a function of the organiser and event only, so
    /// every attempt for one event gets the same meeting.
    pub fn meeting(&self, req: &MeetingRequest) -> CreatedMeeting {
        let local: String = req
            .organizer
            .split('@')
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        let site = &self.site;
        let (meeting_id, join_url, sip, num) = match req.action {
            JoinAction::PersonalRoom => (
                format!("pr-{local}"),
                format!("https://{site}/meet/{local}"),
                format!("{local}@{site}"),
                number(&[site, &req.organizer]),
            ),
            JoinAction::OneTime => {
                let h = hash_hex(&[site, &req.key], 32);
                let num = number(&[site, &req.key]);
                let site_name = site.split('.').next().unwrap_or(site);
                let sip = format!("{}@{site}", num.replace(' ', ""));
                (
                    format!("ot-{}", &h[..16]),
                    format!("https://{site}/{site_name}/j.php?MTID=m{h}"),
                    sip,
                    num,
                )
            }
            JoinAction::Space => {
                let h = hash_hex(&[site, &req.key, "space"], 24);
                let num = number(&[site, &req.key, "space"]);
                (
                    format!("sp-{h}"),
                    format!("https://{site}/join/sp{h}"),
                    format!("sp{h}@{site}"),
                    num,
                )
            }
        };
        CreatedMeeting {
            meeting_id,
            details: ProviderMeeting {
                join_url,
                sip: Some(format!("sip:{sip}")),
                meeting_number: Some(num),
                dial_in: self.dial_in.clone(),
            },
        }
    }
}

impl MeetingProvider for SiteProvider {
    fn id(&self) -> &str {
        &self.provider
    }

    async fn create(&self, req: &MeetingRequest) -> Result<CreatedMeeting, ProviderError> {
        Ok(self.meeting(req))
    }

    /// The site's meetings carry no time of their own; hcal's log has it.
    async fn update(&self, _: &str, _: &MeetingRequest) -> Result<(), ProviderError> {
        Ok(())
    }

    /// Personal rooms outlive their meetings; the rest are only in hcal's log.
    async fn delete(&self, _: &str) -> Result<(), ProviderError> {
        Ok(())
    }
}

/// An external meeting service over HTTP:
/// `POST {url}/meetings` (with `Idempotency-Key`), `PATCH {url}/meetings/{id}`,
/// `DELETE {url}/meetings/{id}`, bearer token.
#[derive(Clone)]
pub struct HttpProvider {
    provider: String,
    url: String,
    token: zeroize::Zeroizing<String>,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct HttpMeeting {
    id: String,
    join_url: String,
    #[serde(default)]
    sip: Option<String>,
    #[serde(default)]
    meeting_number: Option<String>,
    #[serde(default)]
    dial_in: Vec<HttpDialIn>,
}

#[derive(Deserialize)]
struct HttpDialIn {
    label: String,
    number: String,
}

fn kind(a: JoinAction) -> &'static str {
    match a {
        JoinAction::PersonalRoom => "personal_room",
        JoinAction::Space => "space",
        JoinAction::OneTime => "one_time",
    }
}

impl HttpProvider {
    pub fn new(provider: &str, url: &str, token: &str) -> Result<Self, ProviderError> {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ProviderError::Config("the meeting service URL must be http(s)".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ProviderError::Config(e.to_string()))?;
        Ok(Self {
            provider: provider.to_string(),
            url: url.trim_end_matches('/').to_string(),
            token: zeroize::Zeroizing::new(token.to_string()),
            http,
        })
    }

    fn body(req: &MeetingRequest) -> serde_json::Value {
        serde_json::json!({
            "subject": req.subject,
            "start": req.start,
            "end": req.end,
            "kind": kind(req.action),
            "organizer": req.organizer,
        })
    }

    async fn check(res: reqwest::Response) -> Result<reqwest::Response, ProviderError> {
        let status = res.status().as_u16();
        if res.status().is_success() {
            return Ok(res);
        }
        let code = res
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
            .unwrap_or_else(|| format!("http_{status}"));
        if status >= 500 || status == 429 {
            Err(ProviderError::Unavailable(code))
        } else {
            Err(ProviderError::Refused { status, code })
        }
    }
}

impl MeetingProvider for HttpProvider {
    fn id(&self) -> &str {
        &self.provider
    }

    async fn create(&self, req: &MeetingRequest) -> Result<CreatedMeeting, ProviderError> {
        let res = self
            .http
            .post(format!("{}/meetings", self.url))
            .bearer_auth(self.token.as_str())
            .header("Idempotency-Key", &req.key)
            .json(&Self::body(req))
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(e.without_url().to_string()))?;
        let m: HttpMeeting = Self::check(res)
            .await?
            .json()
            .await
            .map_err(|e| ProviderError::Decode(e.to_string()))?;
        Ok(CreatedMeeting {
            meeting_id: m.id,
            details: ProviderMeeting {
                join_url: m.join_url,
                sip: m.sip,
                meeting_number: m.meeting_number,
                dial_in: m.dial_in.into_iter().map(|d| (d.label, d.number)).collect(),
            },
        })
    }

    async fn update(&self, meeting_id: &str, req: &MeetingRequest) -> Result<(), ProviderError> {
        let res = self
            .http
            .patch(format!("{}/meetings/{meeting_id}", self.url))
            .bearer_auth(self.token.as_str())
            .json(&Self::body(req))
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(e.without_url().to_string()))?;
        Self::check(res).await.map(|_| ())
    }

    async fn delete(&self, meeting_id: &str) -> Result<(), ProviderError> {
        let res = self
            .http
            .delete(format!("{}/meetings/{meeting_id}", self.url))
            .bearer_auth(self.token.as_str())
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(e.without_url().to_string()))?;
        match Self::check(res).await {
            Ok(_) | Err(ProviderError::Refused { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The provider an organisation uses.
#[derive(Clone)]
pub enum Provider {
    Site(SiteProvider),
    Http(HttpProvider),
}

impl MeetingProvider for Provider {
    fn id(&self) -> &str {
        match self {
            Provider::Site(p) => p.id(),
            Provider::Http(p) => p.id(),
        }
    }

    async fn create(&self, req: &MeetingRequest) -> Result<CreatedMeeting, ProviderError> {
        match self {
            Provider::Site(p) => p.create(req).await,
            Provider::Http(p) => p.create(req).await,
        }
    }

    async fn update(&self, meeting_id: &str, req: &MeetingRequest) -> Result<(), ProviderError> {
        match self {
            Provider::Site(p) => p.update(meeting_id, req).await,
            Provider::Http(p) => p.update(meeting_id, req).await,
        }
    }

    async fn delete(&self, meeting_id: &str) -> Result<(), ProviderError> {
        match self {
            Provider::Site(p) => p.delete(meeting_id).await,
            Provider::Http(p) => p.delete(meeting_id).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(action: JoinAction, key: &str) -> MeetingRequest {
        MeetingRequest {
            key: key.into(),
            organizer: "alice@contoso.example".into(),
            subject: "s".into(),
            start: Timestamp(0),
            end: Timestamp(1),
            action,
        }
    }

    #[test]
    fn site_meetings_are_stable_per_event_and_personal_rooms_per_organizer() {
        let p = SiteProvider {
            site: "contoso.webex.com".into(),
            ..SiteProvider::default()
        };
        let a = p.meeting(&req(JoinAction::OneTime, "e1"));
        assert_eq!(a, p.meeting(&req(JoinAction::OneTime, "e1")));
        assert_ne!(a.meeting_id, p.meeting(&req(JoinAction::OneTime, "e2")).meeting_id);
        assert!(
            a.details
                .join_url
                .starts_with("https://contoso.webex.com/contoso/j.php?MTID=m")
        );
        let pr = p.meeting(&req(JoinAction::PersonalRoom, "e1"));
        assert_eq!(pr.details.join_url, "https://contoso.webex.com/meet/alice");
        assert_eq!(pr, p.meeting(&req(JoinAction::PersonalRoom, "e9")));
        assert_eq!(pr.details.sip.as_deref(), Some("sip:alice@contoso.webex.com"));
        let sp = p.meeting(&req(JoinAction::Space, "e1"));
        assert!(sp.details.join_url.starts_with("https://contoso.webex.com/join/sp"));
    }
}
