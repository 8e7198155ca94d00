//! `mailboxSettings`: automatic replies (out of office), language and time zone.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::enums::{AutomaticRepliesStatus, ExternalAudienceScope};
use super::redact::Hidden;
use super::time::DateTimeTimeZone;
use crate::time::Timestamp;

/// `automaticRepliesSetting`.
#[derive(Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AutomaticRepliesSetting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AutomaticRepliesStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_audience: Option<ExternalAudienceScope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_start_date_time: Option<DateTimeTimeZone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_end_date_time: Option<DateTimeTimeZone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_reply_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_reply_message: Option<String>,
}

impl AutomaticRepliesSetting {
    /// Are automatic replies in force at `now`? `scheduled` is on only inside its window
    /// (Graph does not flip the status when the window starts or ends); a scheduled
    /// window whose bounds are not UTC-readable counts as off.
    pub fn active_at(&self, now: Timestamp) -> bool {
        match &self.status {
            Some(AutomaticRepliesStatus::AlwaysEnabled) => true,
            Some(AutomaticRepliesStatus::Scheduled) => {
                let start = self.scheduled_start_date_time.as_ref().and_then(|d| d.to_timestamp());
                let end = self.scheduled_end_date_time.as_ref().and_then(|d| d.to_timestamp());
                matches!((start, end), (Some(s), Some(e)) if s <= now && now < e)
            }
            _ => false,
        }
    }
}

impl fmt::Debug for AutomaticRepliesSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AutomaticRepliesSetting")
            .field("status", &self.status)
            .field("external_audience", &self.external_audience)
            .field("scheduled_start_date_time", &self.scheduled_start_date_time)
            .field("scheduled_end_date_time", &self.scheduled_end_date_time)
            .field("internal_reply_message", &Hidden(&self.internal_reply_message))
            .field("external_reply_message", &Hidden(&self.external_reply_message))
            .finish()
    }
}

/// `localeInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LocaleInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// `mailboxSettings`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct MailboxSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic_replies_setting: Option<AutomaticRepliesSetting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<LocaleInfo>,
    /// Windows or IANA name, as the admin configured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Kept opaque (its time zone may be a custom zone object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_hours: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_format: Option<String>,
}
