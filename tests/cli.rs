//! The offline tools as an operator uses them: replay, inspect, key
//! rotation, erasure, and plain errors on bad input.

use std::path::Path;
use std::process::{Command, Output};

const MASTER_B64: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

/// Sensitive strings the synthetic traffic carries (see `hcal_actors::sample`).
const SENSITIVE: &[&str] = &[
    "alice@contoso.example",
    "Quarterly business review",
    "us02web.zoom.us",
    "Chloé Martin",
];

fn hcal(args: &[&str], data: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hcal"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("HCAL_MASTER_KEY", MASTER_B64)
        .env("HCAL_LOG", "debug")
        .env_remove("HCAL_MASTER_KEY_FILE")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn last_json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

fn scan_dir(dir: &Path, needle: &str) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        let p = e.unwrap().path();
        if p.is_dir() {
            scan_dir(&p, needle)
        } else {
            std::fs::read(&p)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
        }
    })
}

#[test]
fn replay_inspect_rotate_and_erase() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut logs = String::new();
    let gen_ = hcal(
        &["loadgen", "--events", "400", "--mailboxes", "4", "--log-format", "json"],
        &data,
    );
    ok(&gen_);
    logs.push_str(&String::from_utf8_lossy(&gen_.stderr));

    let replay = hcal(&["replay"], &data);
    let first = last_json(&ok(&replay));
    assert_eq!(first["events"], 400);
    assert_eq!(first["streams"], 4);
    assert_eq!(first["digest"].as_str().unwrap().len(), 64);
    assert_eq!(last_json(&ok(&hcal(&["replay"], &data)))["digest"], first["digest"]);

    let redacted = ok(&hcal(&["inspect", "--mailbox", "load1@loadgen.example"], &data));
    assert!(redacted.contains("<redacted>"));
    assert!(SENSITIVE.iter().all(|s| !redacted.contains(s)));
    let revealed = ok(&hcal(
        &["inspect", "--mailbox", "LOAD1@loadgen.example", "--reveal"],
        &data,
    ));
    assert!(revealed.contains("\"subject\""), "{revealed}");
    assert!(!revealed.contains("<redacted>"));

    let rotated = last_json(&ok(&hcal(&["keys", "rotate"], &data)));
    assert_eq!(rotated["tenant_key_version"], 2);
    ok(&hcal(
        &["loadgen", "--events", "40", "--mailboxes", "4", "--seed", "2"],
        &data,
    ));
    let after_rotation = last_json(&ok(&hcal(&["replay"], &data)));
    assert_eq!(after_rotation["events"], 440);

    let erase = hcal(&["erase", "--mailbox", "load1@loadgen.example"], &data);
    assert_eq!(last_json(&ok(&erase))["erased"], true);
    logs.push_str(&String::from_utf8_lossy(&erase.stderr));
    let erased = ok(&hcal(
        &["inspect", "--mailbox", "load1@loadgen.example", "--reveal"],
        &data,
    ));
    assert!(erased.contains("<erased>") && !erased.contains("\"subject\""));
    let other = ok(&hcal(
        &["inspect", "--mailbox", "load2@loadgen.example", "--reveal"],
        &data,
    ));
    assert!(other.contains("\"subject\"") && !other.contains("<erased>"));
    let after_erase = hcal(&["replay"], &data);
    let after = last_json(&ok(&after_erase));
    assert_eq!(after["events"], 440);
    assert_ne!(after["digest"], after_rotation["digest"]);
    logs.push_str(&String::from_utf8_lossy(&after_erase.stderr));

    for s in SENSITIVE {
        assert!(!scan_dir(&data, s), "{s} is on disk in plaintext");
        assert!(!logs.contains(s), "{s} is in the logs");
    }
}

#[test]
fn bad_input_gets_one_plain_sentence_and_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    for (args, code) in [
        (vec!["replay", "--bogus"], 2),
        (vec!["replay"], 1),
        (vec!["inspect", "--mailbox", "x@y.example"], 1),
        (vec!["erase", "--mailbox", "x@y.example", "--org", "Bad Org"], 1),
    ] {
        let out = hcal(&args, &missing);
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {err}");
        assert!(lines[0].starts_with("hcal: "), "{err}");
        assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    }
    // A data directory without a log is an error, not a new log.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = hcal(&["replay"], &empty);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no event log"));
    assert!(!empty.join("log").exists());
    // An unknown mailbox is named as such without echoing the address.
    let data = dir.path().join("data");
    ok(&hcal(&["loadgen", "--events", "4"], &data));
    let out = hcal(&["inspect", "--mailbox", "stranger@elsewhere.example"], &data);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("no stream") && !err.contains("stranger"), "{err}");
    // A wrong master key is refused plainly.
    let out = Command::new(env!("CARGO_BIN_EXE_hcal"))
        .args(["replay", "--data-dir"])
        .arg(&data)
        .env("HCAL_MASTER_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not open"));
}

#[test]
fn serve_refuses_bad_configuration_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let run = |toml: &str, env: &[(&str, &str)]| {
        let path = dir.path().join("hcal.toml");
        std::fs::write(&path, toml).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hcal"));
        cmd.args(["serve", "--config"]).arg(&path);
        for k in [
            "HCAL_CLIENT_SECRET",
            "HCAL_ADMIN_TOKEN",
            "HCAL_MASTER_KEY",
            "HCAL_MASTER_KEY_FILE",
            "HCAL_PUBLIC_URL",
        ] {
            cmd.env_remove(k);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.code(), err)
    };
    let base = "public_url = \"https://hcal.example\"\ndata_dir = \"/nonexistent/hcal\"\nclient_id = \"c\"\n";
    let (code, err) = run(&format!("{base}listen = \"nowhere\"\n"), &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("`listen` (HCAL_LISTEN)"), "{err}");
    let (_, err) = run(&format!("{base}client_secret = \"s3cret\"\n"), &[]);
    assert!(err.contains("holds a secret") && !err.contains("s3cret"), "{err}");
    let (_, err) = run(&format!("{base}colour = \"blue\"\n"), &[]);
    assert!(err.contains("unknown config key `colour`"), "{err}");
    let (_, err) = run(
        base,
        &[("HCAL_CLIENT_SECRET", "x"), ("HCAL_ADMIN_TOKEN", "0123456789abcdef")],
    );
    assert!(err.contains("master_key_file"), "{err}");
    let (_, err) = run(base, &[("HCAL_PUBLIC_URL", "not a url")]);
    assert!(err.contains("`public_url` (HCAL_PUBLIC_URL)"), "{err}");
    assert_eq!(err.lines().filter(|l| !l.trim().is_empty()).count(), 1, "{err}");
}
