//! A data directory opened for work: the event log and the keyring over it.

use std::path::Path;
use std::sync::Arc;

use hcal_schemas::{EventFamily, SecretKey, StreamId};

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
        let keys = Arc::new(Keyring::open(data_dir, manager)?);
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
