//! `hcal graph-emulator`: the Microsoft Graph emulator on its own, until
//! SIGINT or SIGTERM, for trying hcal (or another Graph client) by hand.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use hcal_emulator::{EmulatorConfig, Seed};

use super::CliError;

#[derive(Debug, Args)]
pub struct GraphEmulatorArgs {
    /// The address to serve on (port 0 picks a free port; the first stdout line names it).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// A seed file (JSON: tenants, apps, users, rooms); default: the example tenant contoso.example.
    #[arg(long)]
    pub seed: Option<PathBuf>,
}

/// The seed in `path`; a file that cannot be read or parsed is an input error, and so is
/// one with no tenant or with keys a seed does not have (most likely the wrong file).
pub fn load_seed(path: &Path) -> Result<Seed, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Input(format!("cannot read the seed file {}: {e}", path.display())))?;
    let invalid = |e: serde_json::Error| {
        CliError::Input(format!(
            "the seed file {} is not a valid seed: {}",
            path.display(),
            super::joindetect::one_line(&e.to_string())
        ))
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(invalid)?;
    if let Some(key) = value.as_object().and_then(|o| o.keys().find(|k| *k != "tenants")) {
        return Err(CliError::Input(format!(
            "the seed file {} has a key `{key}` that a seed does not have (it holds `tenants`)",
            path.display()
        )));
    }
    let seed: Seed = serde_json::from_value(value).map_err(invalid)?;
    if seed.tenants.is_empty() {
        return Err(CliError::Input(format!(
            "the seed file {} defines no tenant",
            path.display()
        )));
    }
    Ok(seed)
}

pub fn run(args: &GraphEmulatorArgs) -> Result<(), CliError> {
    let seed = match &args.seed {
        Some(path) => load_seed(path)?,
        None => Seed::example(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(hcal_emulator::serve(args.listen, seed, EmulatorConfig::default()))?;
    Ok(())
}
