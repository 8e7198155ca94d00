//! What the benchmarks that run a node share: the Graph emulator in a child
//! process (`hcal-bench pipeline-emulator`, seeded with N users), the node's
//! admin API and the emulator's control API over HTTP, and small helpers.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hcal::config::Config;
use hcal::node::NodeHandle;
use hcal_actors::keys::MasterKeySource;
use hcal_actors::tenant::UserCounts;
use hcal_emulator::seed::{EXAMPLE_CLIENT, EXAMPLE_SECRET};
use hcal_emulator::{EmulatorConfig, EmulatorHandle, Seed, SeedUser};
use hcal_schemas::OrgId;
use serde_json::{Value, json};

use crate::report::{Report, percentile};

pub(crate) const ADMIN: &str = "bench-admin-token-0123456789";
pub(crate) const ORG: &str = "bench";

/// Sends `req` and reads its answer as JSON; a failure names the request.
pub(crate) async fn json_of(req: reqwest::RequestBuilder) -> Result<Value, String> {
    let r = req.send().await.map_err(e)?;
    body_json(r).await
}

/// An answer's body as JSON, or an error naming the URL and status, and
/// the body's start when it is not JSON (a hard-to-place "error decoding
/// response body" stopped a run under heaptrack).
async fn body_json(r: reqwest::Response) -> Result<Value, String> {
    let (url, status) = (r.url().clone(), r.status());
    let text = r
        .text()
        .await
        .map_err(|err| format!("{url}: {status}, reading the body: {err}"))?;
    serde_json::from_str(&text).map_err(|err| {
        let head: String = text.chars().take(200).collect();
        format!("{url}: {status}, body is not JSON ({err}): {head:?}")
    })
}

pub(crate) fn e<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// An error with its sources, for transport failures.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

pub(crate) fn mail(i: usize) -> String {
    format!("user{i:05}@contoso.example")
}

// ---------------------------------------------------------------------------
// The emulator, in a child process.

/// `hcal-bench pipeline-emulator`: an emulator seeded with `users` users of
/// `meetings` meetings each; prints `{"base_url", "ids": [[...] per user]}`
/// on one line and serves until its stdin closes.
pub fn serve_emulator(users: usize, meetings: usize, batch: usize) -> Result<(), String> {
    let mut seed = Seed::example();
    let tenant = seed.tenants.first_mut().ok_or("the example seed has no tenant")?;
    for i in 0..users {
        tenant.users.push(SeedUser {
            id: format!("00000000-0000-4000-8000-{i:012}"),
            mail: mail(i),
            display_name: format!("User {i}"),
            locale: Some("en-US".into()),
            time_zone: Some("UTC".into()),
            unlicensed: false,
            in_policy: true,
            automatic_replies_setting: None,
        });
    }
    let config = EmulatorConfig {
        notification_batch_size: batch.max(1),
        ..Default::default()
    };
    let emu = EmulatorHandle::spawn_thread(seed, config).map_err(e)?;
    let today = emu.now().date_naive();
    let mut ids = Vec::with_capacity(users);
    for i in 0..users {
        let bodies: Vec<Value> = (0..meetings)
            .map(|j| {
                let day = today + chrono::Duration::days(1 + (j % 28) as i64);
                let hour = 8 + (j / 28) % 10;
                let body = if j % 2 == 0 {
                    format!(
                        "<p>Agenda: status, risks, next steps.</p><p>Join Zoom: <a href=\"https://us02web.zoom.us/j/8123456{j:04}?pwd=K2tQZmRrZ0xy\">https://us02web.zoom.us/j/8123456{j:04}</a></p>"
                    )
                } else {
                    "<p>Agenda: status, risks, next steps.</p>".to_string()
                };
                json!({
                    "subject": format!("Planning {j}"),
                    "body": {"contentType": "html", "content": body},
                    "start": {"dateTime": format!("{day}T{hour:02}:00:00"), "timeZone": "UTC"},
                    "end": {"dateTime": format!("{day}T{hour:02}:45:00"), "timeZone": "UTC"},
                    "location": {"displayName": "Room 4.12"},
                    "attendees": [{"type": "required", "emailAddress": {"address": "guest@fabrikam.example", "name": "Guest"}}]
                })
            })
            .collect();
        ids.push(emu.insert_events(&mail(i), &bodies).map_err(|g| format!("{g:?}"))?);
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", json!({"base_url": emu.base_url(), "ids": ids})).map_err(e)?;
        out.flush().map_err(e)?;
    }
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    emu.stop_blocking();
    Ok(())
}

pub(crate) struct EmulatorProcess {
    child: Child,
    pub(crate) base_url: String,
    /// Event ids per user.
    pub(crate) ids: Vec<Vec<String>>,
}

