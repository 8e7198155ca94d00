//! Recurrence (`patternedRecurrence`): parsing with Graph's validation rules, the normalised
//! JSON Graph echoes, and expansion into occurrence dates. Expansion happens in the series'
//! time zone on local dates, so the wall-clock time is stable across DST changes.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde_json::{Value, json};

use crate::error::GraphError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternType {
    Daily,
    Weekly,
    AbsoluteMonthly,
    RelativeMonthly,
    AbsoluteYearly,
    RelativeYearly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeekIndex {
    First,
    Second,
    Third,
    Fourth,
    Last,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeType {
    EndDate(NaiveDate),
    NoEnd,
    Numbered(u32),
}

/// A validated recurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recurrence {
    pub pattern: PatternType,
    pub interval: u32,
    pub days_of_week: Vec<Weekday>,
    pub first_day_of_week: Weekday,
    pub day_of_month: u32,
    pub month: u32,
    pub index: WeekIndex,
    pub start_date: NaiveDate,
    pub range: RangeType,
    pub time_zone: String,
}

fn invalid(msg: &str) -> GraphError {
    GraphError::new(
        400,
        "ErrorPropertyValidationFailure",
        format!("At least one property failed validation. {msg}"),
    )
}

pub fn weekday_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    }
}

pub fn parse_weekday(s: &str) -> Option<Weekday> {
    Some(match s.to_ascii_lowercase().as_str() {
        "monday" => Weekday::Mon,
        "tuesday" => Weekday::Tue,
        "wednesday" => Weekday::Wed,
        "thursday" => Weekday::Thu,
        "friday" => Weekday::Fri,
        "saturday" => Weekday::Sat,
        "sunday" => Weekday::Sun,
        _ => return None,
    })
}

fn index_name(i: WeekIndex) -> &'static str {
    match i {
        WeekIndex::First => "first",
        WeekIndex::Second => "second",
        WeekIndex::Third => "third",
        WeekIndex::Fourth => "fourth",
        WeekIndex::Last => "last",
    }
}

fn pattern_name(p: PatternType) -> &'static str {
    match p {
        PatternType::Daily => "daily",
        PatternType::Weekly => "weekly",
        PatternType::AbsoluteMonthly => "absoluteMonthly",
        PatternType::RelativeMonthly => "relativeMonthly",
        PatternType::AbsoluteYearly => "absoluteYearly",
        PatternType::RelativeYearly => "relativeYearly",
    }
}

fn get_u32(obj: &serde_json::Map<String, Value>, key: &str) -> Result<Option<u32>, GraphError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().and_then(|v| u32::try_from(v).ok()).map(Some).ok_or_else(|| {
            GraphError::body_read(format!(
                "Cannot convert a value to target type 'Edm.Int32' for '{key}'."
            ))
        }),
        Some(_) => Err(GraphError::body_read(format!(
            "Cannot convert a value to target type 'Edm.Int32' for '{key}'."
        ))),
    }
}

fn get_str<'a>(obj: &'a serde_json::Map<String, Value>, key: &str) -> Result<Option<&'a str>, GraphError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(GraphError::body_read(format!(
            "Cannot convert a value to target type 'Edm.String' for '{key}'."
        ))),
    }
}

