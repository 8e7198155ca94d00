//! The built-in key manager: tenant keys in `keys/tenant-keys.bin`, each
//! sealed under the master key.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use hcal_schemas::{OrgId, SecretKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::keyfile::KeyFile;
use super::{KeyError, KeyManager, WrappedKey};

#[derive(Serialize, Deserialize)]
struct TenantKeyRecord {
    org: String,
    version: u32,
    sealed: Vec<u8>,
}

struct State {
    file: KeyFile<TenantKeyRecord>,
    keys: HashMap<OrgId, BTreeMap<u32, Arc<SecretKey>>>,
}

pub struct LocalKeyManager {
    master: SecretKey,
    index: SecretKey,
    state: Mutex<State>,
}

fn tenant_aad(org: &OrgId, version: u32) -> Vec<u8> {
    format!("hcal-tenant-key\0{org}\0{version}").into_bytes()
}

impl LocalKeyManager {
    /// Opens the tenant keys of `data_dir`; a master key that does not open
    /// them is refused here, before anything else happens.
    pub fn open(data_dir: &Path, master: SecretKey) -> Result<Self, KeyError> {
        let (file, records) = KeyFile::<TenantKeyRecord>::open(&data_dir.join("keys").join("tenant-keys.bin"))?;
        let mut keys: HashMap<OrgId, BTreeMap<u32, Arc<SecretKey>>> = HashMap::new();
        for (_, r) in records {
            let org = OrgId::new(&r.org).map_err(|e| KeyError::Corrupt(e.to_string()))?;
            let plain = Zeroizing::new(
                master
                    .decrypt(&tenant_aad(&org, r.version), &r.sealed)
                    .map_err(|_| KeyError::WrongMasterKey)?,
            );
            let arr: [u8; 32] = plain
                .as_slice()
                .try_into()
                .map_err(|_| KeyError::Corrupt("tenant key is not 32 bytes".into()))?;
            keys.entry(org)
                .or_default()
                .insert(r.version, Arc::new(SecretKey::from_bytes(arr)));
        }
        let index = SecretKey::from_bytes(blake3::derive_key("hcal 2026-11 mailbox pseudonyms", master.expose()));
        Ok(Self {
            master,
            index,
            state: Mutex::new(State { file, keys }),
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, KeyError> {
        self.state
            .lock()
            .map_err(|_| KeyError::Manager("key manager lock poisoned".into()))
    }

    fn add_version(&self, state: &mut State, org: &OrgId) -> Result<u32, KeyError> {
        let version = state
            .keys
            .get(org)
            .and_then(|m| m.keys().next_back().copied())
            .unwrap_or(0)
            + 1;
        let key = SecretKey::generate();
        let sealed = self
            .master
            .encrypt(&tenant_aad(org, version), key.expose())
            .map_err(|e| KeyError::Manager(e.to_string()))?;
        state.file.append(&TenantKeyRecord {
            org: org.to_string(),
            version,
            sealed,
        })?;
        state
            .keys
            .entry(org.clone())
            .or_default()
            .insert(version, Arc::new(key));
        Ok(version)
    }

    fn tenant_key(&self, org: &OrgId, version: u32) -> Result<Arc<SecretKey>, KeyError> {
        let state = self.lock()?;
        state
            .keys
            .get(org)
            .and_then(|m| m.get(&version))
            .cloned()
            .ok_or_else(|| KeyError::UnknownTenantKey {
                org: org.to_string(),
                version,
            })
    }
}

impl KeyManager for LocalKeyManager {
    fn current_version(&self, org: &OrgId) -> Result<u32, KeyError> {
        let mut state = self.lock()?;
        if let Some(v) = state.keys.get(org).and_then(|m| m.keys().next_back().copied()) {
            return Ok(v);
        }
        self.add_version(&mut state, org)
    }

    fn wrap(&self, org: &OrgId, key: &SecretKey, aad: &[u8]) -> Result<WrappedKey, KeyError> {
        let version = self.current_version(org)?;
        let tenant = self.tenant_key(org, version)?;
        let blob = tenant
            .encrypt(aad, key.expose())
            .map_err(|e| KeyError::Manager(e.to_string()))?;
        Ok(WrappedKey {
            tenant_version: version,
            blob,
        })
    }

    fn unwrap(&self, org: &OrgId, wrapped: &WrappedKey, aad: &[u8]) -> Result<SecretKey, KeyError> {
        let tenant = self.tenant_key(org, wrapped.tenant_version)?;
        let plain = Zeroizing::new(
            tenant
                .decrypt(aad, &wrapped.blob)
                .map_err(|_| KeyError::Corrupt("data key does not unwrap".into()))?,
        );
        let arr: [u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::Corrupt("data key is not 32 bytes".into()))?;
        Ok(SecretKey::from_bytes(arr))
    }

    fn rotate(&self, org: &OrgId) -> Result<u32, KeyError> {
        let mut state = self.lock()?;
        self.add_version(&mut state, org)
    }

    fn orgs(&self) -> Vec<OrgId> {
        let mut v: Vec<OrgId> = self
            .lock()
            .map(|s| s.keys.keys().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    fn index_key(&self) -> SecretKey {
        self.index.clone()
    }
}