impl EmulatorProcess {
    pub(crate) fn start(users: usize, meetings: usize, batch: usize) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(e)?;
        let mut child = Command::new(exe)
            .args([
                "pipeline-emulator",
                "--users",
                &users.to_string(),
                "--meetings",
                &meetings.to_string(),
                "--notification-batch",
                &batch.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(e)?;
        let stdout = child.stdout.take().ok_or("no stdout from the emulator process")?;
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let mut this = Self {
            child,
            base_url: String::new(),
            ids: Vec::new(),
        };
        read.map_err(e)?;
        let v: Value = serde_json::from_str(&line).map_err(|x| format!("the emulator process said {line:?}: {x}"))?;
        this.base_url = v["base_url"].as_str().ok_or("no base_url")?.to_string();
        this.ids = serde_json::from_value(v["ids"].clone()).map_err(e)?;
        Ok(this)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes its stdin and waits for it to stop.
    pub(crate) fn stop(mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The configuration of a node on loopback against the emulator at `graph`, its data in `dir`.
pub(crate) fn config(graph: &str, dir: &tempfile::TempDir) -> Result<Config, String> {
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(e)?;
    let master = MasterKeySource::Value(zeroize::Zeroizing::new(
        "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=".into(),
    ));
    Ok(Config::local(
        graph,
        EXAMPLE_CLIENT,
        EXAMPLE_SECRET,
        &dir.path().join("data"),
        listen,
        ADMIN,
        master,
    ))
}

/// The runtime the bench drives its HTTP clients on.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(DRIVER)
        .enable_all()
        .build()
        .map_err(e)
}

/// The name of the driver's threads (see [`runtime`]).
const DRIVER: &str = "bench-driver";

/// CPU time (user + system) of a process so far, milliseconds (USER_HZ = 100).
pub(crate) fn cpu_ms(pid: &str) -> f64 {
    stat_cpu_ms(&format!("/proc/{pid}/stat"))
}

/// This process's CPU time so far, ms, split: (the node's, the driver's).
/// The driver's is its runtime's threads' and the main thread's (which
/// blocks on that runtime); the node's is the rest, threads that have
/// exited included (the process's total counts them).
pub(crate) fn own_cpu_ms() -> (f64, f64) {
    let total = cpu_ms("self");
    let main = std::process::id().to_string();
    let driver: f64 = std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|task| {
            task.file_name().to_str() == Some(main.as_str())
                || std::fs::read_to_string(task.path().join("comm")).is_ok_and(|c| c.trim_end() == DRIVER)
        })
        .map(|task| stat_cpu_ms(&task.path().join("stat").to_string_lossy()))
        .sum();
    (total - driver, driver)
}

fn stat_cpu_ms(path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return 0.0;
    };
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return 0.0;
    };
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) * 10.0
}

// ---------------------------------------------------------------------------
// The node, over HTTP.

pub(crate) struct Bench {
    pub(crate) http: reqwest::Client,
    pub(crate) node: String,
    pub(crate) emulator: String,
    pub(crate) org: OrgId,
}

impl Bench {
    /// A client of the node at `node` and the emulator at `emulator`, keeping up to
    /// `in_flight` connections to each.
    pub(crate) fn new(node: String, emulator: String, in_flight: usize) -> Result<Self, String> {
        Ok(Self {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(in_flight.max(16))
                // Below actix's 5 s keep-alive, so an idle connection is not reused as the server closes it.
                .pool_idle_timeout(Duration::from_secs(2))
                .build()
                .map_err(e)?,
            node,
            emulator,
            org: OrgId::new(ORG).map_err(e)?,
        })
    }

