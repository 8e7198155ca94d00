//! `hcal replay`: every aggregate rebuilt from the log, with the digest the
//! live node reports for the same state.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use hcal_actors::replay::replay_all;

use super::{CliError, DataDirArgs, datadir};

pub fn run(args: &DataDirArgs) -> Result<(), CliError> {
    let store = datadir::open(args)?;
    let started = Instant::now();
    let total = store.log.last_seq().map_err(hcal_actors::StoreError::from)?;
    let tty = std::io::stderr().is_terminal();
    let rebuilt = replay_all(&store.log, |events, seq| {
        if tty {
            let pct = if total > 0 {
                seq as f64 * 100.0 / total as f64
            } else {
                100.0
            };
            eprint!("\rreplaying: {events} events ({pct:.0}%)");
        } else {
            tracing::info!(events, seq, total, "replay progress");
        }
    })?;
    if tty {
        eprintln!("\rreplayed {} events{:20}", rebuilt.events, "");
    }
    let digest = rebuilt.digest(store.keys.as_ref())?;
    let line = serde_json::json!({
        "events": rebuilt.events,
        "streams": rebuilt.states.len(),
        "digest": digest,
        "seconds": started.elapsed().as_secs_f64(),
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    Ok(())
}
