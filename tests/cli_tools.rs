//! The small tools an operator runs by hand: `hcal join-detect` (one event
//! in, one detection out; bad input refused in one line, exit 2) and
//! `hcal graph-emulator` (serves until SIGINT, with the example seed or a
//! seed file).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

fn hcal() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hcal"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn join_detect(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = hcal()
        .arg("join-detect")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hcal join-detect");
    let mut input = child.stdin.take().expect("piped stdin");
    // A refusal (a bad rules file) may exit before reading its input.
    match input.write_all(stdin) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r.expect("write stdin"),
    }
    drop(input);
    child.wait_with_output().expect("join-detect output")
}

/// The one JSON object a successful run prints.
fn detection(out: &Output) -> Value {
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.trim().lines().count(), 1, "{stdout}");
    serde_json::from_str(stdout.trim()).expect("one JSON object")
}

/// A refusal: exit 2, nothing on stdout, one line on stderr (returned).
fn refused(out: &Output) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    stderr
}

const TEAMS_URL: &str = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NmE2NzQ2ZjEtMjNkZC00YTc1LWI2OGMtNmY0ZDI1ZjQ2ZDNm%40thread.v2/0?context=%7b%22Tid%22%3a%2272f988bf-86f1-41af-91ab-2d7cd011db47%22%7d";

#[test]
fn join_detect_finds_the_teams_link_of_an_invitation() {
    let event = json!({
        "subject": "Design review",
        "location": {"displayName": "Room 4"},
        "body": {"contentType": "html", "content": format!(
            "<p>Agenda</p><p>Microsoft Teams meeting<br><a href=\"{TEAMS_URL}\">Click here to join the meeting</a></p>")},
    });
    let d = detection(&join_detect(&[], event.to_string().as_bytes()));
    assert_eq!(d["join"]["provider"], "teams", "{d}");
    assert_eq!(d["join"]["source"], "body", "{d}");
    assert_eq!(
        d["join"]["uri"]
            .as_str()
            .map(|u| u.starts_with("https://teams.microsoft.com/l/meetup-join/")),
        Some(true),
        "{d}"
    );
    assert_eq!(d["explanation_code"], "join_link_found", "{d}");
    assert!(d["keyword"].is_null());

    // The same invitation without the link has no target; a keyword in the location is reported.
    let plain = json!({"subject": "Design review", "location": {"displayName": "@webex"},
                       "body": {"contentType": "text", "content": "Agenda"}});
    let d = detection(&join_detect(&[], plain.to_string().as_bytes()));
    assert!(d["join"].is_null(), "{d}");
    assert_eq!(d["keyword"]["keyword"], "@webex", "{d}");
    assert_eq!(d["explanation_code"], "keyword_in_location", "{d}");
}

#[test]
fn join_detect_refuses_what_is_not_one_event_object() {
    for bad in [&b"{\"subject\": "[..], b"", b"[1, 2]", b"\"text\"", b"{} {}"] {
        let why = refused(&join_detect(&[], bad));
        assert!(why.contains("stdin"), "{why}");
    }
    // The input never comes back in the message.
    let why = refused(&join_detect(&[], b"{\"subject\": \"Secret merger\", oops}"));
    assert!(!why.contains("Secret merger"), "{why}");
}

