//! `hcal-bench pipeline`: calendar changes from an edit in the Graph
//! emulator to the mailbox state applied in the node, the memory a mailbox
//! costs, and how long a mailbox takes to activate.
//!
//! Set-up: the emulator runs in a child process (`hcal-bench
//! pipeline-emulator`, so that its heap and CPU are not the node's), seeded
//! with N users of 20 meetings each (the coming days, an external guest, a
//! Zoom link in half the bodies). The node runs in this process
//! (`NodeHandle::spawn`), connects the org, and N mailboxes are enabled over
//! the admin API; each subscribes and syncs its 20 meetings. Meanwhile the
//! bench polls the org's counts by status (`GET /admin/v1/orgs/{org}`), and
//! the users list only to name those in error: the list is built whole for
//! each request (every address read from the log and opened) and parsed in
//! this process, so polled every 2 s it grew the node's transient peaks, and
//! the slabs they leave partly used, with every quarter enabled.
//!
//! Figures, in the order they are measured:
//! 1. Memory (live heap bytes counted by the bench's global allocator, see
//!    `heap.rs`; counting is on only for this part, and the tap keeps no
//!    samples during it, which would be the bench's). Readings: *empty*
//!    before the mailboxes are enabled; then, the mailboxes being enabled
//!    in four quarters, one after each quarter is enabled, synced and
//!    passivated (idle), the last being *passive*; *active* right after
//!    all are activated again; *again* after they passivate again. Before
//!    each, the bench reads the log's oldest records, four times what the
//!    log cache holds, and trims the node's memory (`quiesce`), so that
//!    the bounded cache holds the same pages at every reading.
//!    Activation: a meeting-list GET each for the
//!    first 1,000 (`meeting_list_cold_ms`, then `_warm_ms` once all are
//!    active), the rest through the router's `Get` message
//!    (`router_activation_ms`: snapshot plus tail loaded, actor started).
//!    `heap_bytes_per_passivated_mailbox` is *passive* minus *empty* over
//!    N: everything the node keeps per enabled mailbox (users,
//!    subscriptions and key locations are in the log's tables, on disk;
//!    the Graph client's budgets are fixed-size sketches), *plus* what the node
//!    sets up once on first use whatever its size (sled's page cache and
//!    I/O buffers, the join detector's compiled patterns, pooled HTTP
//!    connections). `heap_bytes_per_passivated_mailbox_marginal` is the
//!    slope of a least-squares line through the four quarters' readings
//!    (heap against mailboxes enabled): what one more mailbox costs once
//!    those are set up, the first quarter having filled the cache; its
//!    intercept, less *empty*, is `heap_bytes_fixed_over_empty`, and
//!    `heap_fit_residual_max_bytes` is how far the farthest reading lies
//!    from the line (sled grows and shrinks its cache between readings).
//!    The `rss_` figures are the same from the resident size, read right
//!    after the node's memory trim, and the `rss_anon_` ones from its
//!    anonymous part (without the program's code, which pages in as code
//!    paths first run); each reading is printed on stderr as it is taken.
//!    `heap_bytes_per_active_mailbox_over_passivated` is
//!    *active* minus *passive* over the active count: the actor, its state,
//!    its actix mailbox and context, the router's entry for the actor, the open
//!    data key, and what sled read into its cache to load it.
//!    `heap_bytes_per_mailbox_after_activation_cycle` is *again* minus
//!    *passive* over N: what activating every mailbox once leaves behind
//!    (sled's cache of what it read). The state alone is measured
//!    by loading every mailbox's state into a Vec (`heap_bytes_per_mailbox_
//!    state`). RSS deltas are printed next to them for comparison, each
//!    read right after the node's memory trim (`memory_trim_ms_at_passive`:
//!    how long one takes with every mailbox passivated); coarser, as the
//!    allocator keeps pages that are partly in use.
//! 2. Changes: `--changes` edits (a new subject) through the emulator's
//!    control API, round-robin over the mailboxes and their meetings, first
//!    paced at `--rate` per second, then unpaced (as fast as `--in-flight`
//!    concurrent edits go). Each phase starts with every mailbox activated
//!    through the router (the
//!    default idle is 3 N / rate, at least 5 s, so that a paced mailbox does
//!    not passivate between its changes). "Applied" is the node's
//!    `hcal_notifications_applied_total` reaching the count.
//!    - `notification_to_applied_ms_*`: the node's own histogram
//!      (`hcal_notification_to_applied_seconds`, from the webhook's receipt
//!      to the consequences durable and folded in; millisecond resolution),
//!      every sample of the phase, captured by the bench's metrics recorder
//!      (`tap.rs`) rather than read from `/metrics`' rolling summary.
//!    - `edit_to_applied_ms_*`: the bench's own measure from the edit's
//!      answer to the counter's increment, matching the k-th edit to the
//!      k-th increment (exact while changes apply in the order they were
//!      made; an approximation otherwise). It includes the emulator's
//!      notification batching wait (20 ms, Graph-like) and delivery.
//!    - `changes_applied_per_s_*`: changes over the time from the first edit
//!      to the last applied.
//!
//!    A node that does not move that counter for a change that appended
//!    events (as before the mailbox round was reworked) is still measured:
//!    the bench says so on stderr, prints `notification_to_applied_samples_*
//!    = 0` and no node latency, and uses `hcal_mailbox_events_appended_total`
//!    (moved right after the append is durable and folded in; one upsert per
//!    edit here) as "applied": `changes_event_appended_per_s_*`,
//!    `edit_to_event_appended_ms_*`.
//!
//!    Beside them, to tell where time goes: how long the emulator took to
//!    answer each edit (`edit_answer_ms`), the emulator's notification POSTs
//!    in the phase (count, mean batch, mean time to the node's 202; it keeps
//!    one POST in flight per URL, at most `--notification-batch` per POST),
//!    the log's fsyncs and mean fsync and the most fsync time added within
//!    one 5 ms sampling interval (about the longest fsync), Graph GETs per
//!    change (1.0 = none wasted), and CPU time per change of the node
//!    (this process less the bench's driver threads), of the driver (its
//!    runtime's threads and the main thread) and of the emulator.
//!    `HCAL_BENCH_DUMP=<prefix>` writes each change's (edit answered,
//!    applied) times, ms from the phase start, to `<prefix>-<phase>.csv`.
//! 3. Activation: every node mailbox loaded as the router does it
//!    (`Journal::load`: snapshot, if one was worth writing, plus log tail;
//!    `activation_as_router_us`) and from the log alone (fold from version
//!    1); then, as the worst case between snapshots, 200
//!    streams of 200 events each (the node snapshots every 200 events) in a
//!    scratch store, from the log and from a snapshot. Warm sled cache.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hcal::node::NodeHandle;
use hcal_actors::Store;
use hcal_actors::journal::Journal;
use hcal_actors::log::{ExpectedVersion, LogOptions, NewEvent};
use hcal_actors::mailbox::router::{Get, Status};
use hcal_actors::replay::fold_record;
use hcal_actors::sample::SampleCalendar;
use hcal_schemas::aggregate::MailboxState;
use hcal_schemas::events::mailbox::{CalendarEventUpserted, HeldMeeting};
use hcal_schemas::{Aggregate, AnyState, MailboxEvent, MailboxKey, OrgId, SecretKey, StreamId, StreamKind, Timestamp};

