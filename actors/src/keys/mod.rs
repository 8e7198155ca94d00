//! Keys: a data key per stream (mailbox), wrapped by its organisation's
//! tenant key, wrapped by a master key.
//!
//! [`KeyManager`] holds tenant keys and wraps data keys; the built-in
//! [`LocalKeyManager`] keeps them in a file under the master key, and an
//! external KMS can take its place. [`Keyring`] keeps the wrapped data keys,
//! hands out sealers, opens sealed values, and erases a stream for good.

mod keyfile;
mod keyring;
mod local;
mod master;

use hcal_schemas::{OrgId, SecretKey};
use serde::{Deserialize, Serialize};

pub use keyring::{Keyring, StreamSealer};
pub use local::LocalKeyManager;
pub use master::{MasterKeySource, create_master_key_file, load_master_key};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no master key: set HCAL_MASTER_KEY_FILE (a file holding 32 random bytes, base64) or HCAL_MASTER_KEY")]
    NoMasterKey,
    #[error("the master key is not valid: {0}")]
    BadMasterKey(String),
    #[error("the master key does not open this data directory's keys")]
    WrongMasterKey,
    #[error("key store is corrupt: {0}")]
    Corrupt(String),
    #[error("key store i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("no tenant key version {version} for organisation {org}")]
    UnknownTenantKey { org: String, version: u32 },
    #[error("key manager error: {0}")]
    Manager(String),
}

/// A data key wrapped by a tenant key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    pub tenant_version: u32,
    pub blob: Vec<u8>,
}

/// Holds tenant keys and wraps data keys with them. Implement this to put
/// tenant keys in an external KMS.
pub trait KeyManager: Send + Sync {
    /// The version new data keys of `org` are wrapped under (created on first use).
    fn current_version(&self, org: &OrgId) -> Result<u32, KeyError>;
    fn wrap(&self, org: &OrgId, key: &SecretKey, aad: &[u8]) -> Result<WrappedKey, KeyError>;
    fn unwrap(&self, org: &OrgId, wrapped: &WrappedKey, aad: &[u8]) -> Result<SecretKey, KeyError>;
    /// Starts a new tenant key version; older ones stay for unwrapping.
    fn rotate(&self, org: &OrgId) -> Result<u32, KeyError>;
    /// Organisations that have tenant keys.
    fn orgs(&self) -> Vec<OrgId>;
    /// The key of mailbox pseudonyms (stable for the life of the data directory).
    fn index_key(&self) -> SecretKey;
}