#[test]
fn join_detect_applies_a_rules_file_and_refuses_a_bad_one() {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("joinlink/rules.example.json");
    let rules = rules.to_str().expect("utf-8 path");
    let event = json!({"subject": "Board call", "body": {"contentType": "text",
                       "content": "Dial in to the video bridge. Meeting ID: 123456789"}});
    let input = event.to_string();

    let without = detection(&join_detect(&[], input.as_bytes()));
    assert!(without["join"].is_null(), "no rule, no target: {without}");

    let with = detection(&join_detect(&["--rules", rules], input.as_bytes()));
    assert_eq!(with["join"]["provider"], "pexip", "{with}");
    assert_eq!(with["join"]["uri"], "sip:123456789@video.example.com", "{with}");
    assert_eq!(with["join"]["source"], "rule:acme-vmr-by-meeting-id", "{with}");

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("rules.json");
    std::fs::write(
        &bad,
        br#"{"version": 1, "rules": [{"name": "x", "provider": "p", "pattern": "(", "template": "sip:{0}"}]}"#,
    )
    .expect("write rules");
    let why = refused(&join_detect(
        &["--rules", bad.to_str().expect("utf-8 path")],
        input.as_bytes(),
    ));
    assert!(why.contains("rules.json"), "{why}");
    let why = refused(&join_detect(&["--rules", "/nonexistent/rules.json"], input.as_bytes()));
    assert!(why.contains("cannot read the rules file"), "{why}");
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `hcal graph-emulator` on a free port; its base URL from the first stdout line.
fn start_emulator(extra: &[&str]) -> (Running, String) {
    let mut child = hcal()
        .args(["graph-emulator", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hcal graph-emulator");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let running = Running(child);
    let line = rx.recv_timeout(Duration::from_secs(30)).expect("the listening line");
    let url = line
        .trim()
        .strip_prefix("graph emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (running, url)
}

async fn get(url: &str) -> (u16, Value) {
    let res = reqwest::get(url).await.expect("GET");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_emulator_serves_the_example_tenant_until_sigint() {
    let (mut emulator, url) = start_emulator(&[]);
    let (status, health) = get(&format!("{url}/_emulator/health")).await;
    assert_eq!((status, health), (200, json!({"status": "ok"})));
    let (status, events) = get(&format!("{url}/_emulator/users/alice@contoso.example/events")).await;
    assert_eq!(status, 200, "{events}");
    let (status, _) = get(&format!("{url}/_emulator/users/dana@fabrikam.example/events")).await;
    assert_eq!(status, 404, "not in the example seed");

    let sent = Command::new("kill")
        .args(["-INT", &emulator.0.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(sent.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = emulator.0.try_wait().expect("try_wait") {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "still running 20 s after SIGINT");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_emulator_takes_a_seed_file_and_refuses_a_bad_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = dir.path().join("seed.json");
    std::fs::write(
        &seed,
        json!({"tenants": [{"id": "11111111-2222-4333-8444-555555555555", "domain": "fabrikam.example",
                            "apps": [{"client_id": "00000000-0000-4000-8000-0000000000c1", "client_secret": "x"}],
                            "users": [{"id": "d0000000-0000-4000-8000-000000000001", "mail": "dana@fabrikam.example"}]}]})
        .to_string(),
    )
    .expect("write seed");
    let (_emulator, url) = start_emulator(&["--seed", seed.to_str().expect("utf-8 path")]);
    let (status, events) = get(&format!("{url}/_emulator/users/dana@fabrikam.example/events")).await;
    assert_eq!(status, 200, "{events}");
    let (status, _) = get(&format!("{url}/_emulator/users/alice@contoso.example/events")).await;
    assert_eq!(status, 404, "the example tenant is not there");

    // A seed of the wrong shape, a rules file given by mistake, an empty seed, no file.
    let wrong_shape = dir.path().join("wrong.json");
    std::fs::write(&wrong_shape, b"{\"tenants\": [{\"id\": 7}]}").expect("write seed");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("joinlink/rules.example.json");
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, b"{\"tenants\": []}").expect("write seed");
    for path in [
        wrong_shape.to_str().expect("utf-8 path"),
        rules.to_str().expect("utf-8 path"),
        empty.to_str().expect("utf-8 path"),
        "/nonexistent/seed.json",
    ] {
        let out = hcal()
            .args(["graph-emulator", "--listen", "127.0.0.1:0", "--seed", path])
            .output()
            .expect("run");
        let stderr = text(&out.stderr);
        assert!(!out.status.success());
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("seed file"), "{stderr}");
    }
}
