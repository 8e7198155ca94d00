//! Error bodies: Graph's `{error: {code, message, innerError}}` and the
//! identity platform's AADSTS body; and the token response. Messages can
//! quote a user's address, so Debug hides them.

use std::fmt;

use serde::de::Deserializer;
use serde::{Deserialize, Serialize};

use super::redact::Hidden;

/// `innerError` (may nest).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct InnerError {
    #[serde(rename = "request-id", default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(rename = "client-request-id", default, skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(rename = "innerError", default, skip_serializing_if = "Option::is_none")]
    pub inner_error: Option<Box<InnerError>>,
}

/// `error` of a Graph error body.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct GraphErrorDetail {
    #[serde(default)]
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_error: Option<InnerError>,
}

impl GraphErrorDetail {
    /// The `request-id`, searched through nested inner errors.
    pub fn request_id(&self) -> Option<&str> {
        let mut inner = self.inner_error.as_ref();
        while let Some(i) = inner {
            if let Some(r) = i.request_id.as_deref() {
                return Some(r);
            }
            inner = i.inner_error.as_deref();
        }
        None
    }
}

impl fmt::Debug for GraphErrorDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphErrorDetail")
            .field("code", &self.code)
            .field("message", &Hidden(&self.message))
            .field("inner_error", &self.inner_error)
            .finish()
    }
}

/// `{error: {...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GraphErrorBody {
    pub error: GraphErrorDetail,
}

/// `expires_in` arrives as a number from v2.0 and as text from the v1 endpoint.
fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Num(u64),
        Text(String),
    }
    Ok(match Option::<N>::deserialize(d)? {
        Some(N::Num(n)) => Some(n),
        Some(N::Text(t)) => t.trim().parse().ok(),
        None => None,
    })
}

/// The client-credentials token response.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TokenResponse {
    #[serde(default)]
    pub token_type: String,
    #[serde(default, deserialize_with = "seconds", skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    #[serde(default, deserialize_with = "seconds", skip_serializing_if = "Option::is_none")]
    pub ext_expires_in: Option<u64>,
    pub access_token: String,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("ext_expires_in", &self.ext_expires_in)
            .field("access_token", &"<redacted>")
            .finish()
    }
}

/// The identity platform's error body.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AadError {
    #[serde(default)]
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    #[serde(default)]
    pub error_codes: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
}

impl AadError {
    /// The AADSTS number: `error_codes[0]`, else read from `AADSTS<n>:` in the description.
    pub fn aadsts(&self) -> Option<u64> {
        if let Some(c) = self.error_codes.first() {
            return Some(*c);
        }
        let d = self.error_description.as_deref()?;
        let rest = &d[d.find("AADSTS")? + 6..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    }
}

impl fmt::Debug for AadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AadError")
            .field("error", &self.error)
            .field("error_description", &Hidden(&self.error_description))
            .field("error_codes", &self.error_codes)
            .field("trace_id", &self.trace_id)
            .field("correlation_id", &self.correlation_id)
            .finish()
    }
}
