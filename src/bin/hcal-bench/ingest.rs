//! `hcal-bench ingest`: Graph change notifications from HTTP request to the
//! durable inbox to 202, with N concurrent senders of 10-notification
//! batches, against raw sled inserts of the same inbox keys and values,
//! flushed and fsynced as often as hcal's group commit did in the same run.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hcal::node::NodeHandle;
use hcal_actors::log::layout::INBOX;
use hcal_emulator::{EmulatorConfig, EmulatorHandle, Seed};
use serde_json::{Value, json};

use crate::baseline;
use crate::report::{Report, percentile};
use crate::world::{self, Bench, json_of};

pub struct IngestBench {
    pub senders: usize,
    pub seconds: u64,
}

/// Connects the org, enables alice, and returns her subscription's id and clientState.
async fn setup(bench: &Bench) -> Result<(String, String), String> {
    bench.connect().await?;
    bench.enable_address("alice@contoso.example").await?;
    for _ in 0..100 {
        let subs = json_of(bench.http.get(format!("{}/_emulator/subscriptions", bench.emulator))).await?;
        if let Some(s) = subs["value"].as_array().and_then(|v| v.first()) {
            let id = s["id"].as_str().unwrap_or_default().to_string();
            let cs = s["clientState"].as_str().unwrap_or_default().to_string();
            return Ok((id, cs));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("no subscription was created".into())
}

fn batch(sub: &str, cs: &str, sender: usize, n: u64) -> Value {
    let value: Vec<Value> = (0..10)
        .map(|i| {
            let id = format!("AAMkAGI2TGuLAAA-bench-{sender:03}-{n:08}-{i}");
            json!({"subscriptionId": sub, "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z", "clientState": cs,
                   "changeType": "updated", "tenantId": "6e1c3a52-2b1f-4c1e-9a57-6d3f0e1b7a01",
                   "resource": format!("Users/2f1a0c3e-7d4b-4f6a-9c1e-0b2d3f4a5c6d/Events/{id}"),
                   "resourceData": {"@odata.type": "#Microsoft.Graph.Event",
                                    "@odata.id": format!("Users/2f1a0c3e-7d4b-4f6a-9c1e-0b2d3f4a5c6d/Events/{id}"),
                                    "@odata.etag": "W/\"DwAAABYAAAAT0ehOzZ8aSp9j0xrXwmeZAAAP5JzU\"", "id": id}})
        })
        .collect();
    json!({ "value": value })
}

pub fn run(args: &IngestBench, report: &Report) -> Result<(), String> {
    let dir = baseline::scratch()?;
    let emulator =
        EmulatorHandle::spawn_thread(Seed::example(), EmulatorConfig::default()).map_err(|e| e.to_string())?;
    let config = world::config(&emulator.base_url(), &dir)?;
    let node = NodeHandle::spawn(config).map_err(|e| e.to_string())?;
    let node_url = node.url();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let log = node.state.store.log.clone();
    let stats = || log.stats();
    let (notifications, latencies, syncs, sides, elapsed) = rt.block_on(async {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(args.senders)
            .build()
            .map_err(|e| e.to_string())?;
        let bench = Bench::new(node_url.clone(), emulator.base_url(), 16)?;
        let (sub, cs) = setup(&bench).await?;
        let syncs0 = stats().syncs.load(Ordering::Relaxed);
        let sides0 = stats().side_writes.load(Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(args.seconds);
        let started = Instant::now();
        let sub = Arc::new((sub, cs));
        let mut tasks = Vec::new();
        for sender in 0..args.senders {
            let (http, sub, url) = (http.clone(), sub.clone(), format!("{node_url}/graph/notifications"));
            tasks.push(tokio::spawn(async move {
                let mut acked = 0u64;
                let mut lat = Vec::new();
                let mut n = 0;
                while Instant::now() < deadline {
                    let body = batch(&sub.0, &sub.1, sender, n);
                    n += 1;
                    let t = Instant::now();
                    match http.post(&url).json(&body).send().await {
                        Ok(r) if r.status().as_u16() == 202 => {
                            acked += 10;
                            lat.push(t.elapsed().as_secs_f64() * 1000.0);
                        }
                        _ => {}
                    }
                }
                (acked, lat)
            }));
        }
        let mut total = 0;
        let mut latencies = Vec::new();
        for t in tasks {
            let (a, l) = t.await.map_err(|e| e.to_string())?;
            total += a;
            latencies.extend(l);
        }
        let elapsed = started.elapsed().as_secs_f64();
        let syncs = stats().syncs.load(Ordering::Relaxed) - syncs0;
        let sides = stats().side_writes.load(Ordering::Relaxed) - sides0;
        Ok::<_, String>((total, latencies, syncs, sides, elapsed))
    })?;
    let rate = notifications as f64 / elapsed;
    report.figure(
        &format!("notifications_durable_{}_senders_per_s", args.senders),
        rate,
        "1/s",
    );
    let mut lat = latencies;
    lat.sort_by(f64::total_cmp);
    report.figure("batch_202_ms_p50", percentile(&lat, 50.0), "ms");
    report.figure("batch_202_ms_p99", percentile(&lat, 99.0), "ms");
    report.figure("batch_202_ms_max", lat.last().copied().unwrap_or(0.0), "ms");
    let per_sync = sides as f64 / syncs.max(1) as f64;
    report.figure("inbox_entries_per_fsync", per_sync, "entries");

    // The same inbox entries, raw.
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = node
        .state
        .store
        .log
        .scan_side(&[INBOX])
        .filter_map(Result::ok)
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect();
    node.stop();
    emulator.stop_blocking();
    let k = per_sync.round().max(1.0) as usize;
    let raw = baseline::raw_sled(dir.path(), &pairs, k)?;
    report.figure(&format!("raw_sled_fsync_every_{k}_per_s"), raw, "1/s");
    report.ratio(
        "ingest_vs_raw",
        rate,
        raw,
        (
            &format!("notifications_durable_{}_senders_per_s", args.senders),
            &format!("raw_sled_fsync_every_{k}_per_s"),
        ),
    );
    report.figure("notifications", notifications as f64, "notifications");
    Ok(())
}
