//! Graph's wire formats: date-times with seven fractional digits, ids, etags.

use base64::Engine;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike, Utc};

/// `YYYY-MM-DDTHH:MM:SS.fffffff`, no offset: `dateTimeTimeZone.dateTime` in responses.
pub fn fmt_local(t: NaiveDateTime) -> String {
    use chrono::Datelike;
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() % 1_000_000_000 / 100
    )
}

/// `YYYY-MM-DDTHH:MM:SS.fffffffZ`: DateTimeOffset values (createdDateTime, ...).
pub fn fmt_utc(t: DateTime<Utc>) -> String {
    format!("{}Z", fmt_local(t.naive_utc()))
}

/// Parse a request `dateTime`: `YYYY-MM-DDTHH:MM[:SS[.f...]]`, optionally with `Z` or an
/// offset. Returns the wall time and, if an offset was present, the UTC instant.
pub fn parse_datetime(s: &str) -> Option<(NaiveDateTime, Option<DateTime<Utc>>)> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some((t.naive_local(), Some(t.with_timezone(&Utc))));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some((t, None));
        }
    }
    // Offsets without seconds or with a space, e.g. "2024-05-01T09:00:00+02:00" handled
    // above; "2024-05-01T09:00+02:00":
    for fmt in ["%Y-%m-%dT%H:%M%:z", "%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.fZ"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some((t.naive_local(), Some(t.with_timezone(&Utc))));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some((d.and_hms_opt(0, 0, 0)?, None));
    }
    None
}

/// A window parameter (`startDateTime`, `endDateTime`): an offset is honoured, none means UTC.
pub fn parse_window(s: &str) -> Option<DateTime<Utc>> {
    let (local, utc) = parse_datetime(s)?;
    Some(utc.unwrap_or_else(|| local.and_utc()))
}

/// Parse a DateTimeOffset value (`expirationDateTime`); no offset means UTC.
pub fn parse_offset(s: &str) -> Option<DateTime<Utc>> {
    parse_window(s)
}

const ID_PREFIX: &str = "AAMkAG";

/// The part of an Exchange item id that names the mailbox's store and folder: the same for
/// every event here, as it is for the events of one calendar. It gives ids Graph's length
/// (about 150 characters), which is what clients store and send back.
const FOLDER: [u8; 88] = folder_bytes();

const fn folder_bytes() -> [u8; 88] {
    let mut out = [0u8; 88];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut i = 0;
    while i < out.len() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[i] = (x >> 24) as u8;
        i += 1;
    }
    out
}

fn encode_id(kind: u8, key: &[u8; 16], extra: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(1 + FOLDER.len() + 16 + extra.len());
    bytes.push(kind);
    bytes.extend_from_slice(&FOLDER);
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(extra);
    format!("{ID_PREFIX}{}", base64::engine::general_purpose::URL_SAFE.encode(bytes))
}

/// An event id: opaque, base64-like, case-sensitive. Kind 1 = stored item, 2 = occurrence
/// (master key + original start in seconds).
pub fn make_item_id(key: &[u8; 16]) -> String {
    encode_id(1, key, &[])
}

/// The id of the occurrence of series `master_key` that originally starts at `original`.
pub fn make_occurrence_id(master_key: &[u8; 16], original: DateTime<Utc>) -> String {
    encode_id(2, master_key, &original.timestamp().to_be_bytes())
}

/// What an id names, or `None` when it is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParsedId {
    Item([u8; 16]),
    Occurrence([u8; 16], DateTime<Utc>),
}

pub fn parse_id(id: &str) -> Option<ParsedId> {
    let rest = id.strip_prefix(ID_PREFIX)?;
    let bytes = base64::engine::general_purpose::URL_SAFE.decode(rest).ok()?;
    let (&kind, rest) = bytes.split_first()?;
    let rest = rest.strip_prefix(&FOLDER[..])?;
    let key: [u8; 16] = rest.get(..16)?.try_into().ok()?;
    match (kind, &rest[16..]) {
        (1, []) => Some(ParsedId::Item(key)),
        (2, ts) if ts.len() == 8 => {
            let t = DateTime::from_timestamp(i64::from_be_bytes(ts.try_into().ok()?), 0)?;
            Some(ParsedId::Occurrence(key, t))
        }
        _ => None,
    }
}

