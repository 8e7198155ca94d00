//! A `kill -9` of the node while Graph drives 1,000 changes over 100
//! mailboxes: after a restart every mailbox converges to Graph's truth
//! (every meeting compared), and the live digest equals `hcal replay`'s.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use hcal_emulator::seed::SeedUser;
use hcal_emulator::{Emulator, EmulatorConfig, Seed};
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{Value, json};
use support::{ADMIN_TOKEN, NodeProcess};

const MAILBOXES: usize = 100;
const CHANGES: usize = 1000;

fn user(i: usize) -> String {
    format!("user{i:03}@contoso.example")
}

fn seed() -> Seed {
    let mut seed = Seed::example();
    for i in 0..MAILBOXES {
        seed.tenants[0].users.push(SeedUser {
            id: format!("00000000-0000-4000-8000-{i:012}"),
            mail: user(i),
            display_name: format!("User {i}"),
            locale: Some("en-GB".into()),
            time_zone: Some("UTC".into()),
            unlicensed: false,
            in_policy: true,
            automatic_replies_setting: None,
        });
    }
    seed
}

struct Driver {
    http: reqwest::Client,
    emu: String,
    node: String,
}

impl Driver {
    async fn emu(&self, m: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.http.request(m, format!("{}/_emulator{path}", self.emu));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = r.send().await.unwrap();
        let s = res.status().as_u16();
        (s, res.json().await.unwrap_or(Value::Null))
    }

    async fn admin(&self, m: Method, path: &str) -> (u16, Value) {
        let res = self
            .http
            .request(m, format!("{}/admin/v1{path}", self.node))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let s = res.status().as_u16();
        (s, res.json().await.unwrap_or(Value::Null))
    }

    /// Graph's truth for `u`: id -> (subject, start).
    async fn truth(&self, u: &str) -> BTreeMap<String, (String, String)> {
        let (_, body) = self.emu(Method::GET, &format!("/users/{u}/events"), None).await;
        body["value"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["isCancelled"] != true)
            .map(|e| {
                let start = e["start"]["dateTime"].as_str().unwrap_or_default();
                (
                    e["id"].as_str().unwrap().to_string(),
                    (
                        e["subject"].as_str().unwrap_or_default().to_string(),
                        start[..19].to_string(),
                    ),
                )
            })
            .collect()
    }

