//! `hcal-bench join`: join-link detection throughput over the invitation
//! corpus (`hcal_joinlink::corpus`, real formats of Teams, Zoom, Webex,
//! Google Meet, SIP, SafeLinks-wrapped and keyword cases), repeated until
//! `--events` detections have run, on one thread, as a mailbox does it:
//! `Detector::detect_graph` on the Graph event JSON. Each detection is
//! timed too (`detect_us_p50/_p99/_max`). The baseline in the same run is
//! parsing the same events' JSON text into a `serde_json::Value` (work any
//! consumer of a Graph GET does anyway), to put detection's cost in scale.
//!
//! The end-to-end part (notification received to PATCH, at a paced rate of
//! keyword meetings) is `decorate.rs`.

use std::hint::black_box;
use std::time::Instant;

use hcal_joinlink::corpus::corpus;
use hcal_joinlink::{Detector, DetectorConfig};

use crate::report::{Report, percentile};

pub struct JoinBench {
    /// Detections run (the corpus repeated).
    pub events: usize,
}

pub fn run(args: &JoinBench, report: &Report) -> Result<(), String> {
    let events = corpus();
    if events.is_empty() {
        return Err("the joinlink corpus is empty".into());
    }
    let texts: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    let detector = Detector::from_config(DetectorConfig::default(), None).map_err(|e| e.to_string())?;
    let body_bytes: usize = events
        .iter()
        .map(|e| e["body"]["content"].as_str().map_or(0, str::len))
        .sum();
    let rounds = args.events.div_ceil(events.len()).max(1);
    let n = rounds * events.len();

    // Warm-up: one pass over the corpus.
    let mut found = 0usize;
    for e in &events {
        found += usize::from(black_box(detector.detect_graph(e)).join.is_some());
    }

    // Throughput: untimed inner loop.
    let started = Instant::now();
    for _ in 0..rounds {
        for e in &events {
            black_box(detector.detect_graph(black_box(e)));
        }
    }
    let detect_s = started.elapsed().as_secs_f64();

    // Per detection: each timed on its own (the clock reads add a little).
    let mut each = Vec::with_capacity(n);
    for _ in 0..rounds {
        for e in &events {
            let t = Instant::now();
            black_box(detector.detect_graph(black_box(e)));
            each.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    each.sort_by(f64::total_cmp);

    // Baseline: parse the same events' JSON text.
    let started = Instant::now();
    for _ in 0..rounds {
        for t in &texts {
            let v: serde_json::Value = serde_json::from_str(black_box(t)).map_err(|e| e.to_string())?;
            black_box(v);
        }
    }
    let parse_s = started.elapsed().as_secs_f64();

    let detect_rate = n as f64 / detect_s;
    let parse_rate = n as f64 / parse_s;
    report.figure("detect_events_per_s", detect_rate, "1/s");
    report.figure("detect_us_p50", percentile(&each, 50.0), "us");
    report.figure("detect_us_p99", percentile(&each, 99.0), "us");
    report.figure("detect_us_max", each.last().copied().unwrap_or(0.0), "us");
    report.figure(
        "detect_body_mib_per_s",
        (body_bytes * rounds) as f64 / detect_s / (1024.0 * 1024.0),
        "MiB/s",
    );
    report.figure("parse_json_events_per_s", parse_rate, "1/s");
    report.ratio(
        "detect_vs_parse_json",
        detect_rate,
        parse_rate,
        ("detect_events_per_s", "parse_json_events_per_s"),
    );
    report.figure("corpus_events", events.len() as f64, "events");
    report.figure("corpus_events_with_join", found as f64, "events");
    report.figure(
        "corpus_mean_body_bytes",
        body_bytes as f64 / events.len() as f64,
        "bytes",
    );
    report.figure("detections", n as f64, "events");
    Ok(())
}
