//! Instants as stored: milliseconds since the Unix epoch, UTC.
//!
//! Compact and exact under the codec (chrono's serde form is an RFC 3339
//! string), and totally ordered, which the fold relies on.

use std::fmt;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// Serialised as milliseconds under the codec, and as RFC 3339 text where a
/// person reads it (JSON).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_rfc3339())
        } else {
            s.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            DateTime::parse_from_rfc3339(&text)
                .map(|dt| Timestamp::from_datetime(dt.with_timezone(&Utc)))
                .map_err(serde::de::Error::custom)
        } else {
            i64::deserialize(d).map(Timestamp)
        }
    }
}

impl Timestamp {
    pub const EPOCH: Timestamp = Timestamp(0);

    pub fn now() -> Self {
        Self(Utc::now().timestamp_millis())
    }

    pub fn from_datetime(dt: DateTime<Utc>) -> Self {
        Self(dt.timestamp_millis())
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0).single().unwrap_or_default()
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    pub fn plus_days(self, days: i64) -> Self {
        self.plus_millis(days.saturating_mul(86_400_000))
    }

    /// RFC 3339 with milliseconds and `Z`, as APIs show it.
    pub fn to_rfc3339(self) -> String {
        self.to_datetime().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(dt: DateTime<Utc>) -> Self {
        Self::from_datetime(dt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_for_people_millis_for_the_codec() {
        let t = Timestamp(1_780_000_000_123);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2026-05-28T20:26:40.123Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        let bytes = crate::codec::encode(&t).unwrap();
        assert!(bytes.len() <= 10);
        assert_eq!(crate::codec::decode::<Timestamp>(&bytes).unwrap(), t);
    }
}
