//! `hcal-bench emulator`: GET-event requests per second that the Graph
//! emulator answers to one client over one keep-alive connection, so that
//! we know the emulator is not what limits hcal's own benchmarks (target:
//! at least 15,000 GET/s on the 2-vCPU bench machine).
//!
//! The client is plain HTTP/1.1 over a blocking socket (no client library
//! in the figure). Two runs, each against a fresh emulator:
//! - pinned: the emulator's workers and the client thread on CPU 0, so a
//!   request and its answer never cross vCPUs (the server-bound figure);
//! - unpinned: the scheduler places both as it likes; on small VMs the
//!   cross-vCPU wake-ups cost more than the request itself and vary.
//!
//! Each request's round trip is timed too (`_us_p50/_p99/_max`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hcal_emulator::seed::EXAMPLE_CLIENT;
use hcal_emulator::{EmulatorConfig, EmulatorHandle, Seed};

use crate::report::{Report, percentile};

pub struct EmulatorBench {
    pub seconds: f64,
}

const USER: &str = "alice@contoso.example";

/// Requests answered and their round trips (µs).
struct Run {
    requests: u64,
    elapsed: Duration,
    round_trips_us: Vec<f64>,
}

/// One emulator, 100 sample events, one keep-alive client for `seconds`.
fn measure(seconds: f64, pin: bool) -> Result<Run, String> {
    let emu = EmulatorHandle::spawn_thread(
        Seed::example(),
        EmulatorConfig {
            throttle_requests: u32::MAX,
            cpu_affinity: pin.then_some(0),
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let token = emu
        .issue_token("contoso.example", EXAMPLE_CLIENT)
        .ok_or("the emulator issued no token")?;
    let ids = emu.insert_sample_events(USER, 100).map_err(|e| e.to_string())?;
    let addr = emu.addr();
    let requests: Vec<Vec<u8>> = ids
        .iter()
        .map(|id| {
            format!(
                "GET /v1.0/users/{USER}/events/{id} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
            )
            .into_bytes()
        })
        .collect();
    // The client gets a thread of its own, so pinning it leaves the caller as it was.
    let client = std::thread::spawn(move || -> Result<Run, String> {
        if pin && !hcal_emulator::pin_current_thread(0) {
            return Err("could not pin the client thread to CPU 0".into());
        }
        let stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        let mut body = Vec::new();
        let mut round_trips_us = Vec::with_capacity(200_000);
        // A short warm-up: connection, first allocations, caches.
        let warm_until = Instant::now() + Duration::from_millis(200);
        let mut n = 0u64;
        let mut started = None;
        let deadline = Instant::now() + Duration::from_millis(200) + Duration::from_secs_f64(seconds);
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            if started.is_none() && now >= warm_until {
                started = Some((now, n));
            }
            let t = Instant::now();
            writer
                .write_all(&requests[n as usize % requests.len()])
                .map_err(|e| e.to_string())?;
            let mut len = 0usize;
            let mut ok = false;
            loop {
                line.clear();
                reader.read_line(&mut line).map_err(|e| e.to_string())?;
                if line.starts_with("HTTP/1.1 ") {
                    ok = line.starts_with("HTTP/1.1 200");
                }
                if line.len() > 15 && line.as_bytes()[..15].eq_ignore_ascii_case(b"content-length:") {
                    len = line[15..]
                        .trim()
                        .parse()
                        .map_err(|_| "bad content-length".to_string())?;
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            if !ok {
                return Err(format!("request {n} was not answered 200"));
            }
            body.resize(len, 0);
            reader.read_exact(&mut body).map_err(|e| e.to_string())?;
            if started.is_some() {
                round_trips_us.push(t.elapsed().as_secs_f64() * 1e6);
            }
            n += 1;
        }
        let (t0, n0) = started.ok_or("the run ended during warm-up")?;
        Ok(Run {
            requests: n - n0,
            elapsed: t0.elapsed(),
            round_trips_us,
        })
    });
    let run = client.join().map_err(|_| "the client thread panicked".to_string())?;
    emu.stop_blocking();
    run
}

pub fn run(args: &EmulatorBench, report: &Report) -> Result<(), String> {
    let mut rates = Vec::new();
    for (pin, name) in [(true, "pinned"), (false, "unpinned")] {
        let mut r = measure(args.seconds, pin)?;
        let rate = r.requests as f64 / r.elapsed.as_secs_f64();
        rates.push(rate);
        report.figure(&format!("get_event_per_s_{name}"), rate, "1/s");
        r.round_trips_us.sort_by(f64::total_cmp);
        let rt = &r.round_trips_us;
        report.figure(&format!("get_event_us_{name}_p50"), percentile(rt, 50.0), "us");
        report.figure(&format!("get_event_us_{name}_p99"), percentile(rt, 99.0), "us");
        report.figure(
            &format!("get_event_us_{name}_max"),
            rt.last().copied().unwrap_or(0.0),
            "us",
        );
        report.figure(&format!("requests_{name}"), r.requests as f64, "requests");
    }
    report.ratio(
        "unpinned_vs_pinned",
        rates[1],
        rates[0],
        ("get_event_per_s_unpinned", "get_event_per_s_pinned"),
    );
    Ok(())
}
