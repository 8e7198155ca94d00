//! What the end-to-end tests share: the Graph emulator and an hcal node,
//! both real servers on loopback, and small HTTP helpers.
#![allow(dead_code)]

pub mod meeting_service;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hcal::config::Config;
use hcal::node::NodeHandle;
use hcal_actors::keys::MasterKeySource;
use hcal_emulator::seed::{EXAMPLE_CLIENT, EXAMPLE_SECRET};
use hcal_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Seed};
use serde_json::{Value, json};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const MASTER_B64: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

/// A free loopback port (so the node's public URL is known before it starts).
pub fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// The example seed with `n` more licensed, in-policy users in its tenant,
/// `mail(i)` each; `group` keeps their directory ids apart from another
/// test's.
pub fn example_with_users(group: u16, n: usize, mail: impl Fn(usize) -> String) -> Seed {
    let mut seed = Seed::example();
    for i in 0..n {
        seed.tenants[0].users.push(hcal_emulator::seed::SeedUser {
            id: format!("00000000-0000-4000-{group:04x}-{i:012}"),
            mail: mail(i),
            display_name: format!("User {i}"),
            locale: None,
            time_zone: Some("UTC".into()),
            unlicensed: false,
            in_policy: true,
            automatic_replies_setting: None,
        });
    }
    seed
}

pub fn config(emulator: &EmulatorHandle, data_dir: &Path, listen: SocketAddr) -> Config {
    let mut c = Config::local(
        &emulator.base_url(),
        EXAMPLE_CLIENT,
        EXAMPLE_SECRET,
        data_dir,
        listen,
        ADMIN_TOKEN,
        MasterKeySource::Value(zeroize::Zeroizing::new(MASTER_B64.into())),
    );
    c.max_body_bytes = 1024 * 1024;
    c
}

pub struct World {
    pub emulator: EmulatorHandle,
    pub node: Option<NodeHandle>,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    pub listen: SocketAddr,
}

impl World {
    pub async fn start(seed: Seed) -> World {
        Self::start_with(seed, EmulatorConfig::default()).await
    }

    pub async fn start_with(seed: Seed, emulator_config: EmulatorConfig) -> World {
        Self::start_configured(seed, emulator_config, |_| {}).await
    }

    /// With the node's configuration adjusted by `tune`.
    pub async fn start_configured(
        seed: Seed,
        emulator_config: EmulatorConfig,
        tune: impl FnOnce(&mut Config),
    ) -> World {
        if std::env::var_os("HCAL_LOG").is_some() {
            hcal::telemetry::init(hcal::telemetry::LogFormat::Human);
        }
        let emulator = Emulator::start(seed, emulator_config).await.expect("emulator");
        let dir = tempfile::tempdir().expect("tempdir");
        let listen = free_port();
        let mut c = config(&emulator, &dir.path().join("data"), listen);
        tune(&mut c);
        let node = NodeHandle::spawn(c).expect("node");
        World {
            emulator,
            node: Some(node),
            dir,
            http: reqwest::Client::new(),
            listen,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.listen)
    }

    pub fn node(&self) -> &NodeHandle {
        self.node.as_ref().expect("node running")
    }

