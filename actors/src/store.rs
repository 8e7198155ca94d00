//! A data directory opened for work: the event log and the keyring over it.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use hcal_schemas::events::mailbox::{ContentAt, MeetingContent};
use hcal_schemas::{EventFamily, KeyLookup, KeyRef, MailboxEvent, SealError, Sealed, SecretKey, StreamId, Vault};

use crate::keys::{KeyError, Keyring, LocalKeyManager, StreamSealer};
use crate::log::{Appended, EventLog, ExpectedVersion, LogError, LogOptions, NewEvent};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("sealing failed: {0}")]
    Seal(#[from] hcal_schemas::SealError),
}

#[derive(Clone)]
pub struct Store {
    pub log: EventLog,
    pub keys: Arc<Keyring>,
}

impl Store {
    /// Opens `data_dir`, creating log and key files if absent.
    pub fn open(data_dir: &Path, master: SecretKey, options: &LogOptions) -> Result<Self, StoreError> {
        let log = EventLog::open(data_dir, options)?;
        Self::with_log(log, data_dir, master)
    }

    /// Opens a data directory that must already hold a log.
    pub fn open_existing(data_dir: &Path, master: SecretKey, options: &LogOptions) -> Result<Self, StoreError> {
        let log = EventLog::open_existing(data_dir, options)?;
        Self::with_log(log, data_dir, master)
    }

    fn with_log(log: EventLog, data_dir: &Path, master: SecretKey) -> Result<Self, StoreError> {
        let manager = Arc::new(LocalKeyManager::open(data_dir, master)?);
        let keys = Arc::new(Keyring::open(data_dir, manager, log.clone())?);
        Ok(Self { log, keys })
    }

    pub fn sealer(&self, stream: &StreamId) -> Result<StreamSealer, StoreError> {
        Ok(self.keys.sealer(stream)?)
    }

    /// Encodes and appends events of one family (blocking; for tools and tests).
    pub fn append_blocking<E: EventFamily>(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[E],
    ) -> Result<Appended, StoreError> {
        let new = events.iter().map(NewEvent::from_event).collect::<Result<Vec<_>, _>>()?;
        Ok(self.log.append_blocking(stream, expected, new)?)
    }

    pub async fn append<E: EventFamily>(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[E],
    ) -> Result<Appended, StoreError> {
        let new = events.iter().map(NewEvent::from_event).collect::<Result<Vec<_>, _>>()?;
        Ok(self.log.append(stream, expected, new).await?)
    }
}

impl KeyLookup for Store {
    fn data_key(&self, stream: &StreamId, key: KeyRef) -> Result<Option<Arc<SecretKey>>, SealError> {
        self.keys.data_key(stream, key)
    }
}

/// Views open sealed values with the keyring, and read meetings' content
/// from the events that brought it.
impl Vault for Store {
    /// The events are read as [`EventLog::read_versions`] reads them.
    fn meeting_contents(
        &self,
        stream: &StreamId,
        ats: &[ContentAt],
    ) -> Result<Vec<Option<Cow<'_, Sealed<MeetingContent>>>>, SealError> {
        let started = std::time::Instant::now();
        let wanted: BTreeSet<ContentAt> = ats.iter().copied().collect();
        let mut versions: Vec<u64> = wanted.iter().map(|a| a.version).collect();
        versions.dedup();
        let mut found: HashMap<ContentAt, Sealed<MeetingContent>> = HashMap::new();
        self.log
            .read_versions(stream, &versions, |f| {
                let event = MailboxEvent::decode(f.type_name, f.schema_version, f.payload)
                    .map_err(|e| LogError::Corrupt(e.to_string()))?;
                for (at, sealed) in event.into_contents(f.version) {
                    if wanted.contains(&at) {
                        found.insert(at, sealed);
                    }
                }
                Ok(())
            })
            .map_err(|e| SealError::Content(e.to_string()))?;
        // What a meeting list or a reveal costs now that content stays in the log.
        metrics::histogram!("hcal_meeting_content_read_seconds").record(started.elapsed().as_secs_f64());
        metrics::counter!("hcal_meeting_contents_read_total").increment(found.len() as u64);
        Ok(ats.iter().map(|at| found.get(at).cloned().map(Cow::Owned)).collect())
    }
}
