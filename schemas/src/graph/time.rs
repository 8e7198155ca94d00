//! Graph's two time shapes: `dateTimeTimeZone` (`{dateTime, timeZone}`, wall
//! time without offset, 7 fractional digits) and DateTimeOffset text
//! (`2024-05-01T09:00:00.0000000Z`). hcal always asks Graph for UTC
//! (`Prefer: outlook.timezone="UTC"`), so converting to a [`Timestamp`] is
//! only defined for UTC values.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// `{dateTime, timeZone}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DateTimeTimeZone {
    #[serde(rename = "dateTime")]
    pub date_time: String,
    #[serde(rename = "timeZone", default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// Zone names that mean UTC (Windows, IANA, and the Outlook legacy form).
fn is_utc(zone: &str) -> bool {
    [
        "UTC",
        "Etc/UTC",
        "Etc/GMT",
        "Coordinated Universal Time",
        "tzone://Microsoft/Utc",
    ]
    .iter()
    .any(|z| z.eq_ignore_ascii_case(zone))
}

/// Graph's wall-time format: `YYYY-MM-DDTHH:MM:SS.fffffff`.
fn fmt_wall(t: DateTime<Utc>) -> String {
    use chrono::Timelike;
    format!(
        "{}.{:07}",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.nanosecond() % 1_000_000_000 / 100
    )
}

impl DateTimeTimeZone {
    /// The value Graph would write for `t` in UTC.
    pub fn utc(t: Timestamp) -> Self {
        DateTimeTimeZone {
            date_time: fmt_wall(t.to_datetime()),
            time_zone: Some("UTC".into()),
        }
    }

    /// The instant, when the zone is UTC (or absent, which Graph reads as UTC). A
    /// `dateTime` that carries its own offset is honoured. `None` for other zones: the
    /// client always asks for UTC, so another zone is a bug to surface, not to guess.
    pub fn to_timestamp(&self) -> Option<Timestamp> {
        let text = self.date_time.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Some(Timestamp::from_datetime(t.with_timezone(&Utc)));
        }
        if let Some(z) = &self.time_zone
            && !z.is_empty()
            && !is_utc(z)
        {
            return None;
        }
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
            .map(|n| Timestamp::from_datetime(n.and_utc()))
    }
}

/// Parse DateTimeOffset text (`createdDateTime`, `expirationDateTime`, ...); text without
/// an offset is read as UTC, as Graph does. `None` if unreadable.
pub fn parse_offset(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(Timestamp::from_datetime(t.with_timezone(&Utc)));
    }
    DateTimeTimeZone {
        date_time: text.to_string(),
        time_zone: None,
    }
    .to_timestamp()
}

/// DateTimeOffset text as Graph writes it: `2024-05-01T09:00:00.0000000Z`.
pub fn format_offset(t: Timestamp) -> String {
    format!("{}Z", fmt_wall(t.to_datetime()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_wall_time_with_seven_digits() {
        let d = DateTimeTimeZone {
            date_time: "2024-05-01T09:00:00.0000000".into(),
            time_zone: Some("UTC".into()),
        };
        let t = d.to_timestamp().unwrap();
        assert_eq!(t.to_rfc3339(), "2024-05-01T09:00:00.000Z");
        assert_eq!(DateTimeTimeZone::utc(t), d);
        let ms = DateTimeTimeZone {
            date_time: "2024-05-01T09:00:00.1234567".into(),
            time_zone: Some("utc".into()),
        };
        assert_eq!(ms.to_timestamp().unwrap().millis() % 1000, 123);
    }

    #[test]
    fn other_zones_are_not_guessed() {
        let d = DateTimeTimeZone {
            date_time: "2024-05-01T09:00:00.0000000".into(),
            time_zone: Some("W. Europe Standard Time".into()),
        };
        assert_eq!(d.to_timestamp(), None);
        let with_offset = DateTimeTimeZone {
            date_time: "2024-05-01T09:00:00+02:00".into(),
            time_zone: Some("W. Europe Standard Time".into()),
        };
        assert_eq!(
            with_offset.to_timestamp().unwrap().to_rfc3339(),
            "2024-05-01T07:00:00.000Z"
        );
    }

    #[test]
    fn offsets() {
        let t = parse_offset("2016-03-19T22:11:09.952Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2016-03-19T22:11:09.952Z");
        assert_eq!(
            parse_offset("2024-05-01T11:00:00.0000000Z").unwrap().to_rfc3339(),
            "2024-05-01T11:00:00.000Z"
        );
        assert_eq!(format_offset(t), "2016-03-19T22:11:09.9520000Z");
        assert!(parse_offset("not a time").is_none());
    }
}
