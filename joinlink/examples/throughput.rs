//! Detection throughput over the corpus, the way `hcal-bench join` measures it:
//!
//! ```text
//! cargo run --release -p hcal-joinlink --example throughput [-- ROUNDS]
//! ```
//!
//! Prints one JSON line per figure, in the bench format of DESIGN.md.

use hcal_joinlink::{Detector, corpus};
use std::time::Instant;

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let events = corpus::corpus();
    if events.is_empty() {
        eprintln!("corpus is empty or malformed");
        std::process::exit(1);
    }
    let detector = Detector::default();
    // Warm up (lazy regex tables, allocator).
    let mut joins = 0usize;
    for e in &events {
        joins += usize::from(detector.detect_graph(e).join.is_some());
    }
    let bytes: usize = events.iter().map(|e| e.to_string().len()).sum();
    let start = Instant::now();
    for _ in 0..rounds {
        for e in &events {
            let d = detector.detect_graph(e);
            std::hint::black_box(&d);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let n = (rounds * events.len()) as f64;
    println!(
        "{{\"bench\":\"join\",\"metric\":\"events_per_s\",\"value\":{:.1},\"unit\":\"1/s\",\"events\":{},\"rounds\":{rounds},\"corpus_events\":{},\"corpus_bytes\":{bytes},\"with_join\":{joins}}}",
        n / secs,
        n as u64,
        events.len()
    );
    println!(
        "{{\"bench\":\"join\",\"metric\":\"mean_us_per_event\",\"value\":{:.2},\"unit\":\"us\"}}",
        secs * 1e6 / n
    );
}
