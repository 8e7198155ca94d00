//! `hcal-bench join`, second part: keyword meetings decorated end to end,
//! from the Graph notification received to the join details PATCHed into
//! the event, at a paced rate of new `@webex` meetings.
//!
//! Set-up as in `pipeline`: the emulator in a child process seeded with
//! `--mailboxes` users (no meetings), the node in this process, the org
//! connected and every user enabled and synced. Then `--decorations`
//! meetings with `@webex` as their Location (tomorrow, an external guest)
//! are created through the emulator's control API, as their organisers
//! would in Outlook, at `--rate` per second round-robin over the users.
//! Each leads to a notification, the node's GET, the personal room from
//! the built-in provider, a GET of the current event and the PATCH with
//! `If-Match`. The echo notification of that PATCH carries the changeKey
//! the PATCH answered with (`@odata.etag`), which the mailbox already
//! holds: no GET, no PATCH.
//!
//! Figures:
//! - `notification_to_patch_ms_*`: the node's own histogram
//!   (`hcal_join_notification_to_patch_seconds`: from the webhook's receipt
//!   of the notification that started the mailbox's round to the PATCH
//!   answered *and* recorded in the log; millisecond resolution), every
//!   sample, captured by the bench's recorder (`tap.rs`). It ends later
//!   than "PATCH sent", so it is the stricter measure.
//! - `create_to_patched_ms_*`: the bench's own, from the emulator's answer
//!   to the create to the k-th histogram sample (exact while decorations
//!   finish in the order the meetings were made; an approximation
//!   otherwise). It includes the emulator's notification batching wait.
//! - `decorations_per_s`: decorations over the time from the first create
//!   to the last PATCH; `patches_per_decoration` and
//!   `graph_gets_per_decoration` from the emulator's request log (1.0 and
//!   2.0 when nothing is wasted: the notification's GET and the GET before
//!   the PATCH).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hcal::node::NodeHandle;
use serde_json::{Value, json};

use crate::report::Report;
use crate::world::{self, Bench, EmulatorProcess, by_status, cpu_ms, e, each, json_of, latencies, mail, own_cpu_ms};
use crate::{baseline, tap};

pub struct DecorateBench {
    pub mailboxes: usize,
    pub decorations: usize,
    /// New keyword meetings per second.
    pub rate: f64,
}

pub fn run(args: &DecorateBench, report: &Report) -> Result<(), String> {
    let tap = tap::install().ok_or("another metrics recorder was installed first")?;
    let n = args.mailboxes.max(1);
    let emu = EmulatorProcess::start(n, 0, 10)?;
    let emu_pid = emu.pid().to_string();
    let dir = baseline::scratch()?;
    let node = NodeHandle::spawn(world::config(&emu.base_url, &dir)?).map_err(e)?;
    let rt = world::runtime()?;
    let bench = Arc::new(Bench::new(node.url(), emu.base_url.clone(), 64)?);
    let result = rt.block_on(measure(args, report, &bench, &tap, &emu_pid));
    node.stop();
    emu.stop();
    result
}

