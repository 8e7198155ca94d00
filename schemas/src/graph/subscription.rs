//! Subscriptions (create request, Graph's answer) and the change-notification
//! collection Graph POSTs to the webhook and lifecycle URLs.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::enums::{ChangeType, LifecycleEvent};
use super::redact::{Count, Hidden};
use super::time::{format_offset, parse_offset};
use crate::time::Timestamp;

/// `POST /subscriptions` body.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionRequest {
    /// Comma list: `created,updated,deleted`.
    pub change_type: String,
    pub notification_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_notification_url: Option<String>,
    /// `users/{id}/events` (no base URL).
    pub resource: String,
    /// DateTimeOffset text.
    pub expiration_date_time: String,
    /// At most 128 characters; echoed in every notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_supported_tls_version: Option<String>,
}

impl SubscriptionRequest {
    /// All changes to the events of one mailbox (`user` = object id or UPN).
    pub fn mailbox_events(
        user: &str,
        notification_url: &str,
        lifecycle_notification_url: Option<&str>,
        expires: Timestamp,
        client_state: &str,
    ) -> Self {
        SubscriptionRequest {
            change_type: "created,updated,deleted".into(),
            notification_url: notification_url.into(),
            lifecycle_notification_url: lifecycle_notification_url.map(String::from),
            resource: format!("users/{user}/events"),
            expiration_date_time: format_offset(expires),
            client_state: Some(client_state.into()),
            latest_supported_tls_version: Some("v1_2".into()),
        }
    }
}

impl fmt::Debug for SubscriptionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionRequest")
            .field("change_type", &self.change_type)
            .field("notification_url", &self.notification_url)
            .field("lifecycle_notification_url", &self.lifecycle_notification_url)
            .field("resource", &"<redacted>")
            .field("expiration_date_time", &self.expiration_date_time)
            .field("client_state", &Hidden(&self.client_state))
            .finish()
    }
}

/// A subscription as Graph answers it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_notification_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_resource_data: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_supported_tls_version: Option<String>,
}

impl Subscription {
    pub fn expires(&self) -> Option<Timestamp> {
        self.expiration_date_time.as_deref().and_then(parse_offset)
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("resource", &Hidden(&self.resource))
            .field("application_id", &self.application_id)
            .field("change_type", &self.change_type)
            .field("client_state", &Hidden(&self.client_state))
            .field("notification_url", &self.notification_url)
            .field("lifecycle_notification_url", &self.lifecycle_notification_url)
            .field("expiration_date_time", &self.expiration_date_time)
            .finish()
    }
}

/// `resourceData` of a basic notification: ids only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ResourceData {
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(rename = "@odata.id", default, skip_serializing_if = "Option::is_none")]
    pub odata_id: Option<String>,
    #[serde(rename = "@odata.etag", default, skip_serializing_if = "Option::is_none")]
    pub odata_etag: Option<String>,
    /// The event id: take it from here, not from `resource`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl fmt::Debug for ResourceData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceData")
            .field("odata_type", &self.odata_type)
            .field("odata_id", &Hidden(&self.odata_id))
            .field("odata_etag", &self.odata_etag)
            .field("id", &self.id)
            .finish()
    }
}

/// One `changeNotification` (a change, or a lifecycle event when `lifecycle_event` is set).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ChangeNotification {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_expiration_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_type: Option<ChangeType>,
    /// `Users/{user-object-id}/Events/{id}` (or `Users('..')/Events('..')`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_data: Option<ResourceData>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_event: Option<LifecycleEvent>,
}

impl ChangeNotification {
    /// The event id (`resourceData.id`).
    pub fn event_id(&self) -> Option<&str> {
        self.resource_data.as_ref()?.id.as_deref()
    }

    /// The user segment of `resource`, read without case in both the `Users/{id}/...` and
    /// the `Users('{id}')/...` forms. Graph puts the object id here even when the
    /// subscription named the mailbox by address.
    pub fn resource_user(&self) -> Option<String> {
        let r = self.resource.as_deref()?.trim().trim_start_matches('/');
        let lower = r.to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix("users('") {
            let end = rest.find("')")?;
            return Some(r[7..7 + end].to_string());
        }
        if lower.starts_with("users/") {
            let rest = &r[6..];
            let end = rest.find('/').unwrap_or(rest.len());
            return Some(rest[..end].to_string()).filter(|s| !s.is_empty());
        }
        None
    }

    pub fn subscription_expires(&self) -> Option<Timestamp> {
        self.subscription_expiration_date_time.as_deref().and_then(parse_offset)
    }
}

impl fmt::Debug for ChangeNotification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangeNotification")
            .field("id", &self.id)
            .field("subscription_id", &self.subscription_id)
            .field(
                "subscription_expiration_date_time",
                &self.subscription_expiration_date_time,
            )
            .field("client_state", &Hidden(&self.client_state))
            .field("change_type", &self.change_type)
            .field("resource", &Hidden(&self.resource))
            .field("tenant_id", &self.tenant_id)
            .field("resource_data", &self.resource_data)
            .field("lifecycle_event", &self.lifecycle_event)
            .finish()
    }
}

/// What Graph POSTs: `{value: [...], validationTokens?}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ChangeNotificationCollection {
    #[serde(default)]
    pub value: Vec<ChangeNotification>,
    /// Rich notifications only (JWTs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_tokens: Option<Vec<String>>,
}

impl fmt::Debug for ChangeNotificationCollection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangeNotificationCollection")
            .field("value", &self.value)
            .field("validation_tokens", &Count(&self.validation_tokens))
            .finish()
    }
}
