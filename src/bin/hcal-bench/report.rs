//! Benchmark figures as JSON lines on stdout:
//! `{"bench":"log","metric":"append_durable_per_s","value":21034.5,"unit":"1/s"}`;
//! a ratio to a baseline measured in the same run adds `"of":[metric, baseline]`.

use std::io::Write;

pub struct Report {
    bench: &'static str,
}

impl Report {
    pub fn new(bench: &'static str) -> Self {
        Self { bench }
    }

    pub fn figure(&self, metric: &str, value: f64, unit: &str) {
        self.emit(serde_json::json!({"bench": self.bench, "metric": metric, "value": round(value), "unit": unit}));
    }

    pub fn ratio(&self, metric: &str, value: f64, baseline: f64, of: (&str, &str)) {
        let r = if baseline > 0.0 { value / baseline } else { 0.0 };
        self.emit(serde_json::json!({
            "bench": self.bench, "metric": metric, "value": round(r), "unit": "ratio", "of": [of.0, of.1]
        }));
    }

    fn emit(&self, line: serde_json::Value) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// p-th percentile (0..=100) of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}
