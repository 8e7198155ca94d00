//! A `kill -9` at any moment loses nothing the log acknowledged and leaves
//! no torn record: a child process appends and prints each acknowledged
//! event; it is killed at random points, round after round, and every
//! printed event must then be in the log, intact, with a stable replay.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use hcal_actors::Store;
use hcal_actors::log::LogOptions;
use hcal_actors::replay::replay_all;
use hcal_schemas::SecretKey;
use rand::{Rng, SeedableRng};

const MASTER_B64: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

#[derive(serde::Deserialize)]
struct Ack {
    seq: u64,
    stream: String,
    version: u64,
    payload_blake3: String,
}

fn master() -> SecretKey {
    let mut k = [0u8; 32];
    for (i, b) in k.iter_mut().enumerate() {
        *b = i as u8 + 1;
    }
    SecretKey::from_bytes(k)
}

#[test]
fn kill_9_loses_no_acknowledged_event() {
    let seed: u64 = std::env::var("HCAL_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("crash drill seed {seed} (set HCAL_CRASH_SEED to repeat)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut acked: Vec<Ack> = Vec::new();
    let mut rounds_with_acks = 0;
    let mut last_digest: Option<(u64, String)> = None;
    for round in 0..24 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hcal"))
            .args(["loadgen", "--threads", "4", "--mailboxes", "12", "--seed"])
            .arg(round.to_string())
            .arg("--data-dir")
            .arg(&data)
            .env("HCAL_MASTER_KEY", MASTER_B64)
            .env("HCAL_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| serde_json::from_str::<Ack>(&l).ok())
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(rng.gen_range(40..400)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let new = reader.join().unwrap();
        if !new.is_empty() {
            rounds_with_acks += 1;
        }
        acked.extend(new);

        let store = Store::open_existing(&data, master(), &LogOptions::default()).unwrap();
        for a in &acked {
            let rec = store
                .log
                .record(a.seq)
                .unwrap()
                .unwrap_or_else(|| panic!("round {round}: acked seq {} lost", a.seq));
            let f = rec.frame().unwrap();
            assert_eq!(
                (f.stream, f.version),
                (a.stream.as_str(), a.version),
                "round {round}: seq {} changed",
                a.seq
            );
            assert_eq!(
                blake3::hash(f.payload).to_hex().to_string(),
                a.payload_blake3,
                "round {round}: seq {} torn",
                a.seq
            );
        }
        let first = replay_all(&store.log, |_, _| {}).unwrap();
        let digest = first.digest(store.keys.as_ref()).unwrap();
        let second = replay_all(&store.log, |_, _| {}).unwrap();
        assert_eq!(
            digest,
            second.digest(store.keys.as_ref()).unwrap(),
            "round {round}: replay not stable"
        );
        assert!(first.events >= acked.len() as u64);
        if let Some((events, d)) = &last_digest
            && *events == first.events
        {
            assert_eq!(d, &digest, "round {round}: same log, different digest");
        }
        last_digest = Some((first.events, digest));
    }
    assert!(
        rounds_with_acks >= 20,
        "only {rounds_with_acks} rounds acknowledged anything"
    );
    eprintln!("{} acknowledged events survived 24 kills", acked.len());
}
