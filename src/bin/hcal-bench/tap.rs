//! A metrics recorder for benchmarks that run the node in-process: it is
//! installed before the node starts (so the node's own Prometheus recorder
//! is not, and the node's `/metrics` stays empty in that process) and keeps
//! what the benchmark reads, exactly rather than as the exporter's rolling
//! summary: the total of every counter (labels summed), the time of every
//! increment of `hcal_notifications_applied_total` and of
//! `hcal_mailbox_events_appended_total`, and every sample of the
//! `hcal_notification_to_applied_seconds` and of the
//! `hcal_join_notification_to_patch_seconds` histograms. Gauges and other
//! histograms are dropped. Times and samples are kept only while recording
//! is on (from install); a benchmark turns it off while it reads the node's
//! memory, which they would otherwise add to as the node works.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};

pub const APPLIED: &str = "hcal_notifications_applied_total";
pub const APPLIED_LATENCY: &str = "hcal_notification_to_applied_seconds";
pub const EVENTS_APPENDED: &str = "hcal_mailbox_events_appended_total";
pub const PATCH_LATENCY: &str = "hcal_join_notification_to_patch_seconds";

pub type Stamps = Arc<Mutex<Vec<(Instant, u64)>>>;

pub struct Tap {
    /// Whether times and samples are kept (totals always are).
    recording: Arc<AtomicBool>,
    counters: Mutex<HashMap<String, Counter>>,
    totals: Mutex<HashMap<String, Arc<AtomicU64>>>,
    /// (when, how many) of each increment of [`APPLIED`].
    pub applied: Stamps,
    /// (when, how many) of each increment of [`EVENTS_APPENDED`].
    pub appended: Stamps,
    /// (when, seconds) of each sample of [`APPLIED_LATENCY`].
    pub latency: Arc<Mutex<Vec<(Instant, f64)>>>,
    /// (when, seconds) of each sample of [`PATCH_LATENCY`].
    pub patch_latency: Arc<Mutex<Vec<(Instant, f64)>>>,
}

impl Default for Tap {
    fn default() -> Self {
        Self {
            recording: Arc::new(AtomicBool::new(true)),
            counters: Mutex::default(),
            totals: Mutex::default(),
            applied: Stamps::default(),
            appended: Stamps::default(),
            latency: Arc::default(),
            patch_latency: Arc::default(),
        }
    }
}

impl Tap {
    /// Keep times and samples from now on, or stop keeping them.
    pub fn record(&self, on: bool) {
        self.recording.store(on, Ordering::Relaxed);
    }

    /// A counter's total so far (0 if never incremented).
    pub fn total(&self, name: &str) -> u64 {
        self.totals
            .lock()
            .ok()
            .and_then(|m| m.get(name).map(|t| t.load(Ordering::Relaxed)))
            .unwrap_or(0)
    }
}

struct CounterTap {
    total: Arc<AtomicU64>,
    stamps: Option<(Stamps, Arc<AtomicBool>)>,
}

impl CounterFn for CounterTap {
    fn increment(&self, value: u64) {
        self.total.fetch_add(value, Ordering::Relaxed);
        if let Some((s, recording)) = &self.stamps
            && recording.load(Ordering::Relaxed)
            && let Ok(mut v) = s.lock()
        {
            v.push((Instant::now(), value));
        }
    }

    fn absolute(&self, value: u64) {
        self.total.fetch_max(value, Ordering::Relaxed);
    }
}

struct HistogramTap(Arc<Mutex<Vec<(Instant, f64)>>>, Arc<AtomicBool>);

impl HistogramFn for HistogramTap {
    fn record(&self, value: f64) {
        if self.1.load(Ordering::Relaxed)
            && let Ok(mut v) = self.0.lock()
        {
            v.push((Instant::now(), value));
        }
    }
}

struct TapRecorder(Arc<Tap>);

impl Recorder for TapRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let name = key.name();
        let Ok(mut counters) = self.0.counters.lock() else {
            return Counter::noop();
        };
        if let Some(c) = counters.get(name) {
            return c.clone();
        }
        let total = Arc::new(AtomicU64::new(0));
        if let Ok(mut t) = self.0.totals.lock() {
            t.insert(name.to_string(), total.clone());
        }
        let stamps = match name {
            APPLIED => Some(self.0.applied.clone()),
            EVENTS_APPENDED => Some(self.0.appended.clone()),
            _ => None,
        }
        .map(|s| (s, self.0.recording.clone()));
        let c = Counter::from_arc(Arc::new(CounterTap { total, stamps }));
        counters.insert(name.to_string(), c.clone());
        c
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        match key.name() {
            APPLIED_LATENCY => {
                Histogram::from_arc(Arc::new(HistogramTap(self.0.latency.clone(), self.0.recording.clone())))
            }
            PATCH_LATENCY => Histogram::from_arc(Arc::new(HistogramTap(
                self.0.patch_latency.clone(),
                self.0.recording.clone(),
            ))),
            _ => Histogram::noop(),
        }
    }
}

/// Installs the tap as the process's recorder (once) and returns it; `None`
/// if another recorder was installed first.
pub fn install() -> Option<Arc<Tap>> {
    static TAP: OnceLock<Option<Arc<Tap>>> = OnceLock::new();
    TAP.get_or_init(|| {
        let tap = Arc::new(Tap::default());
        metrics::set_global_recorder(TapRecorder(tap.clone())).ok()?;
        Some(tap)
    })
    .clone()
}
