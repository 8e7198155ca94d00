//! The Graph client's metrics: what an operator sees for requests, retries,
//! throttling and tokens, labelled by route template only (no ids, no
//! addresses). A process-wide recorder, so this file holds one test.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hcal_actors::graph::{GraphClient, GraphConfig};
use hcal_emulator::seed::{EXAMPLE_ALICE, EXAMPLE_CLIENT, EXAMPLE_SECRET, EXAMPLE_TENANT};
use hcal_emulator::{Emulator, EmulatorConfig, Seed};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use serde_json::json;

#[derive(Default)]
struct Store {
    counters: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    histograms: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
}

struct Count(Arc<AtomicU64>);

impl metrics::CounterFn for Count {
    fn increment(&self, v: u64) {
        self.0.fetch_add(v, Ordering::SeqCst);
    }
    fn absolute(&self, v: u64) {
        self.0.store(v, Ordering::SeqCst);
    }
}

impl metrics::HistogramFn for Count {
    fn record(&self, _: f64) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

struct Nothing;

impl metrics::GaugeFn for Nothing {
    fn increment(&self, _: f64) {}
    fn decrement(&self, _: f64) {}
    fn set(&self, _: f64) {}
}

/// `name{k=v,...}` with labels sorted.
fn render(key: &Key) -> String {
    let mut labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

struct TestRecorder(Arc<Store>);

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let c = self.0.counters.lock().unwrap().entry(render(key)).or_default().clone();
        Counter::from_arc(Arc::new(Count(c)))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::new(Nothing))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let c = self
            .0
            .histograms
            .lock()
            .unwrap()
            .entry(render(key))
            .or_default()
            .clone();
        Histogram::from_arc(Arc::new(Count(c)))
    }
}

fn get(map: &Mutex<BTreeMap<String, Arc<AtomicU64>>>, name: &str) -> u64 {
    map.lock()
        .unwrap()
        .get(name)
        .map(|c| c.load(Ordering::SeqCst))
        .unwrap_or(0)
}

#[tokio::test]
async fn requests_retries_throttling_and_tokens_are_counted_by_route() {
    let store = Arc::new(Store::default());
    metrics::set_global_recorder(TestRecorder(store.clone())).unwrap();

    let emu = Emulator::start(Seed::example(), EmulatorConfig::default())
        .await
        .unwrap();
    let id = emu
        .insert_events(
            "alice@contoso.example",
            &[
                json!({"subject": "s", "start": {"dateTime": "2024-05-02T09:00:00", "timeZone": "UTC"},
                      "end": {"dateTime": "2024-05-02T09:30:00", "timeZone": "UTC"}}),
            ],
        )
        .unwrap()
        .remove(0);
    let mut cfg = GraphConfig::new(EXAMPLE_CLIENT, EXAMPLE_SECRET).with_base_url(&emu.base_url());
    cfg.max_retries = 1;
    let graph = GraphClient::new(cfg).unwrap();
    graph.get_event(EXAMPLE_TENANT, EXAMPLE_ALICE, &id).await.unwrap();
    let _ = graph.get_event(EXAMPLE_TENANT, EXAMPLE_ALICE, "AAMkAGnotthere").await;
    let faults = reqwest::Client::new();
    faults
        .post(format!("{}/_emulator/faults", emu.base_url()))
        .json(&json!({"throttle_rate": 1.0, "retry_after_secs": 1}))
        .send()
        .await
        .unwrap();
    let _ = graph.get_event(EXAMPLE_TENANT, EXAMPLE_ALICE, &id).await;

    let route = "route=/users/{user}/events/{id}";
    let c = |n: &str| get(&store.counters, n);
    assert_eq!(
        c(&format!("hcal_graph_requests_total{{method=GET,{route},status=2xx}}")),
        1
    );
    assert_eq!(
        c(&format!("hcal_graph_requests_total{{method=GET,{route},status=4xx}}")),
        1
    );
    assert_eq!(
        c(&format!("hcal_graph_requests_total{{method=GET,{route},status=429}}")),
        2
    );
    assert_eq!(c(&format!("hcal_graph_throttled_total{{{route}}}")), 2);
    assert_eq!(c(&format!("hcal_graph_retries_total{{reason=throttled,{route}}}")), 1);
    assert_eq!(c("hcal_graph_token_requests_total{outcome=ok}"), 1);
    assert_eq!(
        get(
            &store.histograms,
            &format!("hcal_graph_request_duration_seconds{{method=GET,{route}}}")
        ),
        4
    );
    // No label carries an id, an address or a tenant.
    let names: Vec<String> = store.counters.lock().unwrap().keys().cloned().collect();
    for n in &names {
        assert!(
            !n.contains("alice") && !n.contains(EXAMPLE_ALICE) && !n.contains(&id) && !n.contains(EXAMPLE_TENANT),
            "{n}"
        );
    }
}
