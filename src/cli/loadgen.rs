//! `hcal loadgen`: synthetic calendar traffic appended to a data directory,
//! one JSON line per acknowledged (durable) event on stdout. Crash drills
//! kill it at random and check that every printed event survived.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use clap::Args;
use hcal_actors::Store;
use hcal_actors::keys::{MasterKeySource, load_master_key};
use hcal_actors::log::{ExpectedVersion, LogOptions, NewEvent};
use hcal_actors::sample::SampleCalendar;
use hcal_schemas::{MailboxKey, OrgId, StreamId};

use super::{CliError, datadir};

#[derive(Debug, Args)]
pub struct LoadgenArgs {
    /// Data directory (created if missing).
    #[arg(long, env = "HCAL_DATA_DIR")]
    pub data_dir: PathBuf,
    /// File with the master key; or set HCAL_MASTER_KEY.
    #[arg(long, env = "HCAL_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    #[arg(long, default_value = "loadgen")]
    pub org: String,
    #[arg(long, default_value_t = 8)]
    pub mailboxes: u32,
    #[arg(long, default_value_t = 4)]
    pub threads: u32,
    /// Events to append in all (0: until killed).
    #[arg(long, default_value_t = 0)]
    pub events: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn run(args: &LoadgenArgs) -> Result<(), CliError> {
    let source = match &args.master_key_file {
        Some(p) => Some(MasterKeySource::File(p.clone())),
        None => MasterKeySource::from_env(),
    };
    let master = load_master_key(source.as_ref())?;
    let store = Store::open(&args.data_dir, master, &LogOptions::default())?;
    let org = datadir::org(&args.org)?;
    let threads = args.threads.clamp(1, 256);
    let out = Mutex::new(std::io::stdout());
    let per_thread = if args.events == 0 {
        u64::MAX
    } else {
        args.events.div_ceil(threads as u64)
    };
    std::thread::scope(|scope| -> Result<(), CliError> {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let store = store.clone();
                let org = org.clone();
                let out = &out;
                scope.spawn(move || worker(&store, &org, t, threads, args, per_thread, out))
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| CliError::Usage("a load thread panicked".into()))??;
        }
        Ok(())
    })
}

fn worker(
    store: &Store,
    org: &OrgId,
    thread: u32,
    threads: u32,
    args: &LoadgenArgs,
    events: u64,
    out: &Mutex<std::io::Stdout>,
) -> Result<(), CliError> {
    // Each thread owns its mailboxes, so it knows their versions exactly.
    let mine: Vec<StreamId> = (0..args.mailboxes)
        .filter(|m| m % threads == thread)
        .map(|m| {
            StreamId::mailbox(
                org,
                &MailboxKey::derive(&store.keys.manager().index_key(), &format!("load{m}@loadgen.example")),
            )
        })
        .collect();
    if mine.is_empty() {
        return Ok(());
    }
    let mut versions: Vec<u64> = mine.iter().map(|s| store.log.head(s).unwrap_or(0)).collect();
    let mut cal = SampleCalendar::new(args.seed.wrapping_mul(1000).wrapping_add(thread as u64 + versions[0]));
    for i in 0..events {
        let idx = (i % mine.len() as u64) as usize;
        let stream = &mine[idx];
        let event = cal
            .change(&store.sealer(stream)?, 16)
            .map_err(hcal_actors::StoreError::from)?;
        let new = NewEvent::from_event(&event).map_err(hcal_actors::StoreError::from)?;
        let hash = blake3::hash(&new.payload).to_hex().to_string();
        let a = store
            .log
            .append_blocking(stream, ExpectedVersion::Exact(versions[idx]), vec![new])
            .map_err(hcal_actors::StoreError::from)?;
        versions[idx] = a.version;
        let line = serde_json::json!({"seq": a.first_seq, "stream": stream.to_string(), "version": a.version, "payload_blake3": hash});
        let mut o = out.lock().map_err(|_| CliError::Usage("stdout lock poisoned".into()))?;
        writeln!(o, "{line}")?;
        o.flush()?;
    }
    Ok(())
}