    /// What hcal lists for `u`: id -> (subject, start).
    async fn listed(&self, u: &str, from: &str, to: &str) -> Option<BTreeMap<String, (String, String)>> {
        let res = self
            .http
            .get(format!("{}/api/v1/users/{u}/meetings?from={from}&to={to}", self.node))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .ok()?;
        let body: Value = res.json().await.ok()?;
        Some(
            body["meetings"]
                .as_array()?
                .iter()
                .map(|m| {
                    let start = m["start"].as_str().unwrap_or_default();
                    (
                        m["id"].as_str().unwrap().to_string(),
                        (
                            m["subject"].as_str().unwrap_or_default().to_string(),
                            start[..19].to_string(),
                        ),
                    )
                })
                .collect(),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_and_restart_every_mailbox_converges_to_graph() {
    let emulator = Emulator::start(seed(), EmulatorConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let listen = support::free_port();
    let log = dir.path().join("node.log");
    let node = NodeProcess::start(&emulator, &data, listen, &log).await;
    let d = Driver {
        http: reqwest::Client::new(),
        emu: emulator.base_url(),
        node: format!("http://{listen}"),
    };

    let (_, setup) = d.admin(Method::POST, "/orgs/acme/calendar/setup").await;
    assert_eq!(
        d.http
            .get(setup["consent_url"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    for i in 0..MAILBOXES {
        assert_eq!(
            d.admin(Method::PUT, &format!("/orgs/acme/users/{}", user(i))).await.0,
            200
        );
    }
    support::eventually(60, "all mailboxes activated", || async {
        let (_, body) = d.admin(Method::GET, "/orgs/acme/users").await;
        body["users"]
            .as_array()
            .is_some_and(|u| u.len() == MAILBOXES && u.iter().all(|u| u["status"] == "activated"))
    })
    .await;

    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let base = emulator.now().date_naive() + chrono::Duration::days(1);
    let mut created: Vec<(usize, String)> = Vec::new();
    let mut node = Some(node);
    for n in 0..CHANGES {
        if n == CHANGES / 2 {
            node.take().unwrap().kill9();
        }
        let roll = rng.gen_range(0..10);
        if roll < 6 || created.is_empty() {
            let u = rng.gen_range(0..MAILBOXES);
            let day = base + chrono::Duration::days(rng.gen_range(0..20));
            let hour = rng.gen_range(7..18);
            let body = json!({"subject": format!("Change {n}"),
                              "start": {"dateTime": format!("{day}T{hour:02}:00:00"), "timeZone": "UTC"},
                              "end": {"dateTime": format!("{day}T{hour:02}:30:00"), "timeZone": "UTC"}});
            let (s, e) = d
                .emu(Method::POST, &format!("/users/{}/events", user(u)), Some(body))
                .await;
            assert_eq!(s, 201, "{e}");
            created.push((u, e["id"].as_str().unwrap().to_string()));
        } else if roll < 9 {
            let (u, id) = created[rng.gen_range(0..created.len())].clone();
            let (s, e) = d
                .emu(
                    Method::PATCH,
                    &format!("/users/{}/events/{id}", user(u)),
                    Some(json!({"subject": format!("Edited {n}")})),
                )
                .await;
            assert_eq!(s, 200, "{e}");
        } else {
            let (u, id) = created.swap_remove(rng.gen_range(0..created.len()));
            let (s, e) = d
                .emu(Method::DELETE, &format!("/users/{}/events/{id}", user(u)), None)
                .await;
            assert!((200..300).contains(&s), "{e}");
        }
    }

    // Restart on the same data directory: every mailbox resyncs from its cursor.
    let node = NodeProcess::start(&emulator, &data, listen, &log).await;
    let from = (emulator.now() - chrono::Duration::days(7))
        .format("%Y-%m-%dT00:00:00Z")
        .to_string();
    let to = (emulator.now() + chrono::Duration::days(31))
        .format("%Y-%m-%dT00:00:00Z")
        .to_string();
    let mut diverged = Vec::new();
    for i in 0..MAILBOXES {
        let u = user(i);
        let truth = d.truth(&u).await;
        let mut ok = false;
        for _ in 0..50 {
            if d.listed(&u, &from, &to).await.as_ref() == Some(&truth) {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !ok {
            let listed = d.listed(&u, &from, &to).await.unwrap_or_default();
            for (id, t) in &truth {
                if listed.get(id) != Some(t) {
                    eprintln!("{u}: graph has {id} {t:?}, hcal {:?}", listed.get(id));
                }
            }
            for (id, l) in &listed {
                if !truth.contains_key(id) {
                    eprintln!("{u}: hcal has {id} {l:?}, graph has not");
                }
            }
            let (_, i) = d.admin(Method::GET, &format!("/mailboxes/{u}")).await;
            eprintln!(
                "{u}: {}",
                serde_json::json!({"health": i["health"], "version": i["version"], "pending": i["pending_inbox"], "cursor": i["sync_cursor_at"]})
            );
            diverged.push(u);
        }
    }
    assert!(
        diverged.is_empty(),
        "{} mailboxes diverged from Graph, e.g. {:?}",
        diverged.len(),
        &diverged[..diverged.len().min(3)]
    );

    // The live digest equals what `hcal replay` rebuilds from the data directory.
    let (_, live) = d.admin(Method::GET, "/digest").await;
    node.kill9();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hcal"))
        .args(["replay", "--data-dir"])
        .arg(&data)
        .env("HCAL_MASTER_KEY", support::MASTER_B64)
        .env_remove("HCAL_MASTER_KEY_FILE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let replayed: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(replayed["digest"], live["digest"], "live {live} vs replayed {replayed}");
}
