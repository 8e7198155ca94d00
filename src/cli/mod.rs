//! The `hcal` command line.

mod datadir;
mod demo;
mod emulator;
mod inspect;
mod joindetect;
mod keys;
mod loadgen;
mod replay;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::telemetry::{self, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "hcal",
    version,
    about = "Hybrid calendar service: Office 365 calendars joined to a meeting service"
)]
pub struct Cli {
    /// How log lines on stderr look.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the node: webhooks, admin API, actors.
    Serve(ServeArgs),
    /// Rebuild every aggregate from the log and print a digest of the state.
    Replay(DataDirArgs),
    /// Show the rebuilt state of one mailbox.
    Inspect(InspectArgs),
    /// Manage keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Destroy a mailbox's data key, erasing its content for good.
    Erase(MailboxArgs),
    /// Append synthetic calendar traffic, printing each acknowledged event (load and crash drills).
    Loadgen(loadgen::LoadgenArgs),
    /// The node with an embedded Graph emulator, running a short scenario to watch.
    Demo(demo::DemoArgs),
    /// The Microsoft Graph emulator on its own, until Ctrl-C.
    GraphEmulator(emulator::GraphEmulatorArgs),
    /// Keyword and join-link detection: one Graph event JSON object on stdin, the result on stdout.
    JoinDetect(joindetect::JoinDetectArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The config file (every key can also come from the environment: see ops/hcal.example.toml).
    #[arg(long, env = "HCAL_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Start a new tenant key version: old data stays readable, new writes use the new key.
    Rotate(RotateArgs),
}

#[derive(Debug, Args)]
pub struct DataDirArgs {
    /// The node's data directory.
    #[arg(long, env = "HCAL_DATA_DIR")]
    pub data_dir: PathBuf,
    /// File with the master key (32 random bytes, base64); or set HCAL_MASTER_KEY.
    #[arg(long, env = "HCAL_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MailboxArgs {
    #[command(flatten)]
    pub dir: DataDirArgs,
    /// The mailbox's address.
    #[arg(long)]
    pub mailbox: String,
    /// The organisation, if the data directory serves several.
    #[arg(long)]
    pub org: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub mailbox: MailboxArgs,
    /// Show meeting content instead of `<redacted>`.
    #[arg(long)]
    pub reveal: bool,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub dir: DataDirArgs,
    /// Only this organisation (default: every one).
    #[arg(long)]
    pub org: Option<String>,
}

/// Why a command failed, in words for the person who ran it.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Store(#[from] hcal_actors::StoreError),
    #[error(transparent)]
    Replay(#[from] hcal_actors::replay::ReplayError),
    #[error(transparent)]
    Key(#[from] hcal_actors::keys::KeyError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Node(#[from] crate::node::NodeError),
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Demo(#[from] crate::demo::DemoError),
    #[error(transparent)]
    Emulator(#[from] hcal_emulator::EmulatorError),
    /// Bad input on stdin or in a file the command line names: exit 2, like a usage error.
    #[error("{0}")]
    Input(String),
}

/// Parses the command line and runs it; the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                let _ = e.print();
                return ExitCode::from(2);
            }
            // One plain sentence, not clap's multi-line report.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("hcal: {}", first.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    // The demo writes the node's log lines into its data directory instead.
    if !matches!(cli.command, Command::Demo(_)) {
        telemetry::init(cli.log_format);
    }
    match run(cli.command, cli.log_format) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hcal: {e}");
            if matches!(e, CliError::Input(_)) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(command: Command, log_format: LogFormat) -> Result<(), CliError> {
    match command {
        Command::Serve(args) => {
            let config = crate::config::Config::load(args.config.as_deref())?;
            Ok(crate::node::serve(config)?)
        }
        Command::Replay(args) => replay::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Keys {
            command: KeysCommand::Rotate(args),
        } => keys::rotate(&args),
        Command::Erase(args) => keys::erase(&args),
        Command::Loadgen(args) => loadgen::run(&args),
        Command::Demo(args) => demo::run(&args, log_format),
        Command::GraphEmulator(args) => emulator::run(&args),
        Command::JoinDetect(args) => joindetect::run(&args),
    }
}