    /// Stops the node (a clean stop) and starts it again on the same data directory.
    pub fn restart(&mut self) {
        if let Some(n) = self.node.take() {
            n.stop();
        }
        let node = NodeHandle::spawn(config(&self.emulator, &self.data_dir(), self.listen)).expect("node restart");
        self.node = Some(node);
    }

    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, self.url(&format!("/admin/v1{path}")))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("admin request");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn emu(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/_emulator{path}", self.emulator.base_url()));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("emulator request");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Setup with admin consent, following the consent redirect as a browser would.
    pub async fn connect(&self, org: &str) -> (u16, Value) {
        let (status, body) = self
            .admin(reqwest::Method::POST, &format!("/orgs/{org}/calendar/setup"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        let url = body["consent_url"].as_str().expect("consent_url").to_string();
        let res = self.http.get(url).send().await.expect("consent");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn enable(&self, org: &str, email: &str, kind: &str) -> (u16, Value) {
        self.admin(
            reqwest::Method::PUT,
            &format!("/orgs/{org}/users/{email}"),
            Some(json!({"kind": kind})),
        )
        .await
    }

    /// The node's `/metrics` page.
    pub async fn metrics(&self) -> String {
        let res = self.http.get(self.url("/metrics")).send().await.expect("metrics");
        res.text().await.expect("metrics text")
    }

    pub async fn users(&self, org: &str) -> Vec<Value> {
        let (s, body) = self
            .admin(reqwest::Method::GET, &format!("/orgs/{org}/users"), None)
            .await;
        assert_eq!(s, 200, "{body}");
        body["users"].as_array().cloned().unwrap_or_default()
    }

    pub async fn user_status(&self, org: &str, email: &str) -> Option<Value> {
        self.users(org).await.into_iter().find(|u| u["email"] == email)
    }

    /// Waits up to `secs` for `email`'s status in `org` to be `status`.
    pub async fn await_status(&self, org: &str, email: &str, status: &str, secs: u64) {
        eventually(secs, &format!("{email} {status}"), || async {
            self.user_status(org, email)
                .await
                .is_some_and(|u| u["status"] == status)
        })
        .await;
    }

    pub async fn subscriptions(&self) -> Vec<Value> {
        let (s, body) = self.admin(reqwest::Method::GET, "/subscriptions", None).await;
        assert_eq!(s, 200, "{body}");
        body["subscriptions"].as_array().cloned().unwrap_or_default()
    }

    /// Graph's truth about subscriptions.
    pub async fn graph_subscriptions(&self) -> Vec<Value> {
        let (_, body) = self.emu(reqwest::Method::GET, "/subscriptions", None).await;
        body.as_array()
            .cloned()
            .or_else(|| body["value"].as_array().cloned())
            .unwrap_or_default()
    }

    pub async fn requests(&self) -> Value {
        self.emu(reqwest::Method::GET, "/requests", None).await.1
    }

    /// Moves both clocks (the emulator's and the node's) forward.
    pub async fn advance(&self, seconds: i64) {
        let (s, b) = self
            .emu(
                reqwest::Method::POST,
                "/clock",
                Some(json!({"advance_seconds": seconds})),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        let (s, b) = self
            .admin(
                reqwest::Method::POST,
                "/clock",
                Some(json!({"advance_seconds": seconds})),
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }
}

/// Polls `check` until it holds (or panics with `what` after `secs`).
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if check().await {
            return;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `hcal serve` as a child process (for kill -9 drills).
pub struct NodeProcess {
    pub child: std::process::Child,
    pub listen: SocketAddr,
}

impl NodeProcess {
    pub async fn start(emulator: &EmulatorHandle, data_dir: &Path, listen: SocketAddr, log: &Path) -> NodeProcess {
        Self::start_with_log_level(emulator, data_dir, listen, log, "info").await
    }

    pub async fn start_with_log_level(
        emulator: &EmulatorHandle,
        data_dir: &Path,
        listen: SocketAddr,
        log: &Path,
        level: &str,
    ) -> NodeProcess {
        let dir = data_dir.parent().expect("parent");
        let config = dir.join("hcal.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"{listen}\"\npublic_url = \"http://{listen}\"\ndata_dir = \"{}\"\ngraph_url = \"{}\"\nlogin_url = \"{}\"\nclient_id = \"{EXAMPLE_CLIENT}\"\nadjustable_clock = true\n[subscriptions]\ntick_seconds = 1\n",
                data_dir.display(),
                emulator.base_url(),
                emulator.base_url()
            ),
        )
        .expect("config");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_hcal"))
            .args(["--log-format", "json", "serve", "--config"])
            .arg(&config)
            .env("HCAL_CLIENT_SECRET", EXAMPLE_SECRET)
            .env("HCAL_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("HCAL_MASTER_KEY", MASTER_B64)
            .env_remove("HCAL_MASTER_KEY_FILE")
            .env("HCAL_LOG", level)
            .stdout(std::process::Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .expect("log file"),
            )
            .spawn()
            .expect("spawn hcal serve");
        let http = reqwest::Client::new();
        let url = format!("http://{listen}/healthz");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !http.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
            if Instant::now() > deadline {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(10).collect();
                panic!("hcal serve did not answer /healthz; its log ends:\n{}", tail.join("\n"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        NodeProcess { child, listen }
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The master key the test nodes use.
pub fn master() -> hcal_schemas::SecretKey {
    hcal_actors::keys::load_master_key(Some(&MasterKeySource::Value(zeroize::Zeroizing::new(
        MASTER_B64.into(),
    ))))
    .expect("master key")
}

/// The emulator and `hcal serve` as a child process, for drills that kill it.
pub struct ProcessWorld {
    pub emulator: EmulatorHandle,
    pub dir: tempfile::TempDir,
    pub listen: SocketAddr,
    pub http: reqwest::Client,
    pub node: Option<NodeProcess>,
    level: &'static str,
}

impl ProcessWorld {
    pub async fn start(seed: Seed, level: &'static str) -> ProcessWorld {
        let emulator = Emulator::start(seed, EmulatorConfig::default())
            .await
            .expect("emulator");
        let dir = tempfile::tempdir().expect("tempdir");
        let listen = free_port();
        let mut w = ProcessWorld {
            emulator,
            dir,
            listen,
            http: reqwest::Client::new(),
            node: None,
            level,
        };
        w.start_node().await;
        w
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log(&self) -> PathBuf {
        self.dir.path().join("node.log")
    }

    /// Starts (or restarts) the node on the same data directory.
    pub async fn start_node(&mut self) {
        let node =
            NodeProcess::start_with_log_level(&self.emulator, &self.data(), self.listen, &self.log(), self.level).await;
        self.node = Some(node);
    }

    pub fn kill9(&mut self) {
        if let Some(n) = self.node.take() {
            n.kill9();
        }
    }

    pub fn admin(&self, m: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(m, format!("http://{}/admin/v1{path}", self.listen))
            .bearer_auth(ADMIN_TOKEN)
    }

    pub fn emu(&self, m: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(m, format!("{}/_emulator{path}", self.emulator.base_url()))
    }

    /// Setup with consent, then `users` enabled and activated.
    pub async fn connect_and_enable(&self, org: &str, users: &[String]) {
        let setup: Value = self
            .admin(reqwest::Method::POST, &format!("/orgs/{org}/calendar/setup"))
            .send()
            .await
            .expect("setup")
            .json()
            .await
            .expect("json");
        let consent = self
            .http
            .get(setup["consent_url"].as_str().expect("consent url"))
            .send()
            .await
            .expect("consent");
        self.expect_ok(consent, "admin consent").await;
        for u in users {
            let r = self
                .admin(reqwest::Method::PUT, &format!("/orgs/{org}/users/{u}"))
                .send()
                .await
                .expect("enable");
            self.expect_ok(r, &format!("enabling {u}")).await;
        }
        eventually(60, "every mailbox activated", || async {
            let v: Value = match self
                .admin(reqwest::Method::GET, &format!("/orgs/{org}/users"))
                .send()
                .await
            {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(_) => return false,
            };
            v["users"]
                .as_array()
                .is_some_and(|l| l.len() == users.len() && l.iter().all(|u| u["status"] == "activated"))
        })
        .await;
    }

    /// Panics with the answer's body and the node's log tail unless `r` is 200.
    pub async fn expect_ok(&self, r: reqwest::Response, what: &str) {
        let status = r.status().as_u16();
        if status != 200 {
            let body = r.text().await.unwrap_or_default();
            let log = std::fs::read_to_string(self.log()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            panic!(
                "{what}: {status} {body}\nthe node's log ends (newest first):\n{}",
                tail.join("\n")
            );
        }
    }

    /// Graph's stored events of `user` (the emulator's truth).
    pub async fn truth(&self, user: &str) -> Vec<Value> {
        let v: Value = self
            .emu(reqwest::Method::GET, &format!("/users/{user}/events"))
            .send()
            .await
            .expect("truth")
            .json()
            .await
            .expect("json");
        v["value"].as_array().cloned().unwrap_or_default()
    }
}

/// The sum of the samples of metric `name` (a prefix: `_count` and `_sum`
/// lines of a summary count too) whose line contains `label` ("" for all).
pub fn metric(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