/// A fresh change key (base64 of random bytes, as Exchange's look).
pub fn new_change_key() -> String {
    let bytes: [u8; 16] = rand::random();
    let mut v = vec![0x0Fu8, 0, 0, 0];
    v.extend_from_slice(&bytes);
    base64::engine::general_purpose::STANDARD.encode(v)
}

/// iCalUId of an item; occurrences carry their original date in bytes 16..20 as Exchange's
/// GlobalObjectId does, so each occurrence has its own iCalUId.
pub fn ical_uid(key: &[u8; 16], occurrence: Option<NaiveDate>) -> String {
    use chrono::Datelike;
    let date = match occurrence {
        Some(d) => format!("{:04X}{:02X}{:02X}", d.year(), d.month(), d.day()),
        None => "00000000".to_string(),
    };
    let mut hex = String::with_capacity(32);
    for b in key {
        hex.push_str(&format!("{b:02X}"));
    }
    format!("040000008200E00074C5B7101A82E008{date}000000000000000000000000000000001000000{hex}")
}

/// Percent-decode one path segment (no `+` handling: that is a query-string rule).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// URL-encode a query value.
pub fn qenc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Escape text for HTML.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("<br>\r\n"),
            _ => out.push(c),
        }
    }
    out
}

/// Plain text of an HTML body (tags removed, a few entities decoded, lines kept).
pub fn html_to_text(html: &str) -> String {
    let body = match (html.find("<body"), html.rfind("</body>")) {
        (Some(s), Some(e)) if s < e => match html[s..].find('>') {
            Some(gt) => &html[s + gt + 1..e],
            None => html,
        },
        _ => html,
    };
    let mut out = String::with_capacity(body.len());
    let mut in_tag = false;
    let mut tag = String::new();
    for c in body.chars() {
        if in_tag {
            if c == '>' {
                in_tag = false;
                let t = tag.to_ascii_lowercase();
                if t.starts_with("br") || t.starts_with("/p") || t.starts_with("/div") {
                    out.push_str("\r\n");
                }
                tag.clear();
            } else {
                tag.push(c);
            }
        } else if c == '<' {
            in_tag = true;
        } else if c != '\r' && c != '\n' {
            out.push(c);
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .trim()
        .to_string()
}

/// A stable GUID-shaped id derived from a string (service principal ids and the like).
pub fn derived_guid(s: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h1 = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h1);
    let a = h1.finish();
    let mut h2 = std::collections::hash_map::DefaultHasher::new();
    (s, 7u8).hash(&mut h2);
    let b = h2.finish();
    let bytes = ((a as u128) << 64 | b as u128).to_be_bytes();
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

/// A random GUID string (request ids), without a system call per id.
pub fn guid() -> String {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_digits() {
        let t = NaiveDateTime::parse_from_str("2017-04-15T11:00:00", "%Y-%m-%dT%H:%M:%S").unwrap();
        assert_eq!(fmt_local(t), "2017-04-15T11:00:00.0000000");
    }

    #[test]
    fn ids_round_trip() {
        let key = [7u8; 16];
        let id = make_item_id(&key);
        assert!(id.starts_with("AAMkAG"));
        // Graph's ids are about 150 characters; clients store and send back that much.
        assert!((140..=160).contains(&id.len()), "{} characters", id.len());
        assert_eq!(parse_id(&id), Some(ParsedId::Item(key)));
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let occ = make_occurrence_id(&key, t);
        assert_eq!(parse_id(&occ), Some(ParsedId::Occurrence(key, t)));
        assert_eq!(parse_id("garbage"), None);
        assert_eq!(parse_id(&id.to_lowercase()), None);
    }
}