use crate::report::{Report, percentile};
use crate::world::{Bench, EmulatorProcess, cpu_ms, deliveries, e, each, latencies, mail, own_cpu_ms, settle};
use crate::{baseline, heap, tap, world};

pub struct PipelineBench {
    pub mailboxes: usize,
    pub changes: usize,
    /// Offered edits per second in the paced phase.
    pub rate: f64,
    pub meetings: usize,
    /// Mailbox idle time before passivation; default 3 N / rate, at least 5 s.
    pub idle_secs: Option<u64>,
    /// Edits in flight at once (both phases).
    pub in_flight: usize,
    /// Most notifications in one POST from the emulator (Graph-like default 10).
    pub notification_batch: usize,
    /// The node's `log.cache_mib` (sled's page cache, counted in the heap figures); None: its default.
    pub log_cache_mib: Option<u64>,
}

/// Activates each mailbox through the router (as a notification or a query does), one
/// after another; the time of each, ms.
async fn activate(node: &NodeHandle, streams: &[StreamId]) -> Result<Vec<f64>, String> {
    let mut ms = Vec::with_capacity(streams.len());
    for s in streams {
        let t = Instant::now();
        let addr = node.state.router.send(Get { stream: s.clone() }).await.map_err(e)?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        if addr.is_none() {
            return Err(format!("{s} could not be activated"));
        }
    }
    Ok(ms)
}

async fn active(node: &NodeHandle) -> Result<usize, String> {
    Ok(node.state.router.send(Status).await.map_err(e)?.active)
}

/// The heap `value` gives back when dropped.
fn heap_of<T>(value: T) -> i64 {
    let (before, _) = heap::live();
    drop(value);
    let (after, _) = heap::live();
    before - after
}

/// Mailbox set-up in this many steps, with a memory reading after each.
const QUARTERS: usize = 4;

/// The node's memory once a step's mailboxes have passivated.
#[derive(Debug, Clone, Copy)]
struct Reading {
    mailboxes: usize,
    heap: i64,
    blocks: i64,
    rss: heap::Resident,
}

/// A least-squares line through readings, one measure against mailboxes.
struct Line {
    slope: f64,
    intercept: f64,
    /// The farthest a reading lies from the line.
    residual_max: f64,
}

impl Line {
    fn through(readings: &[Reading], y: impl Fn(&Reading) -> i64) -> Line {
        let points: Vec<(f64, f64)> = readings.iter().map(|r| (r.mailboxes as f64, y(r) as f64)).collect();
        let count = points.len().max(1) as f64;
        let mean_x = points.iter().map(|p| p.0).sum::<f64>() / count;
        let mean_y = points.iter().map(|p| p.1).sum::<f64>() / count;
        let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
        let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
        let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
        let intercept = mean_y - slope * mean_x;
        let residual_max = points
            .iter()
            .map(|p| (p.1 - intercept - slope * p.0).abs())
            .fold(0.0, f64::max);
        Line {
            slope,
            intercept,
            residual_max,
        }
    }
}