impl Recurrence {
    /// Parse `{"pattern":{...},"range":{...}}`. `default_tz` is the event's start zone.
    pub fn parse(v: &Value, default_tz: &str) -> Result<Recurrence, GraphError> {
        let obj = v
            .as_object()
            .ok_or_else(|| GraphError::body_read("recurrence must be an object."))?;
        for k in obj.keys() {
            if k != "pattern" && k != "range" && !k.starts_with("@odata") {
                return Err(GraphError::unknown_property(k, "microsoft.graph.patternedRecurrence"));
            }
        }
        let p = obj
            .get("pattern")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("recurrence.pattern is required."))?;
        let r = obj
            .get("range")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("recurrence.range is required."))?;
        for k in p.keys() {
            if ![
                "type",
                "interval",
                "month",
                "dayOfMonth",
                "daysOfWeek",
                "firstDayOfWeek",
                "index",
            ]
            .contains(&k.as_str())
                && !k.starts_with("@odata")
            {
                return Err(GraphError::unknown_property(k, "microsoft.graph.recurrencePattern"));
            }
        }
        for k in r.keys() {
            if ![
                "type",
                "startDate",
                "endDate",
                "recurrenceTimeZone",
                "numberOfOccurrences",
            ]
            .contains(&k.as_str())
                && !k.starts_with("@odata")
            {
                return Err(GraphError::unknown_property(k, "microsoft.graph.recurrenceRange"));
            }
        }
        let ptype = get_str(p, "type")?.ok_or_else(|| invalid("recurrence.pattern.type is required."))?;
        let pattern = match ptype.to_ascii_lowercase().as_str() {
            "daily" => PatternType::Daily,
            "weekly" => PatternType::Weekly,
            "absolutemonthly" => PatternType::AbsoluteMonthly,
            "relativemonthly" => PatternType::RelativeMonthly,
            "absoluteyearly" => PatternType::AbsoluteYearly,
            "relativeyearly" => PatternType::RelativeYearly,
            other => return Err(GraphError::bad_enum(other, "microsoft.graph.recurrencePatternType")),
        };
        let interval = get_u32(p, "interval")?.unwrap_or(0);
        if interval == 0 || interval > 999 {
            return Err(invalid("recurrence.pattern.interval must be between 1 and 999."));
        }
        let mut days_of_week = Vec::new();
        match p.get("daysOfWeek") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) => {
                for d in a {
                    let s = d
                        .as_str()
                        .ok_or_else(|| GraphError::body_read("daysOfWeek must hold strings."))?;
                    let wd = parse_weekday(s).ok_or_else(|| GraphError::bad_enum(s, "microsoft.graph.dayOfWeek"))?;
                    if !days_of_week.contains(&wd) {
                        days_of_week.push(wd);
                    }
                }
            }
            Some(_) => return Err(GraphError::body_read("daysOfWeek must be an array.")),
        }
        let first_day_of_week = match get_str(p, "firstDayOfWeek")? {
            None => Weekday::Sun,
            Some(s) => parse_weekday(s).ok_or_else(|| GraphError::bad_enum(s, "microsoft.graph.dayOfWeek"))?,
        };
        let day_of_month = get_u32(p, "dayOfMonth")?.unwrap_or(0);
        let month = get_u32(p, "month")?.unwrap_or(0);
        let index = match get_str(p, "index")? {
            None => WeekIndex::First,
            Some(s) => match s.to_ascii_lowercase().as_str() {
                "first" => WeekIndex::First,
                "second" => WeekIndex::Second,
                "third" => WeekIndex::Third,
                "fourth" => WeekIndex::Fourth,
                "last" => WeekIndex::Last,
                _ => return Err(GraphError::bad_enum(s, "microsoft.graph.weekIndex")),
            },
        };
        if day_of_month > 31 || month > 12 {
            return Err(invalid("recurrence.pattern.dayOfMonth or month out of range."));
        }
        let need_days = matches!(
            pattern,
            PatternType::Weekly | PatternType::RelativeMonthly | PatternType::RelativeYearly
        );
        if need_days && days_of_week.is_empty() {
            return Err(invalid(
                "recurrence.pattern.daysOfWeek is required for this pattern type.",
            ));
        }
        let need_dom = matches!(pattern, PatternType::AbsoluteMonthly | PatternType::AbsoluteYearly);
        if need_dom && day_of_month == 0 {
            return Err(invalid(
                "recurrence.pattern.dayOfMonth is required for this pattern type.",
            ));
        }
        let need_month = matches!(pattern, PatternType::AbsoluteYearly | PatternType::RelativeYearly);
        if need_month && month == 0 {
            return Err(invalid("recurrence.pattern.month is required for this pattern type."));
        }
        let date = |key: &str| -> Result<Option<NaiveDate>, GraphError> {
            match get_str(r, key)? {
                None => Ok(None),
                Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").map(Some).map_err(|_| {
                    GraphError::body_read(format!(
                        "Cannot convert the literal '{s}' to the expected type 'Edm.Date'."
                    ))
                }),
            }
        };
        let start_date = date("startDate")?.ok_or_else(|| invalid("recurrence.range.startDate is required."))?;
        let rtype = get_str(r, "type")?.ok_or_else(|| invalid("recurrence.range.type is required."))?;
        let range = match rtype.to_ascii_lowercase().as_str() {
            "enddate" => {
                let end = date("endDate")?
                    .ok_or_else(|| invalid("recurrence.range.endDate is required for range type endDate."))?;
                if end < start_date {
                    return Err(invalid("recurrence.range.endDate is before startDate."));
                }
                RangeType::EndDate(end)
            }
            "noend" => RangeType::NoEnd,
            "numbered" => {
                let n = get_u32(r, "numberOfOccurrences")?.unwrap_or(0);
                if n == 0 || n > 999 {
                    return Err(invalid(
                        "recurrence.range.numberOfOccurrences must be between 1 and 999.",
                    ));
                }
                RangeType::Numbered(n)
            }
            other => return Err(GraphError::bad_enum(other, "microsoft.graph.recurrenceRangeType")),
        };
        let time_zone = match get_str(r, "recurrenceTimeZone")? {
            Some(tz) if !tz.is_empty() => {
                if crate::tz::resolve(tz).is_none() {
                    return Err(GraphError::timezone_not_supported(tz));
                }
                tz.to_string()
            }
            _ => default_tz.to_string(),
        };
        Ok(Recurrence {
            pattern,
            interval,
            days_of_week,
            first_day_of_week,
            day_of_month,
            month,
            index,
            start_date,
            range,
            time_zone,
        })
    }

    /// The JSON Graph returns: every field present, defaults filled in.
    pub fn to_json(&self) -> Value {
        let (rtype, end, n) = match &self.range {
            RangeType::EndDate(d) => ("endDate", d.format("%Y-%m-%d").to_string(), 0),
            RangeType::NoEnd => ("noEnd", "0001-01-01".to_string(), 0),
            RangeType::Numbered(n) => ("numbered", "0001-01-01".to_string(), *n),
        };
        let days: Vec<&str> = self.days_of_week.iter().map(|d| weekday_name(*d)).collect();
        json!({
            "pattern": {
                "type": pattern_name(self.pattern),
                "interval": self.interval,
                "month": self.month,
                "dayOfMonth": self.day_of_month,
                "daysOfWeek": days,
                "firstDayOfWeek": weekday_name(self.first_day_of_week),
                "index": index_name(self.index),
            },
            "range": {
                "type": rtype,
                "startDate": self.start_date.format("%Y-%m-%d").to_string(),
                "endDate": end,
                "recurrenceTimeZone": self.time_zone,
                "numberOfOccurrences": n,
            }
        })
    }

    /// Occurrence dates in order, from the range start, while `keep_going(date)` holds and
    /// the range allows; `horizon` bounds `noEnd` series. At most 10,000 dates.
    pub fn dates(&self, horizon: NaiveDate, mut keep_going: impl FnMut(NaiveDate) -> bool) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let limit_count = match self.range {
            RangeType::Numbered(n) => n as usize,
            _ => 10_000,
        };
        let last = match self.range {
            RangeType::EndDate(d) => d,
            RangeType::NoEnd => horizon,
            RangeType::Numbered(_) => horizon.max(self.start_date + Duration::days(365 * 200)),
        };
        let mut emit = |d: NaiveDate, out: &mut Vec<NaiveDate>| -> bool {
            if d < self.start_date {
                return true;
            }
            if d > last || out.len() >= limit_count || !keep_going(d) {
                return false;
            }
            out.push(d);
            true
        };
        let iv = self.interval as i64;
        match self.pattern {
            PatternType::Daily => {
                let mut d = self.start_date;
                while emit(d, &mut out) {
                    d += Duration::days(iv);
                }
            }
            PatternType::Weekly => {
                let offset = (7 + self.start_date.weekday().num_days_from_sunday() as i64
                    - self.first_day_of_week.num_days_from_sunday() as i64)
                    % 7;
                let mut week = self.start_date - Duration::days(offset);
                let mut days: Vec<i64> = self
                    .days_of_week
                    .iter()
                    .map(|d| {
                        (7 + d.num_days_from_sunday() as i64 - self.first_day_of_week.num_days_from_sunday() as i64) % 7
                    })
                    .collect();
                days.sort();
                'weeks: loop {
                    for off in &days {
                        if !emit(week + Duration::days(*off), &mut out) {
                            break 'weeks;
                        }
                    }
                    week += Duration::days(7 * iv);
                    if week > last + Duration::days(7) {
                        break;
                    }
                }
            }
            PatternType::AbsoluteMonthly | PatternType::RelativeMonthly => {
                let mut k = 0i64;
                while let Some((y, m)) = add_months(self.start_date.year(), self.start_date.month(), k * iv) {
                    let d = if self.pattern == PatternType::AbsoluteMonthly {
                        clamp_day(y, m, self.day_of_month)
                    } else {
                        relative_day(y, m, &self.days_of_week, self.index)
                    };
                    if let Some(d) = d
                        && !emit(d, &mut out)
                    {
                        break;
                    }
                    if NaiveDate::from_ymd_opt(y, m, 1).is_none_or(|first| first > last) {
                        break;
                    }
                    k += 1;
                }
            }
            PatternType::AbsoluteYearly | PatternType::RelativeYearly => {
                let mut y = self.start_date.year();
                loop {
                    let d = if self.pattern == PatternType::AbsoluteYearly {
                        clamp_day(y, self.month, self.day_of_month)
                    } else {
                        relative_day(y, self.month, &self.days_of_week, self.index)
                    };
                    if let Some(d) = d
                        && !emit(d, &mut out)
                    {
                        break;
                    }
                    if y > last.year() || y > 9000 {
                        break;
                    }
                    y += iv as i32;
                }
            }
        }
        out
    }
}

