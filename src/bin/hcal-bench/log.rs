//! `hcal-bench log`: durable appends and replay, each against a raw sled
//! baseline measured in the same run on the same record bytes.
//!
//! - append: hcal's API (sealing included) with 1 and with N concurrent
//!   appenders, each append durable on return; the baseline inserts the very
//!   records hcal wrote into a fresh sled database, flush + fdatasync every K
//!   records, K being the events per fsync hcal's group commit reached (K = 1
//!   for the single appender, measured in three chunks interleaved with its
//!   baseline's, medians compared). The appenders are tasks on one thread, as
//!   the node's actors are.
//! - replay: a full rebuild with digest, against sled scan + frame decode +
//!   event decode + decrypt of each record's content (left encoded, as the
//!   digest leaves it); three passes of each, interleaved, medians compared.

use std::sync::atomic::Ordering;
use std::time::Instant;

use hcal_actors::Store;
use hcal_actors::log::{ExpectedVersion, LogOptions, NewEvent};
use hcal_actors::replay::replay_all;
use hcal_actors::sample::SampleCalendar;
use hcal_schemas::events::mailbox::{CalendarEventUpserted, MeetingContent};
use hcal_schemas::{EventFamily, MailboxEvent, MailboxKey, OrgId, SecretKey, StreamId, Timestamp};

use crate::baseline::{self, raw_sled};
use crate::report::Report;

pub struct LogBench {
    pub events: usize,
    pub appenders: usize,
}

fn stream(n: usize) -> StreamId {
    StreamId::mailbox(&OrgId::new("bench").expect("constant org id"), &mailbox_key(n))
}

fn mailbox_key(n: usize) -> MailboxKey {
    MailboxKey::parse(&format!("{n:032x}")).expect("32 hex digits")
}

/// Appends `count` typical calendar events (sealed upserts) to `stream`, one durable append each.
async fn append_upserts(store: Store, stream: StreamId, count: usize, seed: u64) -> Result<(), String> {
    let mut cal = SampleCalendar::new(seed);
    let sealer = store.sealer(&stream).map_err(|e| e.to_string())?;
    let mut version = store.log.head(&stream).map_err(|e| e.to_string())?;
    for i in 0..count {
        let start = Timestamp(1_780_000_000_000 + i as i64 * 3_600_000);
        let id = cal.item_id(i as u64);
        let meeting = cal.meeting(&sealer, &id, start).map_err(|e| e.to_string())?;
        let event: MailboxEvent = CalendarEventUpserted { meeting }.into();
        let new = NewEvent::from_event(&event).map_err(|e| e.to_string())?;
        let a = store
            .log
            .append(&stream, ExpectedVersion::Exact(version), vec![new])
            .await
            .map_err(|e| e.to_string())?;
        version = a.version;
    }
    Ok(())
}

