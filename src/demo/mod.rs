//! `hcal demo`: the node with an embedded Graph emulator, seeded with a
//! tenant (people with different locales and a room), running a short
//! scenario a person can watch, then serving until Ctrl-C.
//!
//! Everything the node keeps goes to one data directory: the event log and
//! keys, the master key the demo creates (`master.key`), and the node's own
//! log lines (`hcal.log`), so the terminal shows only the scenario. The same
//! directory opens afterwards with `hcal replay --data-dir D
//! --master-key-file D/master.key`.

mod client;
mod lists;
mod scenario;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hcal_actors::keys::{MasterKeySource, create_master_key_file};
use hcal_emulator::seed::{EXAMPLE_CLIENT, EXAMPLE_SECRET};
use hcal_emulator::{EmulatorConfig, EmulatorHandle, Seed};
use rand::RngCore;

pub use client::{Api, RequestError};
pub use scenario::{Mailbox, Outcome, Scenario};

use crate::config::Config;
use crate::node::{NodeError, NodeHandle};
use crate::telemetry::LogFormat;

/// The organisation the demo sets up.
pub const ORG: &str = "contoso";

#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Where the log, keys and the node's log lines go; `None`: a fresh temporary directory.
    pub data_dir: Option<PathBuf>,
    /// The node's address; port 0 picks a free one.
    pub listen: SocketAddr,
    /// End after the scenario with a JSON line instead of serving until Ctrl-C.
    pub exit_after_scenario: bool,
    pub log_format: LogFormat,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the data directory {0} already holds files; give the demo a new or empty one")]
    DataDirNotEmpty(PathBuf),
    #[error("cannot prepare the data directory {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },
    #[error("cannot create the master key: {0}")]
    MasterKey(#[from] hcal_actors::keys::KeyError),
    #[error("the Graph emulator cannot start: {0}")]
    Emulator(#[from] hcal_emulator::EmulatorError),
    #[error("no free port on {addr}: {reason}")]
    Port { addr: SocketAddr, reason: String },
    #[error("the node cannot start: {0}")]
    Node(#[from] NodeError),
    #[error("the demo cannot run: {0}")]
    Runtime(String),
    #[error("the demo scenario failed: {passed} of {steps} steps held")]
    ScenarioFailed { passed: usize, steps: usize },
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
}

/// The demo's data directory: a temporary one is removed when the demo ends.
enum DataDir {
    Temporary(tempfile::TempDir),
    Given(PathBuf),
}

impl DataDir {
    fn prepare(given: Option<&Path>) -> Result<DataDir, DemoError> {
        let Some(path) = given else {
            return tempfile::Builder::new()
                .prefix("hcal-demo-")
                .tempdir()
                .map(DataDir::Temporary)
                .map_err(|e| DemoError::DataDir {
                    path: std::env::temp_dir(),
                    reason: e.to_string(),
                });
        };
        let failed = |e: std::io::Error| DemoError::DataDir {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(path).map_err(failed)?;
        // A log from another run would meet a freshly seeded emulator that knows none of it.
        if std::fs::read_dir(path).map_err(failed)?.next().is_some() {
            return Err(DemoError::DataDirNotEmpty(path.to_path_buf()));
        }
        Ok(DataDir::Given(path.to_path_buf()))
    }

    fn path(&self) -> &Path {
        match self {
            DataDir::Temporary(t) => t.path(),
            DataDir::Given(p) => p,
        }
    }
}

/// The scenario's mailboxes from the seed: its first tenant's first three people and first room.
fn mailboxes(seed: &Seed) -> Option<[Mailbox; 4]> {
    let tenant = seed.tenants.first()?;
    let person = |u: &hcal_emulator::SeedUser, room: bool| Mailbox {
        email: u.mail.to_lowercase(),
        label: if room {
            format!("room {}", u.display_name)
        } else {
            u.display_name.to_lowercase()
        },
        locale: u.locale.clone(),
        room,
    };
    Some([
        person(tenant.users.first()?, false),
        person(tenant.users.get(1)?, false),
        person(tenant.users.get(2)?, false),
        person(tenant.rooms.first()?, true),
    ])
}

/// A loopback address the node's public URL can name before it listens:
/// port 0 becomes a port free right now.
fn concrete(listen: SocketAddr) -> Result<SocketAddr, DemoError> {
    if listen.port() != 0 {
        return Ok(listen);
    }
    let probe = TcpListener::bind(listen).map_err(|e| DemoError::Port {
        addr: listen,
        reason: e.to_string(),
    })?;
    probe.local_addr().map_err(|e| DemoError::Port {
        addr: listen,
        reason: e.to_string(),
    })
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The node's log lines go to `hcal.log` in the data directory, not over the scenario's output.
fn log_to_file(path: &Path, format: LogFormat) -> Result<(), DemoError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| DemoError::DataDir {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let filter = std::env::var("HCAL_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(file));
    // Embedded in a process that already has a subscriber, that one stays.
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    Ok(())
}

/// Runs the demo, writing its lines to `out`. Returns once the scenario is
/// over (`exit_after_scenario`) or the process is told to stop.
pub fn run(options: &DemoOptions, out: &mut dyn Write) -> Result<Outcome, DemoError> {
    let dir = DataDir::prepare(options.data_dir.as_deref())?;
    let data = dir.path().to_path_buf();
    let log_file = data.join("hcal.log");
    log_to_file(&log_file, options.log_format)?;
    let kept = match dir {
        DataDir::Temporary(_) => "a temporary directory, removed when the demo ends",
        DataDir::Given(_) => "kept after the demo",
    };
    writeln!(out, "hcal demo: data directory {} ({kept})", data.display())?;
    writeln!(out, "  the node's log lines go to {}", log_file.display())?;

    let key_file = data.join("master.key");
    create_master_key_file(&key_file)?;
    writeln!(
        out,
        "✓ master key: created {} (32 random bytes; never printed)",
        key_file.display()
    )?;

    let seed = Seed::example();
    let people = mailboxes(&seed).ok_or_else(|| DemoError::Runtime("the seed lacks three people and a room".into()))?;
    let tenant_domain = seed.tenants.first().map(|t| t.domain.clone()).unwrap_or_default();
    let emulator = EmulatorHandle::spawn_thread(seed, EmulatorConfig::default())?;
    let described: Vec<String> = people
        .iter()
        .map(|m| match (&m.locale, m.room) {
            (Some(l), false) => format!("{} {l}", m.label),
            _ => m.label.clone(),
        })
        .collect();
    writeln!(
        out,
        "✓ graph emulator: Office 365 stand-in on {} (tenant {tenant_domain}: {})",
        emulator.base_url(),
        described.join(", ")
    )?;

    let listen = concrete(options.listen)?;
    let admin_token = random_token();
    let config = Config::local(
        &emulator.base_url(),
        EXAMPLE_CLIENT,
        EXAMPLE_SECRET,
        &data,
        listen,
        &admin_token,
        MasterKeySource::File(key_file.clone()),
    );
    let node = match NodeHandle::spawn(config) {
        Ok(n) => n,
        Err(e) => {
            emulator.stop_blocking();
            return Err(e.into());
        }
    };
    writeln!(out, "✓ node: listening on {}", node.url())?;
    out.flush()?;

    let result = scenario_then_serve(options, out, &node, &emulator, &people, &admin_token, &data);
    node.stop();
    emulator.stop_blocking();
    drop(dir);
    result
}

fn scenario_then_serve(
    options: &DemoOptions,
    out: &mut dyn Write,
    node: &NodeHandle,
    emulator: &EmulatorHandle,
    people: &[Mailbox; 4],
    admin_token: &str,
    data: &Path,
) -> Result<Outcome, DemoError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DemoError::Runtime(e.to_string()))?;
    let api = Api::new(&node.url(), &emulator.base_url(), admin_token).map_err(|e| DemoError::Runtime(e.0))?;
    let outcome = runtime.block_on(Scenario::new(&api, out, ORG, people.clone()).run())?;
    if options.exit_after_scenario {
        let line = serde_json::json!({
            "ok": outcome.ok,
            "mailboxes": outcome.mailboxes,
            "meetings": outcome.meetings,
            "digest": outcome.digest,
        });
        writeln!(out, "{line}")?;
        out.flush()?;
        return Ok(outcome);
    }
    let url = node.url();
    writeln!(out)?;
    writeln!(out, "admin API:   {url}/admin/v1/orgs/{ORG}/users")?;
    writeln!(out, "admin token: {admin_token}")?;
    writeln!(
        out,
        "try:         curl -H 'Authorization: Bearer {admin_token}' {url}/api/v1/users/{}/meetings",
        people[0].email
    )?;
    writeln!(
        out,
        "             curl -H 'Authorization: Bearer {admin_token}' {url}/admin/v1/digest"
    )?;
    writeln!(
        out,
        "afterwards:  hcal replay --data-dir {} --master-key-file {}",
        data.display(),
        data.join("master.key").display()
    )?;
    writeln!(out, "serving until Ctrl-C")?;
    out.flush()?;
    runtime
        .block_on(stop_signal())
        .map_err(|e| DemoError::Runtime(e.to_string()))?;
    writeln!(out, "stopping")?;
    out.flush()?;
    Ok(outcome)
}

/// Ctrl-C (SIGINT), or SIGTERM as a service manager sends it.
async fn stop_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use actix_rt::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = actix_rt::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        actix_rt::signal::ctrl_c().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_seed_gives_three_people_and_a_room() {
        let m = mailboxes(&Seed::example()).expect("four mailboxes");
        assert_eq!(
            m.iter().map(|m| m.label.as_str()).collect::<Vec<_>>(),
            ["alice", "bob", "carol", "room Amstel"]
        );
        assert!(m[3].room && !m[0].room);
        assert!(mailboxes(&Seed::default()).is_none());
    }

    #[test]
    fn a_given_data_directory_must_be_new_or_empty() {
        let t = tempfile::tempdir().expect("tempdir");
        let fresh = t.path().join("new");
        assert!(DataDir::prepare(Some(&fresh)).is_ok());
        std::fs::write(fresh.join("leftover"), b"x").expect("write");
        assert!(matches!(
            DataDir::prepare(Some(&fresh)),
            Err(DemoError::DataDirNotEmpty(_))
        ));
    }

    #[test]
    fn port_zero_becomes_a_real_port_and_tokens_differ() {
        let a = concrete("127.0.0.1:0".parse().expect("addr")).expect("free port");
        assert_ne!(a.port(), 0);
        let fixed: SocketAddr = "127.0.0.1:8123".parse().expect("addr");
        assert_eq!(concrete(fixed).expect("given"), fixed);
        let (t1, t2) = (random_token(), random_token());
        assert_eq!(t1.len(), 48);
        assert_ne!(t1, t2);
    }
}
