//! Measure GET-event requests per second with keep-alive from one client:
//! `cargo run --release -p hcal-emulator --example bench_get [-- SECONDS]`.
//! Prints one JSON line in hcal-bench's format. On this 2-vCPU VM the figure depends on
//! whether the client and the emulator worker share a core (cross-vCPU wake-ups are slow and
//! vary); `--pin` puts the client and the emulator's worker on CPU 0 (as `taskset -c 0` does
//! for the whole process) for the stable, server-bound figure.

use hcal_emulator::seed::EXAMPLE_CLIENT;
use hcal_emulator::{EmulatorConfig, EmulatorHandle, Seed};
use serde_json::json;
use std::io::{BufRead, Read, Write};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pin = args.iter().any(|a| a == "--pin");
    let secs: f64 = args.iter().find_map(|s| s.parse().ok()).unwrap_or(5.0);
    let emu = EmulatorHandle::spawn_thread(
        Seed::example(),
        EmulatorConfig {
            throttle_requests: u32::MAX,
            workers: std::env::var("BENCH_WORKERS")
                .ok()
                .and_then(|w| w.parse().ok())
                .unwrap_or(2),
            cpu_affinity: pin.then_some(0),
            ..Default::default()
        },
    )?;
    let token = emu.issue_token("contoso.example", EXAMPLE_CLIENT).ok_or("no token")?;
    let ids = emu.insert_sample_events("alice@contoso.example", 100)?;
    let mut urls: Vec<String> = ids
        .iter()
        .map(|id| format!("{}/users/alice@contoso.example/events/{id}", emu.graph_url()))
        .collect();
    if std::env::var("BENCH_HEALTH").is_ok() {
        // Baseline: the cheapest route, to see what the client and HTTP stack cost.
        urls = vec![format!("{}/_emulator/health", emu.base_url())];
    }
    // One client, one keep-alive connection, plain HTTP/1.1 over a blocking socket, so that
    // the figure measures the emulator rather than a client library.
    if pin {
        hcal_emulator::pin_current_thread(0);
    }
    let addr = emu.addr();
    let stream = std::net::TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = std::io::BufReader::new(stream);
    let paths: Vec<String> = urls
        .iter()
        .map(|u| u.trim_start_matches(&emu.base_url()).to_string())
        .collect();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut n = 0u64;
    let mut line = String::new();
    let mut body = Vec::new();
    while Instant::now() < deadline {
        let path = &paths[n as usize % paths.len()];
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n");
        writer.write_all(request.as_bytes())?;
        let mut len = 0usize;
        let mut status_ok = false;
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            if line.starts_with("HTTP/1.1 ") {
                status_ok = line.starts_with("HTTP/1.1 200");
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse()?;
            }
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        if !status_ok {
            return Err(format!("unexpected response on request {n}").into());
        }
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
        n += 1;
    }
    let elapsed = start.elapsed();
    let rate = n as f64 / elapsed.as_secs_f64();
    println!(
        "{}",
        json!({"bench": "emulator", "metric": if pin { "get_event_per_s_pinned" } else { "get_event_per_s" }, "value": (rate * 10.0).round() / 10.0, "unit": "1/s"})
    );
    emu.stop_blocking();
    Ok(())
}