pub fn run(args: &LogBench, report: &Report) -> Result<(), String> {
    let dir = baseline::scratch()?;
    let store = Store::open(&dir.path().join("hcal"), SecretKey::generate(), &LogOptions::default())
        .map_err(|e| e.to_string())?;
    let appenders = args.appenders.max(1);
    let chunk = (args.events / 10).clamp(200, 3000) / PASSES;
    let single = chunk * PASSES;
    // The appenders are tasks on one thread, as the node's actors are on its arbiters.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;

    // 1. One appender, each append durable, against raw sled fsyncing every record: PASSES
    // chunks of each, interleaved, so that this disk's drifting fsync rate falls on both
    // sides alike, and the medians compared.
    let mut one_rates = Vec::with_capacity(PASSES);
    let mut raw_1_rates = Vec::with_capacity(PASSES);
    for pass in 0..PASSES {
        let s = stream(10_000 + pass);
        let started = Instant::now();
        runtime.block_on(append_upserts(store.clone(), s.clone(), chunk, 1_000 + pass as u64))?;
        one_rates.push(chunk as f64 / started.elapsed().as_secs_f64());
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = store
            .log
            .read_stream(&s, 1)
            .enumerate()
            .map(|(i, r)| r.map(|r| ((i as u64).to_be_bytes().to_vec(), r.bytes().to_vec())))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        raw_1_rates.push(raw_sled(dir.path(), &pairs, 1)?);
    }
    let (one_rate, raw_1) = (median(&mut one_rates), median(&mut raw_1_rates));
    report.figure("append_durable_1_appender_per_s", one_rate, "1/s");

    // 2. N concurrent appenders.
    let syncs_before = store.log.stats().syncs.load(Ordering::Relaxed);
    let per = args.events / appenders;
    let started = Instant::now();
    runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..appenders {
            tasks.spawn(append_upserts(store.clone(), stream(t), per, t as u64 + 2));
        }
        tasks.join_all().await.into_iter().collect::<Result<Vec<()>, String>>()
    })?;
    let many = per * appenders;
    let many_rate = many as f64 / started.elapsed().as_secs_f64();
    let syncs = (store.log.stats().syncs.load(Ordering::Relaxed) - syncs_before).max(1);
    let batch = (many as f64 / syncs as f64).round().max(1.0) as usize;
    report.figure(&format!("append_durable_{appenders}_appenders_per_s"), many_rate, "1/s");
    report.figure("group_commit_events_per_fsync", many as f64 / syncs as f64, "events");
    let stats = store.log.stats();
    let per_commit = stats.commits.load(Ordering::Relaxed).max(1) as f64;
    let per_sync = stats.syncs.load(Ordering::Relaxed).max(1) as f64;
    for (metric, counter, n) in [
        ("commit_apply_us_mean", &stats.apply_nanos, per_commit),
        ("sync_flush_us_mean", &stats.flush_nanos, per_sync),
        ("sync_fsync_us_mean", &stats.sync_nanos, per_sync),
    ] {
        report.figure(metric, counter.load(Ordering::Relaxed) as f64 / n / 1000.0, "us");
    }

    // The records hcal wrote, byte for byte, for the baselines.
    let records: Vec<Vec<u8>> = store
        .log
        .read_all(0)
        .map(|r| r.map(|r| r.bytes().to_vec()).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let mean_len = records.iter().map(Vec::len).sum::<usize>() as f64 / records.len().max(1) as f64;
    report.figure("record_bytes_mean", mean_len, "bytes");

    let pairs: Vec<(Vec<u8>, Vec<u8>)> = records
        .iter()
        .enumerate()
        .map(|(i, r)| ((i as u64).to_be_bytes().to_vec(), r.clone()))
        .collect();
    let raw_k = raw_sled(dir.path(), &pairs[single..], batch)?;
    report.figure(&format!("raw_sled_fsync_every_{batch}_per_s"), raw_k, "1/s");
    report.ratio(
        &format!("append_durable_{appenders}_appenders_vs_raw"),
        many_rate,
        raw_k,
        (
            &format!("append_durable_{appenders}_appenders_per_s"),
            &format!("raw_sled_fsync_every_{batch}_per_s"),
        ),
    );
    report.figure("raw_sled_fsync_every_1_per_s", raw_1, "1/s");
    report.ratio(
        "append_durable_1_appender_vs_raw",
        one_rate,
        raw_1,
        ("append_durable_1_appender_per_s", "raw_sled_fsync_every_1_per_s"),
    );

    // 3. Replay against scan + decode + decrypt: PASSES of each, interleaved, so that a
    // hiccup of the shared machine falls on one pass of one side, and the medians compared.
    let mut raw_rates = Vec::with_capacity(PASSES);
    let mut replay_rates = Vec::with_capacity(PASSES);
    for _ in 0..PASSES {
        raw_rates.push(raw_scan(&store, records.len())?);
        replay_rates.push(replay_once(&store)?);
    }
    let (raw_replay, replay_rate) = (median(&mut raw_rates), median(&mut replay_rates));
    report.figure("raw_scan_decode_decrypt_per_s", raw_replay, "1/s");
    report.figure("replay_events_per_s", replay_rate, "1/s");
    report.ratio(
        "replay_vs_raw",
        replay_rate,
        raw_replay,
        ("replay_events_per_s", "raw_scan_decode_decrypt_per_s"),
    );
    report.figure("passes", PASSES as f64, "passes");
    report.figure("events", records.len() as f64, "events");
    Ok(())
}

/// Passes of the single appender and of replay, and of their baselines; each side's
/// median is reported.
const PASSES: usize = 3;

fn median(rates: &mut [f64]) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// Records per second of sled scan + frame decode + event decode + decrypt of each
/// upsert's content (left encoded, as the digest leaves it).
fn raw_scan(store: &Store, records: usize) -> Result<f64, String> {
    let started = Instant::now();
    let mut opened = 0usize;
    for rec in store.log.read_all(0) {
        let rec = rec.map_err(|e| e.to_string())?;
        let f = rec.frame().map_err(|e| e.to_string())?;
        let event = MailboxEvent::decode(f.type_name, f.schema_version, f.payload).map_err(|e| e.to_string())?;
        if let MailboxEvent::CalendarEventUpserted(e) = event {
            let stream = StreamId::parse(f.stream).map_err(|e| e.to_string())?;
            let content = e
                .meeting
                .content
                .open_bytes(store.keys.as_ref(), &stream, MeetingContent::FIELD)
                .map_err(|e| e.to_string())?;
            if matches!(content, hcal_schemas::Opened::Plain(_)) {
                opened += 1;
            }
        }
    }
    let rate = records as f64 / started.elapsed().as_secs_f64();
    if opened != records {
        return Err(format!("baseline opened {opened} of {records} records"));
    }
    Ok(rate)
}

/// Events per second of a full rebuild with its digest.
fn replay_once(store: &Store) -> Result<f64, String> {
    let started = Instant::now();
    let rebuilt = replay_all(&store.log, |_, _| {}).map_err(|e| e.to_string())?;
    let _digest = rebuilt.digest(store.keys.as_ref()).map_err(|e| e.to_string())?;
    Ok(rebuilt.events as f64 / started.elapsed().as_secs_f64())
}