    /// A request to the node, with the admin token.
    fn node_request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.node))
            .bearer_auth(ADMIN)
    }

    pub(crate) async fn connect(&self) -> Result<(), String> {
        let setup =
            json_of(self.node_request(reqwest::Method::POST, &format!("/admin/v1/orgs/{ORG}/calendar/setup"))).await?;
        let url = setup["consent_url"].as_str().ok_or("no consent url")?;
        let consent = self.http.get(url).send().await.map_err(e)?;
        if !consent.status().is_success() {
            return Err(format!("consent failed: {}", consent.status()));
        }
        Ok(())
    }

    pub(crate) async fn enable(&self, i: usize) -> Result<(), String> {
        self.enable_address(&mail(i)).await
    }

    pub(crate) async fn enable_address(&self, email: &str) -> Result<(), String> {
        let r = self
            .node_request(reqwest::Method::PUT, &format!("/admin/v1/orgs/{ORG}/users/{email}"))
            .send()
            .await
            .map_err(e)?;
        if !r.status().is_success() {
            return Err(format!("enabling {email}: {}", r.status()));
        }
        Ok(())
    }

    /// The meeting list of user `i` (activates the mailbox); its length.
    pub(crate) async fn meetings(&self, i: usize) -> Result<usize, String> {
        let r = self
            .node_request(reqwest::Method::GET, &format!("/api/v1/users/{}/meetings", mail(i)))
            .send()
            .await
            .map_err(e)?;
        let status = r.status();
        let body = body_json(r).await?;
        if !status.is_success() {
            return Err(format!("meetings of {}: {status} {body}", mail(i)));
        }
        Ok(body["meetings"].as_array().map_or(0, Vec::len))
    }

    pub(crate) async fn edit(&self, user: usize, id: &str, n: usize) -> Result<(), String> {
        let r = self
            .http
            .patch(format!("{}/_emulator/users/{}/events/{id}", self.emulator, mail(user)))
            .json(&json!({"subject": format!("Planning, edit {n}")}))
            .send()
            .await
            .map_err(|x| format!("edit {n}: {}", chain(&x)))?;
        if !r.status().is_success() {
            return Err(format!("edit {n}: {}", r.status()));
        }
        Ok(())
    }

    /// The org's enabled users by status, counted by the node: what a
    /// bench polls while it waits, since the whole list is built, read and
    /// sent anew on every request, a cost in the node's memory that grows
    /// with the users.
    pub(crate) async fn summary(&self) -> Result<UserCounts, String> {
        let v = json_of(self.node_request(reqwest::Method::GET, &format!("/admin/v1/orgs/{ORG}"))).await?;
        <UserCounts as serde::Deserialize>::deserialize(&v)
            .map_err(|x| format!("org summary without its counts ({x}): {v}"))
    }

    /// Every user's address and status (`activated`, `pending`, or `error {kind, code}`).
    pub(crate) async fn users(&self) -> Result<Vec<(String, String)>, String> {
        let v = json_of(self.node_request(reqwest::Method::GET, &format!("/admin/v1/orgs/{ORG}/users"))).await?;
        Ok(v["users"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|u| {
                let status = match u.get("error").filter(|e| !e.is_null()) {
                    Some(err) => format!(
                        "{} {}",
                        u["status"].as_str().unwrap_or_default(),
                        json!({"kind": err["kind"], "code": err["code"]})
                    ),
                    None => u["status"].as_str().unwrap_or_default().to_string(),
                };
                (u["email"].as_str().unwrap_or_default().to_string(), status)
            })
            .collect())
    }
}

/// Users by status.
pub(crate) fn by_status(users: &[(String, String)]) -> std::collections::BTreeMap<&str, usize> {
    let mut by = std::collections::BTreeMap::new();
    for (_, s) in users {
        *by.entry(s.as_str()).or_insert(0) += 1;
    }
    by
}

/// Runs `f(i)` for i in 0..n with `workers` concurrent tasks; returns each call's
/// duration (ms) and value, by i.
pub(crate) async fn each<F, Fut, T>(n: usize, workers: usize, f: F) -> Result<Vec<(f64, T)>, String>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<T, String>> + Send,
    T: Send + 'static,
{
    let f = Arc::new(f);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers.max(1) {
        let (f, next) = (f.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, String>(out);
                }
                let t = Instant::now();
                let v = f(i).await?;
                out.push((i, t.elapsed().as_secs_f64() * 1000.0, v));
            }
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.map_err(e)??);
    }
    all.sort_by_key(|(i, _, _)| *i);
    Ok(all.into_iter().map(|(_, ms, v)| (ms, v)).collect())
}

pub(crate) fn latencies(report: &Report, name: &str, unit: &str, mut v: Vec<f64>) {
    v.sort_by(f64::total_cmp);
    report.figure(&format!("{name}_p50"), percentile(&v, 50.0), unit);
    report.figure(&format!("{name}_p99"), percentile(&v, 99.0), unit);
    report.figure(&format!("{name}_max"), v.last().copied().unwrap_or(0.0), unit);
}

/// Lets sled write out and drop what it buffers (an empty durable commit
/// flushes), so heap readings do not depend on where its flush cycle was.
pub(crate) async fn settle(node: &NodeHandle) -> Result<(), String> {
    node.state.store.log.write_durable(Vec::new()).await.map_err(e)?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(())
}

/// The emulator's notification POSTs completed since `since`: (count, mean batch, mean ms).
pub(crate) async fn deliveries(
    bench: &Bench,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<(usize, f64, f64), String> {
    let v = json_of(bench.http.get(format!("{}/_emulator/notifications", bench.emulator))).await?;
    let mut posts = 0usize;
    let (mut items, mut ms) = (0.0, 0.0);
    for d in v["deliveries"].as_array().into_iter().flatten() {
        let at = d["at"]
            .as_str()
            .and_then(|a| chrono::DateTime::parse_from_rfc3339(a).ok());
        if d["lifecycle"] == true || at.is_none_or(|a| a < since) {
            continue;
        }
        posts += 1;
        items += d["count"].as_f64().unwrap_or(0.0);
        ms += d["elapsed_ms"].as_f64().unwrap_or(0.0);
    }
    let p = posts.max(1) as f64;
    Ok((posts, items / p, ms / p))
}
