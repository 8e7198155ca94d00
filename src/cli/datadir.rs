//! Opening a data directory from the command line's flags.

use hcal_actors::keys::{MasterKeySource, load_master_key};
use hcal_actors::log::LogOptions;
use hcal_actors::replay::load_stream;
use hcal_actors::{Store, StoreError};
use hcal_schemas::{AnyState, OrgId, StreamId};

use super::{CliError, DataDirArgs, MailboxArgs};

pub fn master_source(args: &DataDirArgs) -> Option<MasterKeySource> {
    match &args.master_key_file {
        Some(p) => Some(MasterKeySource::File(p.clone())),
        None => MasterKeySource::from_env(),
    }
}

/// Opens an existing data directory (a missing one is an error, not created).
pub fn open(args: &DataDirArgs) -> Result<Store, CliError> {
    if !args.data_dir.is_dir() {
        return Err(CliError::Usage(format!(
            "the data directory {} does not exist",
            args.data_dir.display()
        )));
    }
    let master = load_master_key(master_source(args).as_ref())?;
    Ok(Store::open_existing(&args.data_dir, master, &LogOptions::default())?)
}

pub fn org(s: &str) -> Result<OrgId, CliError> {
    OrgId::new(s).map_err(|e| CliError::Usage(format!("bad --org: {e}")))
}

/// The stream of the mailbox named on the command line, and its state. The
/// address itself is never echoed back: it is sensitive.
pub fn find_mailbox(store: &Store, args: &MailboxArgs) -> Result<(StreamId, AnyState), CliError> {
    let key = store.keys.mailbox_key(&args.mailbox);
    let orgs = match &args.org {
        Some(o) => vec![org(o)?],
        None => store.keys.manager().orgs(),
    };
    for o in orgs {
        let stream = StreamId::mailbox(&o, &key);
        if store.log.head(&stream).map_err(StoreError::from)? > 0 || store.keys.is_erased(&stream) {
            let state = load_stream(&store.log, &stream)?;
            return Ok((stream, state));
        }
    }
    Err(CliError::Usage(
        "that mailbox has no stream in this data directory".into(),
    ))
}
