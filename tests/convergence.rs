//! A `kill -9` of the node while Graph drives 1,000 changes over 100
//! mailboxes: after a restart every mailbox converges to Graph's truth
//! (every meeting compared), and the live digest equals `hcal replay`'s.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use hcal_emulator::Seed;
use hcal_emulator::seed::SeedUser;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{Value, json};
use support::{ADMIN_TOKEN, ProcessWorld};

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

/// id -> (subject, start) of the meetings hcal lists for `u` (None: not answering).
async fn listed(w: &ProcessWorld, u: &str, from: &str, to: &str) -> Option<BTreeMap<String, (String, String)>> {
    let url = format!("http://{}/api/v1/users/{u}/meetings?from={from}&to={to}", w.listen);
    let body: Value = w
        .http
        .get(url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let meetings = body["meetings"].as_array()?;
    Some(
        meetings
            .iter()
            .map(|m| {
                let start = m["start"].as_str().unwrap_or_default();
                (
                    m["id"].as_str().unwrap_or_default().to_string(),
                    (
                        m["subject"].as_str().unwrap_or_default().to_string(),
                        start[..19].to_string(),
                    ),
                )
            })
            .collect(),
    )
}

/// id -> (subject, start) of Graph's truth for `u`.
async fn truth(w: &ProcessWorld, u: &str) -> BTreeMap<String, (String, String)> {
    w.truth(u)
        .await
        .iter()
        .filter(|e| e["isCancelled"] != true)
        .map(|e| {
            let start = e["start"]["dateTime"].as_str().unwrap_or_default();
            (
                e["id"].as_str().unwrap_or_default().to_string(),
                (
                    e["subject"].as_str().unwrap_or_default().to_string(),
                    start[..19].to_string(),
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_and_restart_every_mailbox_converges_to_graph() {
    let mut w = ProcessWorld::start(seed(), "info").await;
    let users: Vec<String> = (0..MAILBOXES).map(user).collect();
    w.connect_and_enable("acme", &users).await;

    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let base = w.emulator.now().date_naive() + chrono::Duration::days(1);
    let mut created: Vec<(usize, String)> = Vec::new();
    for n in 0..CHANGES {
        if n == CHANGES / 2 {
            w.kill9();
        }
        let roll = rng.gen_range(0..10);
        if roll < 6 || created.is_empty() {
            let u = rng.gen_range(0..MAILBOXES);
            let day = base + chrono::Duration::days(rng.gen_range(0..20));
            let hour = rng.gen_range(7..18);
            let body = json!({"subject": format!("Change {n}"),
                              "start": {"dateTime": format!("{day}T{hour:02}:00:00"), "timeZone": "UTC"},
                              "end": {"dateTime": format!("{day}T{hour:02}:30:00"), "timeZone": "UTC"}});
            let r = w
                .emu(Method::POST, &format!("/users/{}/events", user(u)))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 201);
            let e: Value = r.json().await.unwrap();
            created.push((u, e["id"].as_str().unwrap().to_string()));
        } else if roll < 9 {
            let (u, id) = created[rng.gen_range(0..created.len())].clone();
            let r = w
                .emu(Method::PATCH, &format!("/users/{}/events/{id}", user(u)))
                .json(&json!({"subject": format!("Edited {n}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
        } else {
            let (u, id) = created.swap_remove(rng.gen_range(0..created.len()));
            let r = w
                .emu(Method::DELETE, &format!("/users/{}/events/{id}", user(u)))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
        }
    }

    // Restart on the same data directory: every mailbox resyncs from its cursor.
    w.start_node().await;
    let from = (w.emulator.now() - chrono::Duration::days(7))
        .format("%Y-%m-%dT00:00:00Z")
        .to_string();
    let to = (w.emulator.now() + chrono::Duration::days(31))
        .format("%Y-%m-%dT00:00:00Z")
        .to_string();
    let mut diverged = Vec::new();
    for u in &users {
        let want = truth(&w, u).await;
        let mut ok = false;
        for _ in 0..50 {
            if listed(&w, u, &from, &to).await.as_ref() == Some(&want) {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !ok {
            let have = listed(&w, u, &from, &to).await.unwrap_or_default();
            eprintln!("{u}: graph {want:?}\n  hcal {have:?}");
            diverged.push(u.clone());
        }
    }
    assert!(
        diverged.is_empty(),
        "{} mailboxes diverged from Graph, e.g. {:?}",
        diverged.len(),
        &diverged[..diverged.len().min(3)]
    );

    // The live digest equals what `hcal replay` rebuilds from the data directory.
    let live: Value = w
        .admin(Method::GET, "/digest")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    w.kill9();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hcal"))
        .args(["replay", "--data-dir"])
        .arg(w.data())
        .env("HCAL_MASTER_KEY", support::MASTER_B64)
        .env_remove("HCAL_MASTER_KEY_FILE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let replayed: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(replayed["digest"], live["digest"], "live {live} vs replayed {replayed}");
}