fn add_months(y: i32, m: u32, k: i64) -> Option<(i32, u32)> {
    let total = y as i64 * 12 + (m as i64 - 1) + k;
    let ny = total.div_euclid(12);
    if !(1..=9999).contains(&ny) {
        return None;
    }
    Some((ny as i32, (total.rem_euclid(12) + 1) as u32))
}

fn days_in_month(y: i32, m: u32) -> u32 {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    NaiveDate::from_ymd_opt(ny, nm, 1)
        .and_then(|d| d.pred_opt())
        .map(|d| d.day())
        .unwrap_or(28)
}

/// `dayOfMonth` in month, moved to the month's last day when the month is shorter.
fn clamp_day(y: i32, m: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, day.min(days_in_month(y, m)))
}

/// The `index`-th day of the month that is one of `days`.
fn relative_day(y: i32, m: u32, days: &[Weekday], index: WeekIndex) -> Option<NaiveDate> {
    let n = days_in_month(y, m);
    let matching: Vec<NaiveDate> = (1..=n)
        .filter_map(|d| NaiveDate::from_ymd_opt(y, m, d))
        .filter(|d| days.contains(&d.weekday()))
        .collect();
    match index {
        WeekIndex::First => matching.first().copied(),
        WeekIndex::Second => matching.get(1).copied(),
        WeekIndex::Third => matching.get(2).copied(),
        WeekIndex::Fourth => matching.get(3).copied(),
        WeekIndex::Last => matching.last().copied(),
    }
}

