//! Bad input never makes the emulator answer 5xx or stop: arbitrary JSON bodies, ids,
//! paths and query strings get Graph-shaped 4xx errors (or succeed).

mod common;
use common::ALICE;
use hcal_emulator::seed::EXAMPLE_CLIENT;
use hcal_emulator::{EmulatorConfig, EmulatorHandle, Seed};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::OnceLock;

struct Fixture {
    emu: EmulatorHandle,
    token: String,
    id: String,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let emu = EmulatorHandle::spawn_thread(
            Seed::example(),
            EmulatorConfig {
                throttle_requests: u32::MAX,
                ..Default::default()
            },
        )
        .unwrap();
        let token = emu.issue_token("contoso.example", EXAMPLE_CLIENT).unwrap();
        let id = emu.insert_sample_events(ALICE, 1).unwrap().remove(0);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Fixture {
            emu,
            token,
            id,
            rt,
            http: reqwest::Client::new(),
        }
    })
}

fn call(method: &str, path: &str, body: Option<String>) -> (u16, Value) {
    let f = fixture();
    f.rt.block_on(async {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = f
            .http
            .request(m, format!("{}{}", f.emu.graph_url(), path))
            .bearer_auth(&f.token);
        if let Some(b) = body {
            rb = rb.header("Content-Type", "application/json").body(b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    })
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z0-9 :\\-T.{}]{0,24}".prop_map(Value::from),
        Just(json!("2024-05-01T09:00:00")),
        Just(json!("W. Europe Standard Time")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("subject".to_string()),
                    Just("start".to_string()),
                    Just("end".to_string()),
                    Just("dateTime".to_string()),
                    Just("timeZone".to_string()),
                    Just("recurrence".to_string()),
                    Just("pattern".to_string()),
                    Just("range".to_string()),
                    Just("type".to_string()),
                    Just("attendees".to_string()),
                    Just("location".to_string()),
                    Just("body".to_string()),
                    Just("singleValueExtendedProperties".to_string()),
                    "[a-z]{1,8}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn assert_graph_error_or_success(status: u16, body: &Value) -> Result<(), TestCaseError> {
    prop_assert!(status < 500, "status {status}: {body}");
    if status >= 400 {
        prop_assert!(body["error"]["code"].is_string(), "error body {body}");
        prop_assert!(body["error"]["message"].is_string());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn arbitrary_event_bodies(body in arb_json(), patch in any::<bool>()) {
        let f = fixture();
        let (status, v) = if patch {
            call("PATCH", &format!("/users/{ALICE}/events/{}", f.id), Some(body.to_string()))
        } else {
            call("POST", &format!("/users/{ALICE}/events"), Some(body.to_string()))
        };
        assert_graph_error_or_success(status, &v)?;
    }

    #[test]
    fn arbitrary_ids_paths_and_queries(id in "[A-Za-z0-9+/=_%-]{0,40}", q in "[a-zA-Z$=&%:+ 0-9-]{0,40}") {
        for path in [
            format!("/users/{ALICE}/events/{id}"),
            format!("/users/{ALICE}/events/{id}/instances?{q}"),
            format!("/users/{ALICE}/calendarView?{q}"),
            format!("/users/{ALICE}/calendarView/delta?{q}"),
            format!("/users/{id}/events?{q}"),
            format!("/subscriptions/{id}"),
        ] {
            let (status, v) = call("GET", &path, None);
            assert_graph_error_or_success(status, &v)?;
        }
        let (status, v) = call("POST", "/$batch", Some(format!("{{\"requests\":[{{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/users/{ALICE}/events/{id}?{q}\"}}]}}")));
        assert_graph_error_or_success(status, &v)?;
    }

    #[test]
    fn malformed_json_text(text in ".{0,60}") {
        let (status, v) = call("POST", &format!("/users/{ALICE}/events"), Some(text));
        assert_graph_error_or_success(status, &v)?;
    }
}