/// The process's resident size.
fn rss() -> heap::Resident {
    heap::resident().unwrap_or_default()
}

/// Puts the node in the same state before every memory reading: reads the
/// log's oldest records, `bytes` of them, so that sled's page cache holds
/// the same pages, then runs the node's memory trim (which the node runs
/// once mailboxes passivate: its steady state) and returns how long that
/// took. The cache is bounded by the bytes its pages take on disk, and a
/// leaf of small entries takes more blocks in memory for its bytes than a
/// leaf of commits: left as the last passivations left it, the cache held
/// more of them the more mailboxes there were, a slope that is not a
/// mailbox's cost (same node, at 10,000: heap 159 B and 1.53 blocks a
/// mailbox at the margin, RSS 270 B, in a run without this read; 75-148 B,
/// 1.39-1.44 blocks and RSS 154-204 B in four with it).
fn quiesce(store: &Store, bytes: u64) -> Result<Duration, String> {
    let mut read = 0u64;
    for record in store.log.read_all(1) {
        read += record.map_err(e)?.bytes().len() as u64;
        if read >= bytes {
            break;
        }
    }
    let t = Instant::now();
    hcal::memory::trim();
    Ok(t.elapsed())
}

/// Waits until no mailbox actor is live.
async fn all_passivated(node: &NodeHandle, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        let n = active(node).await?;
        if n == 0 {
            // Passivation ends with a snapshot write; let the last ones and sled's flush finish.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{n} mailboxes still active after {within:?}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ---------------------------------------------------------------------------

pub fn run(args: &PipelineBench, report: &Report) -> Result<(), String> {
    let n = args.mailboxes.max(1);
    let meetings = args.meetings.max(1);
    let rate = args.rate.max(1.0);
    let idle = Duration::from_secs(
        args.idle_secs
            .unwrap_or_else(|| ((3.0 * n as f64 / rate).ceil() as u64).max(5)),
    );
    let tap = tap::install().ok_or("another metrics recorder was installed first")?;
    let started = Instant::now();
    let mut emu = EmulatorProcess::start(n, meetings, args.notification_batch)?;
    let ids = Arc::new(std::mem::take(&mut emu.ids));
    let emu_pid = emu.pid().to_string();
    let dir = baseline::scratch()?;
    let mut config = world::config(&emu.base_url, &dir)?;
    config.mailbox.idle = idle;
    if let Some(mib) = args.log_cache_mib {
        config.log_cache_bytes = mib.max(1) * 1024 * 1024;
    }
    heap::counting(true);
    let node = NodeHandle::spawn(config).map_err(e)?;
    let rt = world::runtime()?;
    let bench = Arc::new(Bench::new(node.url(), emu.base_url.clone(), args.in_flight)?);
    let result = rt.block_on(measure(
        args, report, &bench, &node, &tap, &ids, &emu_pid, idle, started,
    ));
    heap::counting(false);
    node.stop();
    emu.stop();
    result?;
    let activation = activation_worst_case(report);
    report.figure("run_s", started.elapsed().as_secs_f64(), "s");
    activation
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    args: &PipelineBench,
    report: &Report,
    bench: &Arc<Bench>,
    node: &NodeHandle,
    tap: &tap::Tap,
    ids: &Arc<Vec<Vec<String>>>,
    emu_pid: &str,
    idle: Duration,
    started: Instant,
) -> Result<(), String> {
    let n = args.mailboxes.max(1);
    let meetings = args.meetings.max(1);
    report.figure("mailboxes", n as f64, "mailboxes");
    report.figure("meetings_per_mailbox", meetings as f64, "meetings");
    report.figure("idle_s", idle.as_secs_f64(), "s");
    report.figure("log_cache_mib", (node.state.config.log_cache_bytes >> 20) as f64, "MiB");
    report.figure(
        "emulator_notification_batch_max",
        args.notification_batch as f64,
        "notifications",
    );
    let passivation_budget = idle * 2 + Duration::from_secs(30);
    let sample = n.min(1000);

    let store = node.state.store.clone();
    // Read before each memory reading: four times what the cache holds.
    let cache_fill = 4 * node.state.config.log_cache_bytes;
    let streams: Vec<StreamId> = (0..n)
        .map(|i| StreamId::mailbox(&bench.org, &store.keys.mailbox_key(&mail(i))))
        .collect();

    // --- Set-up: connect the org, enable and sync every mailbox. ---
    // The tap's times and samples would grow with every event the set-up
    // appends, in this process's memory: not kept until the changes.
    tap.record(false);
    bench.connect().await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    settle(node).await?;
    quiesce(&store, cache_fill)?;
    let (heap_empty, blocks_empty) = heap::live();
    let rss_empty = rss();
    eprintln!(
        "pipeline: empty node: heap {heap_empty} B in {blocks_empty} blocks, RSS {} B, of it anonymous {} B",
        rss_empty.total, rss_empty.anon,
    );
    // Enabled in quarters, each synced and left to passivate, with a reading after each: the
    // slope through the readings is what one more passivated mailbox costs once sled's page
    // cache is as full as it gets (at 10,000 mailboxes, a quarter writes more log than the
    // log cache holds), while the average over all of them also carries that cache.
    let mut setup = Duration::ZERO;
    let mut seen_in_error = std::collections::HashSet::<String>::new();
    let mut readings: Vec<Reading> = Vec::with_capacity(QUARTERS);
    let mut trim = Duration::ZERO;
    for q in 0..QUARTERS {
        let (from, to) = (n * q / QUARTERS, n * (q + 1) / QUARTERS);
        let t = Instant::now();
        let activated = enable_and_sync(bench, tap, from, to, meetings, &mut seen_in_error).await?;
        setup += t.elapsed();
        if to == n {
            report.figure("mailboxes_activated", activated as f64, "mailboxes");
        }
        all_passivated(node, passivation_budget).await?;
        settle(node).await?;
        trim = quiesce(&store, cache_fill)?;
        let (heap, blocks) = heap::live();
        let rss = rss();
        eprintln!(
            "pipeline: {to} mailboxes passivated, over empty: heap {} B in {} blocks, RSS {} B, of it anonymous {} B",
            heap - heap_empty,
            blocks - blocks_empty,
            rss.total - rss_empty.total,
            rss.anon - rss_empty.anon,
        );
        readings.push(Reading {
            mailboxes: to,
            heap,
            blocks,
            rss,
        });
    }
    report.figure(
        "mailboxes_enabled_and_synced_per_s",
        n as f64 / setup.as_secs_f64(),
        "1/s",
    );
    report.figure(
        "mailboxes_in_error_after_enable",
        seen_in_error.len() as f64,
        "mailboxes",
    );

    // --- Memory. ---
    let passive = readings.last().copied().ok_or("no mailboxes")?;
    let (heap_passive, blocks_passive, rss_passive) = (passive.heap, passive.blocks, passive.rss);
    report.figure("memory_trim_ms_at_passive", trim.as_secs_f64() * 1e3, "ms");
    // The meeting list of passivated mailboxes (a sample: each request costs the node work in
    // proportion to all its mailboxes), then the rest activated through the router directly.
    let b = bench.clone();
    let cold = each(sample, 8, move |i| {
        let b = b.clone();
        async move { b.meetings(i).await }
    })
    .await?;
    let activations = activate(node, &streams[sample..]).await?;
    settle(node).await?;
    quiesce(&store, cache_fill)?;
    let (heap_active, blocks_active) = heap::live();
    let rss_active = rss();
    // The bench's own timing results, allocated in the interval.
    let heap_active = heap_active
        - (cold.capacity() * std::mem::size_of::<(f64, usize)>()) as i64
        - (activations.capacity() * std::mem::size_of::<f64>()) as i64;
    let live = active(node).await?;
    let b = bench.clone();
    let warm = each(sample, 8, move |i| {
        let b = b.clone();
        async move { b.meetings(i).await }
    })
    .await?;
    let listed = cold.iter().map(|(_, m)| *m).sum::<usize>() as f64 / sample.max(1) as f64;
    let per = |bytes: i64, count: usize| bytes as f64 / count.max(1) as f64;
    report.figure(
        "heap_bytes_per_passivated_mailbox",
        per(heap_passive - heap_empty, n),
        "bytes",
    );
    report.figure(
        "heap_blocks_per_passivated_mailbox",
        per(blocks_passive - blocks_empty, n),
        "blocks",
    );
    report.figure(
        "rss_bytes_per_passivated_mailbox",
        per(rss_passive.total - rss_empty.total, n),
        "bytes",
    );
    report.figure(
        "rss_anon_bytes_per_passivated_mailbox",
        per(rss_passive.anon - rss_empty.anon, n),
        "bytes",
    );
    let heap = Line::through(&readings, |r| r.heap);
    report.figure("heap_bytes_per_passivated_mailbox_marginal", heap.slope, "bytes");
    report.figure(
        "heap_bytes_fixed_over_empty",
        heap.intercept - heap_empty as f64,
        "bytes",
    );
    report.figure("heap_fit_residual_max_bytes", heap.residual_max, "bytes");
    let blocks = Line::through(&readings, |r| r.blocks);
    report.figure("heap_blocks_per_passivated_mailbox_marginal", blocks.slope, "blocks");
    for (name, of) in [
        ("rss", (|r: &heap::Resident| r.total) as fn(&heap::Resident) -> i64),
        ("rss_anon", |r| r.anon),
    ] {
        let line = Line::through(&readings, |r| of(&r.rss));
        report.figure(
            &format!("{name}_bytes_per_passivated_mailbox_marginal"),
            line.slope,
            "bytes",
        );
        report.figure(
            &format!("{name}_bytes_fixed_over_empty"),
            line.intercept - of(&rss_empty) as f64,
            "bytes",
        );
        report.figure(&format!("{name}_fit_residual_max_bytes"), line.residual_max, "bytes");
    }
    report.figure("mailboxes_active_at_reading", live as f64, "mailboxes");
    report.figure(
        "heap_bytes_per_active_mailbox_over_passivated",
        per(heap_active - heap_passive, live),
        "bytes",
    );
    report.figure(
        "heap_blocks_per_active_mailbox_over_passivated",
        per(blocks_active - blocks_passive, live),
        "blocks",
    );
    report.figure(
        "rss_bytes_per_active_mailbox_over_passivated",
        per(rss_active.total - rss_passive.total, live),
        "bytes",
    );
    report.figure(
        "heap_bytes_per_active_mailbox",
        per(heap_passive - heap_empty, n) + per(heap_active - heap_passive, live),
        "bytes",
    );
    report.figure("meetings_listed_per_mailbox", listed, "meetings");
    latencies(
        report,
        "meeting_list_cold_ms",
        "ms",
        cold.iter().map(|(ms, _)| *ms).collect(),
    );
    latencies(
        report,
        "meeting_list_warm_ms",
        "ms",
        warm.iter().map(|(ms, _)| *ms).collect(),
    );
    report.figure("meeting_list_sample", sample as f64, "mailboxes");
    if !activations.is_empty() {
        latencies(report, "router_activation_ms", "ms", activations);
    }
    // What the aggregates alone hold, loaded the way the actors load them: the heap their drop
    // gives back (loading also fills sled's page cache, which stays).
    let mut states: Vec<MailboxState> = Vec::with_capacity(n);
    for s in &streams {
        states.push(Journal::<MailboxState>::load(&store, s.clone()).map_err(e)?.state);
    }
    let held = states.iter().map(|s| s.meetings.len()).sum::<usize>();
    let states_heap = heap_of(states);
    report.figure("heap_bytes_per_mailbox_state", per(states_heap, n), "bytes");
    report.figure("meetings_per_mailbox_state", held as f64 / n as f64, "meetings");
    let inline = (n * std::mem::size_of::<MailboxState>()) as i64;
    report.figure(
        "heap_bytes_per_meeting_in_state",
        per(states_heap - inline, held),
        "bytes",
    );
    report.figure(
        "mailbox_state_inline_bytes",
        std::mem::size_of::<MailboxState>() as f64,
        "bytes",
    );
    report.figure(
        "meeting_record_inline_bytes",
        std::mem::size_of::<HeldMeeting>() as f64,
        "bytes",
    );
    all_passivated(node, passivation_budget).await?;
    settle(node).await?;
    quiesce(&store, cache_fill)?;
    let (heap_again, _) = heap::live();
    report.figure(
        "heap_bytes_per_mailbox_after_activation_cycle",
        per(heap_again - heap_passive, n),
        "bytes",
    );
    heap::counting(false);
    tap.record(true);

    // --- Changes: paced, then unpaced. ---
    let mut next_change = 0usize;
    for paced in [true, false] {
        // Every mailbox active first, as in steady traffic.
        activate(node, &streams).await?;
        let label = if paced {
            format!("at_{}", args.rate.round() as u64)
        } else {
            "unpaced".to_string()
        };
        changes(
            args,
            report,
            bench,
            node,
            tap,
            ids,
            emu_pid,
            &label,
            paced.then_some(args.rate.max(1.0)),
            next_change,
        )
        .await?;
        next_change += args.changes;
    }
    eprintln!("pipeline: changes done at {:.1} s", started.elapsed().as_secs_f64());

    // --- Activation in the node's own store. ---
    let mut from_snapshot = Vec::with_capacity(n);
    let mut from_log = Vec::with_capacity(n);
    let mut events = 0u64;
    let mut tail = 0u64;
    for s in &streams {
        let head = store.log.head(s).map_err(e)?;
        let snap = store.log.load_snapshot(s).map_err(e)?.map_or(0, |(v, _)| v);
        events += head;
        tail += head - snap.min(head);
        let _ = Journal::<MailboxState>::load(&store, s.clone()).map_err(e)?;
        let t = Instant::now();
        let j = Journal::<MailboxState>::load(&store, s.clone()).map_err(e)?;
        from_snapshot.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        let state = load_from_log(&store, s)?;
        from_log.push(t.elapsed().as_secs_f64() * 1e6);
        if state.version != j.state.version {
            return Err(format!(
                "{s}: from the log v{} but from the snapshot v{}",
                state.version, j.state.version
            ));
        }
    }
    report.figure("stream_events_mean", events as f64 / n as f64, "events");
    report.figure("stream_tail_after_snapshot_mean", tail as f64 / n as f64, "events");
    let snap_p50 = {
        let mut v = from_snapshot.clone();
        v.sort_by(f64::total_cmp);
        percentile(&v, 50.0)
    };
    let log_p50 = {
        let mut v = from_log.clone();
        v.sort_by(f64::total_cmp);
        percentile(&v, 50.0)
    };
    latencies(report, "activation_as_router_us", "us", from_snapshot);
    latencies(report, "activation_from_log_us", "us", from_log);
    report.ratio(
        "activation_from_log_vs_as_router_p50",
        log_p50,
        snap_p50,
        ("activation_from_log_us_p50", "activation_as_router_us_p50"),
    );
    Ok(())
}

/// A mailbox's state folded from its first event, ignoring any snapshot.
fn load_from_log(store: &Store, stream: &StreamId) -> Result<MailboxState, String> {
    let mut state = AnyState::empty(StreamKind::Mailbox);
    for rec in store.log.read_stream(stream, 1) {
        state = fold_record(state, &rec.map_err(e)?).map_err(e)?;
    }
    MailboxState::from_any(state).ok_or_else(|| "not a mailbox state".to_string())
}

/// One phase of edits: `changes` of them, paced at `rate` or as fast as they go.
#[allow(clippy::too_many_arguments)]
async fn changes(
    args: &PipelineBench,
    report: &Report,
    bench: &Arc<Bench>,
    node: &NodeHandle,
    tap: &tap::Tap,
    ids: &Arc<Vec<Vec<String>>>,
    emu_pid: &str,
    label: &str,
    rate: Option<f64>,
    first: usize,
) -> Result<(), String> {
    let n = args.mailboxes.max(1);
    let m = args.changes;
    let applied_mark = tap.applied.lock().map_err(e)?.len();
    let appended_mark = tap.appended.lock().map_err(e)?.len();
    let latency_mark = tap.latency.lock().map_err(e)?.len();
    let applied_before = tap.total(tap::APPLIED);
    let appended_before = tap.total(tap::EVENTS_APPENDED);
    let gets_before = tap.total("hcal_mailbox_graph_gets_total");
    let coalesced_before = tap.total("hcal_notifications_coalesced_total");
    let ((cpu_node0, cpu_driver0), cpu_emu0) = (own_cpu_ms(), cpu_ms(emu_pid));
    let since = chrono::Utc::now();
    // The log's fsyncs, sampled every 5 ms: how long they took.
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (log, sampling) = (node.state.store.log.clone(), sampling.clone());
        tokio::spawn(async move {
            let stats = || {
                let s = log.stats();
                (s.syncs.load(Ordering::Relaxed), s.sync_nanos.load(Ordering::Relaxed))
            };
            let (c0, s0) = stats();
            let (mut last, mut longest) = (s0, 0u64);
            while sampling.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let (_, s) = stats();
                longest = longest.max(s - last);
                last = s;
            }
            let (c1, s1) = stats();
            (c1 - c0, s1 - s0, longest)
        })
    };
    let gate = Arc::new(tokio::sync::Semaphore::new(args.in_flight.max(1)));
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(m);
    for k in 0..m {
        if let Some(r) = rate {
            tokio::time::sleep_until((t0 + Duration::from_secs_f64(k as f64 / r)).into()).await;
        }
        let permit = gate.clone().acquire_owned().await.map_err(e)?;
        let j = first + k;
        let user = j % n;
        let list = &ids[user];
        let id = list[(j / n) % list.len()].clone();
        let b = bench.clone();
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let r = b.edit(user, &id, j).await;
            drop(permit);
            r.map(|()| (sent, Instant::now()))
        }));
    }
    let mut acked = Vec::with_capacity(m);
    let mut edit_ms = Vec::with_capacity(m);
    let mut failed = 0usize;
    let mut first_sent = None::<Instant>;
    for t in tasks {
        match t.await.map_err(e)? {
            Ok((sent, ack)) => {
                first_sent = Some(first_sent.map_or(sent, |f: Instant| f.min(sent)));
                acked.push(ack);
                edit_ms.push((ack - sent).as_secs_f64() * 1000.0);
            }
            Err(x) => {
                failed += 1;
                if failed == 1 {
                    eprintln!("pipeline: {x}");
                }
            }
        }
    }
    let first_sent = first_sent.ok_or("no edit succeeded")?;
    acked.sort();
    let last_ack = acked.last().copied().unwrap_or(first_sent);
    let ok = acked.len() as u64;
    // Applied: the node's hcal_notifications_applied_total reaching the count. While the node
    // does not count changes that produced events there, fall back to the events the
    // mailboxes appended (one upsert per edit here; the counter moves right after the
    // append is durable and folded in).
    let deadline = last_ack + Duration::from_secs(60);
    loop {
        let applied = tap.total(tap::APPLIED) - applied_before;
        let appended = tap.total(tap::EVENTS_APPENDED) - appended_before;
        if applied >= ok || (applied == 0 && appended >= ok) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    sampling.store(false, Ordering::Relaxed);
    let (syncs, sync_nanos, longest_sync) = sampler.await.map_err(e)?;
    let applied_total = tap.total(tap::APPLIED) - applied_before;
    let appended_total = tap.total(tap::EVENTS_APPENDED) - appended_before;
    let ((cpu_node1, cpu_driver1), cpu_emu1) = (own_cpu_ms(), cpu_ms(emu_pid));
    let by_counter = applied_total > 0;
    let (signal, done_count, stamps) = if by_counter {
        (
            "applied",
            applied_total,
            tap.applied.lock().map_err(e)?[applied_mark..].to_vec(),
        )
    } else {
        eprintln!(
            "pipeline: {label}: hcal_notifications_applied_total did not move; \
             \"applied\" is hcal_mailbox_events_appended_total instead"
        );
        (
            "event_appended",
            appended_total,
            tap.appended.lock().map_err(e)?[appended_mark..].to_vec(),
        )
    };
    let samples: Vec<f64> = tap.latency.lock().map_err(e)?[latency_mark..]
        .iter()
        .map(|(_, s)| s * 1000.0)
        .collect();
    let mut applied_at: Vec<Instant> = stamps
        .iter()
        .flat_map(|(t, c)| std::iter::repeat_n(*t, *c as usize))
        .collect();
    applied_at.sort();
    let done = applied_at.get(ok.saturating_sub(1) as usize).copied();

    if let Some(r) = rate {
        report.figure(&format!("edits_offered_per_s_{label}"), r, "1/s");
    }
    let sent_rate = ok as f64 / (last_ack - first_sent).as_secs_f64().max(1e-9);
    report.figure(&format!("edits_sent_per_s_{label}"), sent_rate, "1/s");
    report.figure(&format!("edits_failed_{label}"), failed as f64, "edits");
    latencies(report, &format!("edit_answer_ms_{label}"), "ms", edit_ms);
    report.figure(
        &format!("notifications_applied_counted_{label}"),
        applied_total as f64,
        "notifications",
    );
    report.figure(&format!("events_appended_{label}"), appended_total as f64, "events");
    match done {
        Some(done) if done_count >= ok => {
            let applied_rate = ok as f64 / (done - first_sent).as_secs_f64().max(1e-9);
            report.figure(&format!("changes_{signal}_per_s_{label}"), applied_rate, "1/s");
            report.ratio(
                &format!("{signal}_vs_sent_{label}"),
                applied_rate,
                sent_rate,
                (
                    &format!("changes_{signal}_per_s_{label}"),
                    &format!("edits_sent_per_s_{label}"),
                ),
            );
            report.figure(
                &format!("drain_after_last_edit_ms_{label}"),
                done.saturating_duration_since(last_ack).as_secs_f64() * 1000.0,
                "ms",
            );
        }
        _ => eprintln!("pipeline: {label}: only {done_count} of {ok} changes {signal} within 60 s of the last edit"),
    }
    report.figure(
        &format!("notification_to_applied_samples_{label}"),
        samples.len() as f64,
        "samples",
    );
    if !samples.is_empty() {
        latencies(report, &format!("notification_to_applied_ms_{label}"), "ms", samples);
    }
    let e2e: Vec<f64> = acked
        .iter()
        .zip(&applied_at)
        .map(|(a, d)| d.saturating_duration_since(*a).as_secs_f64() * 1000.0)
        .collect();
    if let Ok(path) = std::env::var("HCAL_BENCH_DUMP") {
        let mut out = String::new();
        for (i, (a, d)) in acked.iter().zip(&applied_at).enumerate() {
            out.push_str(&format!(
                "{i},{:.3},{:.3}\n",
                (*a - t0).as_secs_f64() * 1000.0,
                (*d - t0).as_secs_f64() * 1000.0
            ));
        }
        let _ = std::fs::write(format!("{path}-{label}.csv"), out);
    }
    if !e2e.is_empty() {
        latencies(report, &format!("edit_to_{signal}_ms_{label}"), "ms", e2e);
    }
    let (posts, batch, post_ms) = deliveries(bench, since).await?;
    report.figure(&format!("notification_posts_{label}"), posts as f64, "posts");
    report.figure(&format!("notification_batch_mean_{label}"), batch, "notifications");
    report.figure(&format!("notification_post_ms_mean_{label}"), post_ms, "ms");
    report.figure(&format!("log_fsyncs_{label}"), syncs as f64, "fsyncs");
    report.figure(
        &format!("log_fsync_ms_mean_{label}"),
        sync_nanos as f64 / syncs.max(1) as f64 / 1e6,
        "ms",
    );
    report.figure(
        &format!("log_fsync_ms_most_in_5ms_{label}"),
        longest_sync as f64 / 1e6,
        "ms",
    );
    let changes = ok.max(1) as f64;
    report.figure(
        &format!("graph_gets_per_change_{label}"),
        (tap.total("hcal_mailbox_graph_gets_total") - gets_before) as f64 / changes,
        "gets",
    );
    report.figure(
        &format!("coalesced_per_change_{label}"),
        (tap.total("hcal_notifications_coalesced_total") - coalesced_before) as f64 / changes,
        "notifications",
    );
    report.figure(
        &format!("node_cpu_ms_per_change_{label}"),
        (cpu_node1 - cpu_node0) / changes,
        "ms",
    );
    report.figure(
        &format!("driver_cpu_ms_per_change_{label}"),
        (cpu_driver1 - cpu_driver0) / changes,
        "ms",
    );
    report.figure(
        &format!("emulator_cpu_ms_per_change_{label}"),
        (cpu_emu1 - cpu_emu0) / changes,
        "ms",
    );
    Ok(())
}

