//! The demo's model of a meeting list: each meeting reduced to what the
//! scenario checks (times, subject, cancellation, join target), read from
//! the node's API shape, and compared exactly. A difference is described by
//! counts, times and codes only, never by a subject or address.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// One meeting as a list shows it, reduced to what the scenario checks.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listed {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub subject: String,
    pub cancelled: bool,
    /// The join target's provider (`teams`), if one was found.
    pub join: Option<String>,
    /// Why there is (or is not) a join target: `join_link_found`, `keyword_in_location`, ...
    pub explanation: Option<String>,
    /// In the model only: any join target will do (a keyword meeting may or may not
    /// have been given join details yet).
    pub any_join: bool,
}

impl Listed {
    pub fn from_list(item: &Value) -> Result<Listed, String> {
        let time = |k: &str| {
            item[k]
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.with_timezone(&Utc))
                .ok_or_else(|| format!("a listed meeting has no readable `{k}`"))
        };
        Ok(Listed {
            start: time("start")?,
            end: time("end")?,
            subject: item["subject"].as_str().unwrap_or_default().to_string(),
            cancelled: item["is_cancelled"].as_bool().unwrap_or(false),
            join: item["join"]["provider"].as_str().map(str::to_string),
            explanation: item["explanation"].as_str().map(str::to_string),
            any_join: false,
        })
    }
}

/// `Ok` if `actual` shows exactly `expected` (in any order); else what differs,
/// in counts and times only.
pub fn compare(label: &str, expected: &[Listed], actual: &[Listed]) -> Result<(), String> {
    let mut want: Vec<Listed> = expected
        .iter()
        .map(|w| {
            let mut w = w.clone();
            if w.any_join {
                let same = |a: &&Listed| (a.start, a.end, &a.subject) == (w.start, w.end, &w.subject);
                w.join = actual.iter().find(same).and_then(|a| a.join.clone());
                w.any_join = false;
            }
            w
        })
        .collect();
    let mut got = actual.to_vec();
    want.sort();
    got.sort();
    if want == got {
        return Ok(());
    }
    if want.len() != got.len() {
        return Err(format!(
            "{label}'s list shows {} meetings where {} are expected",
            got.len(),
            want.len()
        ));
    }
    let count = |l: &[Listed]| {
        let mut c: BTreeMap<DateTime<Utc>, usize> = BTreeMap::new();
        for m in l {
            *c.entry(m.start).or_default() += 1;
        }
        c
    };
    let (cw, cg) = (count(&want), count(&got));
    if let Some(t) = cw.keys().find(|t| cw.get(*t) != cg.get(*t)) {
        return Err(format!(
            "{label}'s list has no meeting at {} UTC where one is expected",
            t.format("%Y-%m-%d %H:%M")
        ));
    }
    let differs = want.iter().zip(got.iter()).find(|(w, g)| w != g);
    match differs {
        Some((w, g)) => {
            let what = if w.end != g.end {
                "its end"
            } else if w.cancelled != g.cancelled {
                "whether it is cancelled"
            } else if w.join != g.join || w.explanation != g.explanation {
                "its join target"
            } else {
                "its subject"
            };
            Err(format!(
                "{label}'s meeting at {} UTC differs in {what} (join: {}, explanation: {})",
                w.start.format("%Y-%m-%d %H:%M"),
                g.join.as_deref().unwrap_or("none"),
                g.explanation.as_deref().unwrap_or("none")
            ))
        }
        None => Err(format!("{label}'s list differs from what is expected")),
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use serde_json::json;

    use super::*;

    fn item(hour: u32, subject: &str) -> Listed {
        let day = NaiveDate::from_ymd_opt(2030, 1, 7).unwrap_or_default();
        let at = |h: u32| day.and_hms_opt(h, 0, 0).unwrap_or_default().and_utc();
        Listed {
            start: at(hour),
            end: at(hour + 1),
            subject: subject.into(),
            cancelled: false,
            join: None,
            explanation: Some("no_link".into()),
            any_join: false,
        }
    }

    #[test]
    fn lists_compare_in_any_order_and_failures_name_no_subject() {
        let want = [item(9, "Secret A"), item(11, "Secret B")];
        assert_eq!(compare("alice", &want, &[want[1].clone(), want[0].clone()]), Ok(()));

        let short = compare("alice", &want, &want[..1]).expect_err("one missing");
        assert_eq!(short, "alice's list shows 1 meetings where 2 are expected");

        let moved = compare("alice", &want, &[item(9, "Secret A"), item(12, "Secret B")]).expect_err("moved");
        assert!(moved.contains("11:00"), "{moved}");

        let mut renamed = want.to_vec();
        renamed[1].subject = "Secret C".into();
        let why = compare("alice", &want, &renamed).expect_err("renamed");
        assert!(why.contains("subject") && !why.contains("Secret"), "{why}");

        let mut teams = want.to_vec();
        teams[0].join = Some("teams".into());
        let why = compare("alice", &want, &teams).expect_err("join differs");
        assert!(why.contains("join target"), "{why}");

        // A keyword meeting takes whatever join target it has, but nothing else may differ.
        let mut keyword = want.to_vec();
        keyword[0].any_join = true;
        assert_eq!(compare("alice", &keyword, &teams), Ok(()));
        teams[0].explanation = Some("join_link_found".into());
        assert!(compare("alice", &keyword, &teams).is_err());
    }

    #[test]
    fn a_list_item_is_read_from_the_api_shape() {
        let v = json!({"start": "2030-01-07T09:00:00.000Z", "end": "2030-01-07T10:00:00.000Z",
                       "subject": "S", "is_cancelled": true, "join": {"provider": "teams", "uri": "x"},
                       "explanation": "join_link_found"});
        let l = Listed::from_list(&v).expect("readable");
        assert!(l.cancelled);
        assert_eq!(l.join.as_deref(), Some("teams"));
        assert_eq!(l.start.to_rfc3339(), "2030-01-07T09:00:00+00:00");
        assert!(Listed::from_list(&json!({"subject": "S"})).is_err());
    }
}
