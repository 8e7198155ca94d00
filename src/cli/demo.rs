//! `hcal demo`: the node with an embedded Graph emulator and a short
//! scenario to watch (see `crate::demo`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::demo::{DemoError, DemoOptions};
use crate::telemetry::LogFormat;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the event log, keys and the node's log lines go (a new or empty directory); default: a fresh temporary one.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The node's address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// End after the scenario with one JSON line (`{"ok":..,"mailboxes":..,"meetings":..,"digest":..}`); exit 0 only if every expectation held.
    #[arg(long)]
    pub exit_after_scenario: bool,
}

pub fn run(args: &DemoArgs, log_format: LogFormat) -> Result<(), CliError> {
    let options = DemoOptions {
        data_dir: args.data_dir.clone(),
        listen: args.listen,
        exit_after_scenario: args.exit_after_scenario,
        log_format,
    };
    let outcome = crate::demo::run(&options, &mut std::io::stdout())?;
    if outcome.ok {
        Ok(())
    } else {
        Err(DemoError::ScenarioFailed {
            passed: outcome.passed,
            steps: outcome.steps,
        }
        .into())
    }
}