async fn measure(
    args: &DecorateBench,
    report: &Report,
    bench: &Arc<Bench>,
    tap: &tap::Tap,
    emu_pid: &str,
) -> Result<(), String> {
    let n = args.mailboxes.max(1);
    let m = args.decorations.max(1);
    let rate = args.rate.max(1.0);
    report.figure("decorate_mailboxes", n as f64, "mailboxes");
    report.figure("decorations_offered_per_s", rate, "1/s");

    bench.connect().await?;
    let b = bench.clone();
    each(n, 16, move |i| {
        let b = b.clone();
        async move { b.enable(i).await }
    })
    .await?;
    let deadline = Instant::now() + Duration::from_secs(60) + Duration::from_millis(20 * n as u64);
    loop {
        let users = bench.users().await?;
        let ours = users.iter().filter(|(m, _)| m.starts_with("user")).count();
        let activated = users
            .iter()
            .filter(|(m, s)| m.starts_with("user") && s == "activated")
            .count();
        if ours == n && activated == n {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("enabling: users by status {:?}", by_status(&users)));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let before = requests(bench).await?;
    let samples_mark = tap.patch_latency.lock().map_err(e)?.len();
    let patches_before = tap.total("hcal_join_patches_total");
    let failures_before = tap.total("hcal_join_failures_total");
    let ((cpu_node0, cpu_driver0), cpu_emu0) = (own_cpu_ms(), cpu_ms(emu_pid));
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).date_naive();
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(m);
    for k in 0..m {
        tokio::time::sleep_until((t0 + Duration::from_secs_f64(k as f64 / rate)).into()).await;
        let permit = gate.clone().acquire_owned().await.map_err(e)?;
        let b = bench.clone();
        let hour = 8 + (k / n) % 10;
        let body = json!({
            "subject": format!("Review {k}"),
            "start": {"dateTime": format!("{tomorrow}T{hour:02}:00:00"), "timeZone": "UTC"},
            "end": {"dateTime": format!("{tomorrow}T{hour:02}:30:00"), "timeZone": "UTC"},
            "location": {"displayName": "@webex"},
            "body": {"contentType": "html", "content": "<p>Agenda: the quarter.</p>"},
            "attendees": [{"type": "required", "emailAddress": {"address": "guest@fabrikam.example", "name": "Guest"}}]
        });
        let user = mail(k % n);
        tasks.push(tokio::spawn(async move {
            let r = b
                .http
                .post(format!("{}/_emulator/users/{user}/events", b.emulator))
                .json(&body)
                .send()
                .await;
            drop(permit);
            match r {
                Ok(r) if r.status().as_u16() == 201 => Ok(Instant::now()),
                Ok(r) => Err(format!("create {k}: {}", r.status())),
                Err(x) => Err(format!("create {k}: {}", world::chain(&x))),
            }
        }));
    }
    let mut created = Vec::with_capacity(m);
    for t in tasks {
        created.push(t.await.map_err(e)??);
    }
    let sent_s = t0.elapsed().as_secs_f64();
    created.sort();
    let last = created.last().copied().unwrap_or(t0);
    let wait = last + Duration::from_secs(60);
    while tap.total("hcal_join_patches_total") - patches_before < m as u64 {
        if Instant::now() > wait {
            return Err(format!(
                "{} of {m} meetings decorated a minute after the last create; join failures {}",
                tap.total("hcal_join_patches_total") - patches_before,
                tap.total("hcal_join_failures_total") - failures_before
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The echoes of the last PATCHes, so that the request counts are whole.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = requests(bench).await?;
    let ((cpu_node1, cpu_driver1), cpu_emu1) = (own_cpu_ms(), cpu_ms(emu_pid));

    let samples: Vec<(Instant, f64)> = tap.patch_latency.lock().map_err(e)?[samples_mark..].to_vec();
    let done = samples.last().map_or(last, |(at, _)| *at);
    report.figure("creates_sent_per_s", m as f64 / sent_s, "1/s");
    report.figure("decorations", samples.len() as f64, "decorations");
    report.figure(
        "decorations_per_s",
        samples.len() as f64 / (done - t0).as_secs_f64(),
        "1/s",
    );
    latencies(
        report,
        "notification_to_patch_ms",
        "ms",
        samples.iter().map(|(_, s)| s * 1000.0).collect(),
    );
    latencies(
        report,
        "create_to_patched_ms",
        "ms",
        created
            .iter()
            .zip(&samples)
            .map(|(c, (at, _))| at.saturating_duration_since(*c).as_secs_f64() * 1000.0)
            .collect(),
    );
    let count = |v: &Value, route: &str| v["counts"][route].as_f64().unwrap_or(0.0);
    let delta = |routes: &[&str]| routes.iter().map(|r| count(&after, r) - count(&before, r)).sum::<f64>();
    let per = samples.len().max(1) as f64;
    report.figure(
        "patches_per_decoration",
        delta(&[
            "PATCH /v1.0/users/{user}/events/{id}",
            "PATCH /v1.0/users/{user}/calendar/events/{id}",
        ]) / per,
        "requests",
    );
    report.figure(
        "graph_gets_per_decoration",
        delta(&[
            "GET /v1.0/users/{user}/events/{id}",
            "GET /v1.0/users/{user}/calendar/events/{id}",
        ]) / per,
        "requests",
    );
    report.figure(
        "join_failures",
        (tap.total("hcal_join_failures_total") - failures_before) as f64,
        "failures",
    );
    report.figure("node_cpu_ms_per_decoration", (cpu_node1 - cpu_node0) / per, "ms");
    report.figure("driver_cpu_ms_per_decoration", (cpu_driver1 - cpu_driver0) / per, "ms");
    report.figure("emulator_cpu_ms_per_decoration", (cpu_emu1 - cpu_emu0) / per, "ms");
    Ok(())
}

/// The emulator's request log: `{"counts": {"METHOD route": n}, ...}`.
async fn requests(bench: &Bench) -> Result<Value, String> {
    json_of(bench.http.get(format!("{}/_emulator/requests", bench.emulator))).await
}
