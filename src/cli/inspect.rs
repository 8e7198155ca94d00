//! `hcal inspect`: one mailbox's rebuilt state as JSON.

use std::io::Write;

use hcal_schemas::Reveal;

use super::{CliError, InspectArgs, datadir};

pub fn run(args: &InspectArgs) -> Result<(), CliError> {
    let store = datadir::open(&args.mailbox.dir)?;
    let (stream, state) = datadir::find_mailbox(&store, &args.mailbox)?;
    let reveal = if args.reveal {
        Reveal::With(&store)
    } else {
        Reveal::Redacted
    };
    let view = state
        .view_json(&stream, &reveal)
        .map_err(hcal_actors::replay::ReplayError::from)?;
    let out = serde_json::json!({ "stream": stream.to_string(), "state": view });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", serde_json::to_string_pretty(&out).unwrap_or_default())?;
    Ok(())
}