/// Does `d` match the pattern (ignoring the range)? Used by property tests.
pub fn matches_pattern(r: &Recurrence, d: NaiveDate) -> bool {
    match r.pattern {
        PatternType::Daily => (d - r.start_date).num_days() % r.interval as i64 == 0,
        PatternType::Weekly => {
            if !r.days_of_week.contains(&d.weekday()) {
                return false;
            }
            let off = |x: NaiveDate| {
                (7 + x.weekday().num_days_from_sunday() as i64 - r.first_day_of_week.num_days_from_sunday() as i64) % 7
            };
            let w0 = r.start_date - Duration::days(off(r.start_date));
            let w = d - Duration::days(off(d));
            ((w - w0).num_days() / 7) % r.interval as i64 == 0
        }
        PatternType::AbsoluteMonthly | PatternType::RelativeMonthly => {
            let months = (d.year() as i64 * 12 + d.month() as i64)
                - (r.start_date.year() as i64 * 12 + r.start_date.month() as i64);
            if months % r.interval as i64 != 0 {
                return false;
            }
            let want = if r.pattern == PatternType::AbsoluteMonthly {
                clamp_day(d.year(), d.month(), r.day_of_month)
            } else {
                relative_day(d.year(), d.month(), &r.days_of_week, r.index)
            };
            want == Some(d)
        }
        PatternType::AbsoluteYearly | PatternType::RelativeYearly => {
            if (d.year() - r.start_date.year()) % r.interval as i32 != 0 || d.month() != r.month {
                return false;
            }
            let want = if r.pattern == PatternType::AbsoluteYearly {
                clamp_day(d.year(), r.month, r.day_of_month)
            } else {
                relative_day(d.year(), r.month, &r.days_of_week, r.index)
            };
            want == Some(d)
        }
    }
}
