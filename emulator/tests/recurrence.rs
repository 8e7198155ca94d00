//! Recurrence over HTTP (instances, calendarView, exceptions, boundary rule, DST) and
//! property tests of the expansion itself.

mod common;
use chrono::{Datelike, NaiveDate, Weekday};
use common::*;
use hcal_emulator::recurrence::{Recurrence, matches_pattern};
use proptest::prelude::*;
use serde_json::{Value, json};

async fn weekly(env: &Env, tz: &str) -> Value {
    let r = env
        .post(
            &format!("/users/{ALICE}/events"),
            json!({"subject": "Weekly", "start": {"dateTime": "2024-03-04T09:00:00", "timeZone": tz},
                   "end": {"dateTime": "2024-03-04T09:30:00", "timeZone": tz},
                   "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["Monday"]},
                                  "range": {"type": "numbered", "startDate": "2024-03-04", "numberOfOccurrences": 6}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

#[tokio::test]
async fn instances_of_a_weekly_series_across_dst() {
    let env = env().await;
    let master = weekly(&env, "W. Europe Standard Time").await;
    assert_eq!(master["type"], "seriesMaster");
    assert_eq!(master["recurrence"]["pattern"]["firstDayOfWeek"], "sunday");
    assert_eq!(
        master["recurrence"]["range"]["recurrenceTimeZone"],
        "W. Europe Standard Time"
    );
    assert_eq!(master["recurrence"]["range"]["endDate"], "0001-01-01");
    let id = master["id"].as_str().unwrap();
    let r = env
        .get(&format!(
            "/users/{ALICE}/events/{id}/instances?startDateTime=2024-03-01T00:00:00&endDateTime=2024-05-01T00:00:00"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.body["value"].as_array().unwrap();
    assert_eq!(v.len(), 6);
    // 09:00 Amsterdam: 08:00 UTC before 31 March, 07:00 UTC after.
    let starts: Vec<&str> = v.iter().map(|i| i["start"]["dateTime"].as_str().unwrap()).collect();
    assert_eq!(starts[0], "2024-03-04T08:00:00.0000000");
    assert_eq!(starts[3], "2024-03-25T08:00:00.0000000");
    assert_eq!(starts[4], "2024-04-01T07:00:00.0000000");
    for i in v {
        assert_eq!(i["type"], "occurrence");
        assert_eq!(i["seriesMasterId"], id);
        assert_eq!(i["recurrence"], Value::Null);
    }
    assert_ne!(v[0]["iCalUId"], v[1]["iCalUId"]);
    // Missing window.
    let e = env.get(&format!("/users/{ALICE}/events/{id}/instances")).await;
    assert_eq!(
        (e.status, e.body["error"]["code"].as_str()),
        (400, Some("ErrorInvalidParameter"))
    );
    // An occurrence can be fetched by id.
    let occ = v[2]["id"].as_str().unwrap();
    let g = env.get(&format!("/users/{ALICE}/events/{occ}")).await;
    assert_eq!(g.body["type"], "occurrence");
    assert_eq!(g.body["start"], v[2]["start"]);
}

#[tokio::test]
async fn editing_and_cancelling_occurrences_make_exceptions() {
    let env = env().await;
    let master = weekly(&env, "UTC").await;
    let id = master["id"].as_str().unwrap();
    let win = "startDateTime=2024-03-01T00:00:00Z&endDateTime=2024-05-01T00:00:00Z";
    let inst = env
        .get(&format!("/users/{ALICE}/events/{id}/instances?{win}"))
        .await
        .body["value"]
        .as_array()
        .unwrap()
        .clone();
    let second = inst[1]["id"].as_str().unwrap();
    let p = env
        .patch(&format!("/users/{ALICE}/events/{second}"), json!({"subject": "Moved", "start": {"dateTime": "2024-03-12T10:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2024-03-12T10:30:00", "timeZone": "UTC"}}))
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.body["type"], "exception");
    assert_eq!(p.body["id"], second);
    assert_eq!(p.body["seriesMasterId"], id);
    // Crossing onto the next occurrence's day is refused.
    let third = inst[2]["id"].as_str().unwrap();
    let cross = env
        .patch(&format!("/users/{ALICE}/events/{third}"), json!({"start": {"dateTime": "2024-03-25T09:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2024-03-25T09:30:00", "timeZone": "UTC"}}))
        .await;
    assert_eq!(
        (cross.status, cross.body["error"]["code"].as_str()),
        (400, Some("ErrorOccurrenceCrossingBoundary"))
    );
    // Delete one occurrence.
    let fourth = inst[3]["id"].as_str().unwrap();
    assert_eq!(env.delete(&format!("/users/{ALICE}/events/{fourth}")).await.status, 204);
    let after = env
        .get(&format!("/users/{ALICE}/events/{id}/instances?{win}"))
        .await
        .body["value"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(after.len(), 5);
    assert_eq!(after.iter().filter(|i| i["type"] == "exception").count(), 1);
    assert!(after.iter().all(|i| i["id"] != fourth));
    // calendarView: occurrences and exceptions, never the master; /events: the master only.
    let cv = env
        .get(&format!("/users/{ALICE}/calendarView?{win}&$top=50"))
        .await
        .body;
    let cv = cv["value"].as_array().unwrap();
    assert_eq!(cv.len(), 5);
    assert!(cv.iter().all(|i| i["type"] != "seriesMaster"));
    let list = env.get(&format!("/users/{ALICE}/events")).await.body;
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
    assert_eq!(list["value"][0]["type"], "seriesMaster");
}

#[tokio::test]
async fn calendar_view_needs_window_pages_and_reads_offsets() {
    let env = env().await;
    for d in 1..=12 {
        env.create(
            ALICE,
            &format!("d{d}"),
            &format!("2024-06-{d:02}T12:00:00"),
            &format!("2024-06-{d:02}T13:00:00"),
        )
        .await;
    }
    let e = env.get(&format!("/users/{ALICE}/calendarView")).await;
    assert_eq!(e.status, 400);
    assert_eq!(e.body["error"]["code"], "ErrorInvalidParameter");
    let r = env
        .get(&format!(
            "/users/{ALICE}/calendarView?startDateTime=2024-06-01T00:00:00&endDateTime=2024-07-01T00:00:00"
        ))
        .await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 10);
    let next = r.body["@odata.nextLink"].as_str().unwrap();
    let r2 = env.get(next).await;
    assert_eq!(r2.body["value"].as_array().unwrap().len(), 2);
    assert!(r2.body.get("@odata.nextLink").is_none());
    // An offset in the window is honoured: 14:30+02:00 = 12:30Z covers d1 only.
    let r = env
        .http
        .get(env.url(&format!("/users/{ALICE}/calendarView")))
        .query(&[
            ("startDateTime", "2024-06-01T14:30:00+02:00"),
            ("endDateTime", "2024-06-02T00:00:00+00:00"),
        ])
        .bearer_auth(&env.token)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    // createdDateTime cannot be selected on calendarView.
    let s = env
        .get(&format!("/users/{ALICE}/calendarView?startDateTime=2024-06-01T00:00:00&endDateTime=2024-07-01T00:00:00&$select=createdDateTime"))
        .await;
    assert_eq!(s.status, 400);
}

#[tokio::test]
async fn all_six_patterns_expand() {
    let env = env().await;
    let cases = [
        (
            json!({"type": "daily", "interval": 2}),
            json!({"type": "endDate", "startDate": "2024-01-01", "endDate": "2024-01-09"}),
            vec!["2024-01-01", "2024-01-03", "2024-01-05", "2024-01-07", "2024-01-09"],
        ),
        (
            json!({"type": "weekly", "interval": 2, "daysOfWeek": ["tuesday", "thursday"], "firstDayOfWeek": "monday"}),
            json!({"type": "numbered", "startDate": "2024-01-01", "numberOfOccurrences": 4}),
            vec!["2024-01-02", "2024-01-04", "2024-01-16", "2024-01-18"],
        ),
        (
            json!({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31}),
            json!({"type": "numbered", "startDate": "2024-01-01", "numberOfOccurrences": 3}),
            vec!["2024-01-31", "2024-02-29", "2024-03-31"],
        ),
        (
            json!({"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["friday"], "index": "last"}),
            json!({"type": "numbered", "startDate": "2024-01-01", "numberOfOccurrences": 2}),
            vec!["2024-01-26", "2024-02-23"],
        ),
        (
            json!({"type": "absoluteYearly", "interval": 1, "dayOfMonth": 15, "month": 3}),
            json!({"type": "noEnd", "startDate": "2024-01-01"}),
            vec!["2024-03-15", "2025-03-15"],
        ),
        (
            json!({"type": "relativeYearly", "interval": 1, "daysOfWeek": ["monday"], "index": "first", "month": 9}),
            json!({"type": "numbered", "startDate": "2024-01-01", "numberOfOccurrences": 2}),
            vec!["2024-09-02", "2025-09-01"],
        ),
    ];
    for (pattern, range, want) in cases {
        let r = env
            .post(
                &format!("/users/{ALICE}/events"),
                json!({"subject": "p", "start": {"dateTime": format!("{}T09:00:00", want[0]), "timeZone": "UTC"},
                       "end": {"dateTime": format!("{}T10:00:00", want[0]), "timeZone": "UTC"},
                       "recurrence": {"pattern": pattern, "range": range}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.body["id"].as_str().unwrap();
        let inst = env
            .get(&format!("/users/{ALICE}/events/{id}/instances?startDateTime=2024-01-01T00:00:00&endDateTime=2025-12-31T00:00:00&$top=100"))
            .await
            .body;
        let got: Vec<String> = inst["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["start"]["dateTime"].as_str().unwrap()[..10].to_string())
            .collect();
        assert_eq!(got, want, "pattern {pattern}");
    }
    // Required fields per type are enforced.
    let bad = env
        .post(
            &format!("/users/{ALICE}/events"),
            json!({"start": {"dateTime": "2024-01-01T09:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2024-01-01T10:00:00", "timeZone": "UTC"},
                   "recurrence": {"pattern": {"type": "weekly", "interval": 1}, "range": {"type": "noEnd", "startDate": "2024-01-01"}}}),
        )
        .await;
    assert_eq!(bad.status, 400);
}

fn weekday(i: u8) -> Weekday {
    [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ][i as usize % 7]
}

const INDEXES: [&str; 5] = ["first", "second", "third", "fourth", "last"];

fn arb_recurrence() -> impl Strategy<Value = Value> {
    let day = 0u8..7;
    (
        0usize..6,
        1u32..4,
        proptest::collection::vec(day.clone(), 1..4),
        day,
        1u32..32,
        1u32..13,
        0usize..5,
        0i64..800,
        0usize..3,
        1u32..40,
        0i64..400,
    )
        .prop_map(|(pt, interval, days, fdow, dom, month, idx, start_off, rt, n, end_off)| {
            let types = ["daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly"];
            let start = NaiveDate::from_ymd_opt(2023, 1, 1).unwrap() + chrono::Duration::days(start_off);
            let names: Vec<&str> = days.iter().map(|d| hcal_emulator::recurrence::weekday_name(weekday(*d))).collect();
            let range = match rt {
                0 => json!({"type": "numbered", "startDate": start.to_string(), "numberOfOccurrences": n}),
                1 => json!({"type": "endDate", "startDate": start.to_string(), "endDate": (start + chrono::Duration::days(end_off)).to_string()}),
                _ => json!({"type": "noEnd", "startDate": start.to_string()}),
            };
            json!({"pattern": {"type": types[pt], "interval": interval, "daysOfWeek": names,
                                "firstDayOfWeek": hcal_emulator::recurrence::weekday_name(weekday(fdow)),
                                "dayOfMonth": dom, "month": month, "index": INDEXES[idx]},
                   "range": range})
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Every date matches the pattern, dates ascend, count and end date are respected.
    #[test]
    fn expansion_invariants(v in arb_recurrence()) {
        let r = Recurrence::parse(&v, "UTC").expect("valid");
        let horizon = r.start_date + chrono::Duration::days(3000);
        let dates = r.dates(horizon, |_| true);
        for w in dates.windows(2) {
            prop_assert!(w[0] < w[1]);
        }
        for d in &dates {
            prop_assert!(*d >= r.start_date);
            prop_assert!(matches_pattern(&r, *d), "{d} does not match {v}");
        }
        match &r.range {
            hcal_emulator::recurrence::RangeType::Numbered(n) => prop_assert_eq!(dates.len(), *n as usize),
            hcal_emulator::recurrence::RangeType::EndDate(e) => {
                prop_assert!(dates.iter().all(|d| d <= e));
                // Nothing that matches is skipped before the end date.
                let mut d = r.start_date;
                while d <= *e {
                    prop_assert_eq!(matches_pattern(&r, d), dates.contains(&d), "date {}", d);
                    d += chrono::Duration::days(1);
                }
            }
            hcal_emulator::recurrence::RangeType::NoEnd => prop_assert!(dates.iter().all(|d| *d <= horizon)),
        }
    }

    /// Local wall time is stable across DST in the series' zone.
    #[test]
    fn dst_stable_local_time(start_off in 0i64..700, hour in 0u32..24, minute in 0u32..60, zone in 0usize..4) {
        let zones = ["W. Europe Standard Time", "Pacific Standard Time", "AUS Eastern Standard Time", "America/Sao_Paulo"];
        let tz = hcal_emulator::tz::resolve(zones[zone]).unwrap();
        let start = NaiveDate::from_ymd_opt(2023, 1, 2).unwrap() + chrono::Duration::days(start_off);
        let v = json!({"pattern": {"type": "daily", "interval": 7}, "range": {"type": "numbered", "startDate": start.to_string(), "numberOfOccurrences": 60}});
        let r = Recurrence::parse(&v, zones[zone]).unwrap();
        let time = chrono::NaiveTime::from_hms_opt(hour, minute, 0).unwrap();
        for d in r.dates(start + chrono::Duration::days(2000), |_| true) {
            let utc = hcal_emulator::tz::local_to_utc(&tz, d.and_time(time));
            let back = hcal_emulator::tz::utc_to_local(&tz, utc);
            // Either the same wall time, or (inside a DST gap) moved forward by the gap.
            prop_assert!(back == d.and_time(time) || (back - d.and_time(time)) == chrono::Duration::hours(1), "{} -> {}", d.and_time(time), back);
            prop_assert_eq!(back.date().weekday(), d.weekday());
        }
    }
}

#[test]
fn windows_zone_mapping_is_complete() {
    assert!(hcal_emulator::tz::windows_zone_count() >= 139);
    assert_eq!(
        hcal_emulator::tz::resolve("w. europe standard time").unwrap().name(),
        "Europe/Berlin"
    );
    assert_eq!(
        hcal_emulator::tz::resolve("Pacific Standard Time").unwrap().name(),
        "America/Los_Angeles"
    );
    assert_eq!(
        hcal_emulator::tz::resolve("Europe/Amsterdam").unwrap().name(),
        "Europe/Amsterdam"
    );
    assert!(hcal_emulator::tz::resolve("Not A Zone").is_none());
}
