//! Time zones by Windows name (mapped through CLDR's windowsZones, territory 001) or by
//! IANA name, resolved to the tz database of chrono-tz.

use chrono::{LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::collections::HashMap;
use std::sync::OnceLock;

static WINDOWS_ZONES: &str = include_str!("../data/windows_zones.tsv");

fn windows_map() -> &'static HashMap<String, Tz> {
    static MAP: OnceLock<HashMap<String, Tz>> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut map = HashMap::new();
        for line in WINDOWS_ZONES.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if let Some((win, iana)) = line.split_once('\t')
                && let Ok(tz) = iana.trim().parse::<Tz>()
            {
                map.insert(win.trim().to_ascii_lowercase(), tz);
            }
        }
        map
    })
}

/// Resolve a Graph time-zone name: a Windows name (case-insensitive), an IANA name, or `UTC`.
pub fn resolve(name: &str) -> Option<Tz> {
    let n = name.trim();
    if n.eq_ignore_ascii_case("utc") || n.eq_ignore_ascii_case("etc/utc") {
        return Some(Tz::UTC);
    }
    if let Some(tz) = windows_map().get(&n.to_ascii_lowercase()) {
        return Some(*tz);
    }
    n.parse::<Tz>().ok()
}

/// How many Windows names the embedded mapping knows (for tests).
pub fn windows_zone_count() -> usize {
    windows_map().len()
}

/// Local wall time in `tz` to UTC. A time in a DST gap moves forward by the gap (as Exchange
/// does); an ambiguous time takes the earlier instant.
pub fn local_to_utc(tz: &Tz, local: NaiveDateTime) -> chrono::DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
        LocalResult::None => {
            let shifted = local + chrono::Duration::hours(1);
            match tz.from_local_datetime(&shifted) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
                LocalResult::None => Utc.from_utc_datetime(&local),
            }
        }
    }
}

/// UTC instant to local wall time in `tz`.
pub fn utc_to_local(tz: &Tz, t: chrono::DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(tz).naive_local()
}