/// Activation between two snapshots at worst: 200 streams of 200 events
/// (the node snapshots every 200), each left with 20 meetings, from the log
/// alone and from a snapshot, in a scratch store.
fn activation_worst_case(report: &Report) -> Result<(), String> {
    const STREAMS: usize = 200;
    const HISTORY: usize = 200;
    let dir = baseline::scratch()?;
    let store = Store::open(&dir.path().join("hcal"), SecretKey::generate(), &LogOptions::default()).map_err(e)?;
    let org = OrgId::new("bench").map_err(e)?;
    let mut cal = SampleCalendar::new(7);
    let streams: Vec<StreamId> = (0..STREAMS)
        .map(|i| MailboxKey::parse(&format!("{i:032x}")).map(|k| StreamId::mailbox(&org, &k)))
        .collect::<Result<_, _>>()
        .map_err(e)?;
    for s in &streams {
        let sealer = store.sealer(s).map_err(e)?;
        let mut new = Vec::with_capacity(HISTORY);
        for h in 0..HISTORY {
            let start = Timestamp(1_780_000_000_000 + (h % 20) as i64 * 86_400_000);
            let meeting = cal
                .meeting(&sealer, &format!("AAMkAGworst{:04}", h % 20), start)
                .map_err(e)?;
            let event: MailboxEvent = CalendarEventUpserted { meeting }.into();
            new.push(NewEvent::from_event(&event).map_err(e)?);
        }
        store
            .log
            .append_blocking(s, ExpectedVersion::Exact(0), new)
            .map_err(e)?;
    }
    let mut from_log = Vec::with_capacity(STREAMS);
    for s in &streams {
        let _ = load_from_log(&store, s)?;
        let t = Instant::now();
        let state = load_from_log(&store, s)?;
        from_log.push(t.elapsed().as_secs_f64() * 1e6);
        Journal::<MailboxState>::load(&store, s.clone())
            .map_err(e)?
            .snapshot()
            .map_err(e)?;
        if state.meetings.len() != 20 {
            return Err(format!("{s}: {} meetings", state.meetings.len()));
        }
    }
    let mut from_snapshot = Vec::with_capacity(STREAMS);
    for s in &streams {
        let _ = Journal::<MailboxState>::load(&store, s.clone()).map_err(e)?;
        let t = Instant::now();
        let _ = Journal::<MailboxState>::load(&store, s.clone()).map_err(e)?;
        from_snapshot.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let p50 = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        percentile(&v, 50.0)
    };
    let (log_p50, snap_p50) = (p50(&from_log), p50(&from_snapshot));
    latencies(report, "activation_200_events_from_log_us", "us", from_log);
    latencies(report, "activation_200_events_from_snapshot_us", "us", from_snapshot);
    report.ratio(
        "activation_200_events_log_vs_snapshot_p50",
        log_p50,
        snap_p50,
        (
            "activation_200_events_from_log_us_p50",
            "activation_200_events_from_snapshot_us_p50",
        ),
    );
    Ok(())
}

