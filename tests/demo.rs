//! `hcal demo` as a person runs it: the scenario against the embedded
//! emulator, its final JSON line, the data directory it leaves, the admin
//! URL and token it prints while serving, and plain refusals.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

fn hcal() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hcal"));
    c.env_remove("HCAL_MASTER_KEY").env_remove("HCAL_MASTER_KEY_FILE");
    c
}

fn demo(extra: &[&str]) -> Output {
    hcal()
        .args(["demo", "--exit-after-scenario", "--listen", "127.0.0.1:0"])
        .args(extra)
        .output()
        .expect("run hcal demo")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn is_hex_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Every step line ticked, none crossed.
fn assert_steps_held(stdout: &str) {
    let crossed: Vec<&str> = stdout.lines().filter(|l| l.starts_with('✗')).collect();
    assert!(crossed.is_empty(), "failed steps: {crossed:?}\n{stdout}");
    for step in [
        "setup:",
        "test mailbox:",
        "users:",
        "teams meeting:",
        "keyword meeting:",
        "weekly series:",
        "move occurrence:",
        "cancel occurrence:",
        "rename:",
        "short meeting:",
        "cancel meeting:",
        "result:",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(&format!("✓ {step}"))),
            "no ✓ line for {step}\n{stdout}"
        );
    }
}

#[test]
fn the_scenario_holds_and_its_data_directory_replays_to_the_same_digest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("demo");
    let out = demo(&["--data-dir", data.to_str().expect("utf-8 path")]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert_steps_held(&stdout);

    let last: Value = serde_json::from_str(stdout.lines().last().expect("a last line")).expect("a JSON last line");
    assert_eq!(last["ok"], true, "{last}");
    assert_eq!(last["mailboxes"], 4, "{last}");
    // Alice 5 (two meetings, three occurrences left), Bob 1, Carol 1 (+1 cancelled, not counted), the room 4.
    assert_eq!(last["meetings"], 11, "{last}");
    let digest = last["digest"].as_str().expect("digest");
    assert!(is_hex_digest(digest), "{last}");

    // The master key was made in the data directory and never printed.
    let key = std::fs::read_to_string(data.join("master.key")).expect("master key file");
    assert!(key.trim().len() >= 40, "32 bytes in base64");
    assert!(!stdout.contains(key.trim()) && !stderr.contains(key.trim()));

    // The node's log lines went to the data directory, with no meeting content or address in them.
    let log = std::fs::read_to_string(data.join("hcal.log")).expect("node log");
    assert!(log.lines().count() > 3, "{log}");
    for secret in [
        "alice@contoso.example",
        "Design review",
        "Budget check",
        "teams.microsoft.com",
    ] {
        assert!(!log.contains(secret), "the node log shows {secret:?}");
        assert!(!stderr.contains(secret), "stderr shows {secret:?}");
    }

    // What the live node reported is what the log rebuilds to.
    let replay = hcal()
        .args(["replay", "--data-dir"])
        .arg(&data)
        .arg("--master-key-file")
        .arg(data.join("master.key"))
        .output()
        .expect("run hcal replay");
    assert!(replay.status.success(), "{}", text(&replay.stderr));
    let replayed: Value =
        serde_json::from_str(text(&replay.stdout).lines().last().unwrap_or_default()).expect("replay line");
    assert_eq!(replayed["digest"], digest, "live {last} vs replay {replayed}");
}

#[test]
fn a_wrong_flag_or_a_used_data_directory_is_refused_in_one_line() {
    let out = hcal().args(["demo", "--no-such-flag"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(text(&out.stderr).trim().lines().count(), 1, "{}", text(&out.stderr));

    let out = hcal()
        .args(["demo", "--listen", "not-an-address"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stderr).trim().lines().count(), 1, "{}", text(&out.stderr));

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("something"), b"from before").expect("write");
    let out = demo(&["--data-dir", dir.path().to_str().expect("utf-8 path")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("new or empty"), "{stderr}");
    assert!(!text(&out.stdout).contains('✓'), "nothing started");
}

/// Lines of a child's stdout, as they come.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_flag_it_serves_the_printed_admin_url_until_ctrl_c() {
    let child = hcal()
        .args(["demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hcal demo");
    let mut child = Killed(child);
    let lines = lines_of(&mut child.0);
    let mut seen = Vec::new();
    // Bounded: the scenario's own waits are 10 s per step at most.
    while !seen
        .last()
        .is_some_and(|l: &String| l.starts_with("serving until Ctrl-C"))
    {
        match lines.recv_timeout(Duration::from_secs(150)) {
            Ok(l) => seen.push(l),
            Err(e) => panic!("the demo stopped talking ({e}); so far:\n{}", seen.join("\n")),
        }
    }
    let all = seen.join("\n");
    assert_steps_held(&all);
    let field = |name: &str| {
        seen.iter()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} line in\n{all}"))
    };
    let (admin_url, token) = (field("admin API:"), field("admin token:"));
    let data_dir = seen
        .first()
        .and_then(|l| l.strip_prefix("hcal demo: data directory "))
        .and_then(|rest| rest.split(" (").next())
        .map(str::to_string)
        .expect("the data directory line");
    assert!(Path::new(&data_dir).join("master.key").is_file());

    let http = reqwest::Client::new();
    let users: Value = http
        .get(&admin_url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("admin API")
        .json()
        .await
        .expect("JSON");
    let activated = users["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter(|u| u["status"] == "activated")
        .count();
    assert_eq!(activated, 4, "{users}");
    let refused = http
        .get(&admin_url)
        .bearer_auth("wrong")
        .send()
        .await
        .expect("admin API");
    assert_eq!(refused.status().as_u16(), 401);

    interrupt(&child.0);
    let mut rest = Vec::new();
    loop {
        match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => rest.push(l),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("still running 30 s after Ctrl-C: {rest:?}"),
        }
    }
    assert!(rest.iter().any(|l| l == "stopping"), "{rest:?}");
    let status = child.0.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    // The temporary data directory goes with the demo.
    assert!(!Path::new(&data_dir).exists(), "{data_dir} is still there");
}
