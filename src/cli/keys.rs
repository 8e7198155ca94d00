//! `hcal keys rotate` and `hcal erase`.

use std::io::Write;

use super::{CliError, MailboxArgs, RotateArgs, datadir};

pub fn rotate(args: &RotateArgs) -> Result<(), CliError> {
    let store = datadir::open(&args.dir)?;
    let orgs = match &args.org {
        Some(o) => vec![datadir::org(o)?],
        None => store.keys.manager().orgs(),
    };
    if orgs.is_empty() {
        return Err(CliError::Usage(
            "this data directory has no tenant keys to rotate".into(),
        ));
    }
    let mut out = std::io::stdout().lock();
    for org in orgs {
        let version = store.keys.rotate(&org)?;
        tracing::info!(%org, version, "tenant key rotated");
        writeln!(
            out,
            "{}",
            serde_json::json!({ "org": org.to_string(), "tenant_key_version": version })
        )?;
    }
    Ok(())
}

pub fn erase(args: &MailboxArgs) -> Result<(), CliError> {
    let store = datadir::open(&args.dir)?;
    let (stream, _) = datadir::find_mailbox(&store, args)?;
    store.keys.erase(&stream)?;
    tracing::info!(%stream, "mailbox data key destroyed");
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}",
        serde_json::json!({ "stream": stream.to_string(), "erased": true })
    )?;
    Ok(())
}