/// Enables mailboxes `from..to` over the admin API and waits until each has
/// synced its meetings (every event appended) and shows as activated. Returns
/// how many of all users show as activated.
async fn enable_and_sync(
    bench: &Arc<Bench>,
    tap: &tap::Tap,
    from: usize,
    to: usize,
    meetings: usize,
    seen_in_error: &mut std::collections::HashSet<String>,
) -> Result<usize, String> {
    let t = Instant::now();
    let b = bench.clone();
    each(to - from, 16, move |i| {
        let b = b.clone();
        async move { b.enable(from + i).await }
    })
    .await?;
    let want = (to * (meetings + 1)) as u64;
    let deadline = Instant::now() + Duration::from_secs(120) + Duration::from_millis(40 * (to - from) as u64);
    let mut said = Instant::now();
    let mut checked = Instant::now();
    let mut activated = 0;
    let mut summary = bench.summary().await?;
    // Mailboxes seen in error: the node tries them again itself (30 s after a transient
    // failure, doubling), so the bench only waits.
    while tap.total(tap::EVENTS_APPENDED) < want || activated < to {
        // The counts while waiting; the whole list (to name them) only when some are in error.
        if checked.elapsed() > Duration::from_secs(2) {
            summary = bench.summary().await?;
            activated = summary.activated;
            if summary.in_error > 0 {
                for (email, status) in bench.users().await?.iter().filter(|(_, s)| s.starts_with("error")) {
                    if seen_in_error.insert(email.clone()) {
                        eprintln!("pipeline: {email}: {status}");
                    }
                }
            }
            checked = Instant::now();
        }
        if Instant::now() > deadline {
            return Err(format!(
                "initial sync: {} of {want} events after {:?}; users: {summary}",
                tap.total(tap::EVENTS_APPENDED),
                t.elapsed(),
            ));
        }
        if said.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "pipeline: initial sync {} of {want} events; users: {summary}",
                tap.total(tap::EVENTS_APPENDED),
            );
            said = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(activated)
}
