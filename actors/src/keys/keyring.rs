//! Data keys per stream: created on first use, rolled to a new generation
//! after the tenant key rotates, destroyed by [`Keyring::erase`].

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use hcal_schemas::{KeyLookup, KeyRef, MailboxKey, OrgId, SealError, Sealed, Sealer, SecretKey, StreamId};
use serde::{Deserialize, Serialize};

use super::keyfile::KeyFile;
use super::{KeyError, KeyManager, WrappedKey};
use crate::log::{EventLog, LogError, layout};

#[derive(Clone, Serialize, Deserialize)]
enum DataKeyRecord {
    Key {
        stream: String,
        generation: u32,
        wrapped: WrappedKey,
    },
    /// The stream's keys were destroyed; new ones start at `next_generation`.
    Erased { stream: String, next_generation: u32 },
}

/// Where a stream's wrapped data keys are in the key file. Kept in the
/// log's tree (`layout::KEY_INDEX`), read when a stream is opened, so that a
/// node holds nothing here for a stream it is not using; it is derived from
/// the key file, which is the truth and is checked against it at open.
#[derive(Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StreamKeys {
    /// Ascending by generation.
    keys: Vec<KeyAt>,
    /// Generations below this were erased.
    erased_below: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct KeyAt {
    generation: u32,
    /// The tenant key version it is wrapped under.
    tenant_version: u32,
    offset: u64,
}

impl StreamKeys {
    /// The generation a new key of this stream gets (none after the last
    /// a u32 holds, which only a key file written by other hands reaches).
    fn next_generation(&self) -> Result<u32, KeyError> {
        let after_last = match self.keys.last() {
            Some(k) => k
                .generation
                .checked_add(1)
                .ok_or_else(|| KeyError::Corrupt("a stream's key generations are used up".into()))?,
            None => 0,
        };
        Ok(after_last.max(self.erased_below))
    }
}

struct State {
    file: KeyFile<DataKeyRecord>,
    /// Unwrapped keys of streams in use, by generation.
    open: HashMap<StreamId, Vec<(u32, Arc<SecretKey>)>>,
}

pub struct Keyring {
    manager: Arc<dyn KeyManager>,
    log: EventLog,
    state: RwLock<State>,
}

fn index_key(stream: &StreamId) -> Vec<u8> {
    let text = stream.text();
    let mut k = Vec::with_capacity(1 + text.len());
    k.push(layout::KEY_INDEX);
    k.extend_from_slice(text.as_bytes());
    k
}

/// Where each stream's keys are, as the key file's records say (the
/// truth; the index in the log is derived from it).
fn streams_in(records: Vec<(u64, DataKeyRecord)>) -> Result<BTreeMap<StreamId, StreamKeys>, KeyError> {
    let mut streams: BTreeMap<StreamId, StreamKeys> = BTreeMap::new();
    for (offset, r) in records {
        match r {
            DataKeyRecord::Key {
                stream,
                generation,
                wrapped,
            } => {
                let s = StreamId::parse(&stream).map_err(|e| KeyError::Corrupt(e.to_string()))?;
                let entry = streams.entry(s).or_default();
                if generation >= entry.erased_below {
                    // A later record of a generation is the one in use (an
                    // earlier one was written by a call that then failed).
                    entry.keys.retain(|k| k.generation != generation);
                    entry.keys.push(KeyAt {
                        generation,
                        tenant_version: wrapped.tenant_version,
                        offset,
                    });
                }
            }
            DataKeyRecord::Erased {
                stream,
                next_generation,
            } => {
                let s = StreamId::parse(&stream).map_err(|e| KeyError::Corrupt(e.to_string()))?;
                let entry = streams.entry(s).or_default();
                entry.keys.retain(|k| k.generation >= next_generation);
                entry.erased_below = entry.erased_below.max(next_generation);
            }
        }
    }
    for s in streams.values_mut() {
        s.keys.sort_by_key(|k| k.generation);
    }
    Ok(streams)
}

/// An index row: its stream and where that stream's keys are.
fn parse_row(key: &[u8], value: &[u8]) -> Option<(StreamId, StreamKeys)> {
    let stream = StreamId::parse(std::str::from_utf8(key.get(1..)?).ok()?).ok()?;
    Some((stream, hcal_schemas::codec::decode(value).ok()?))
}

fn log_error(e: LogError) -> KeyError {
    KeyError::Corrupt(format!("key index: {e}"))
}

/// The wrapped key `at` points to, checked to be `stream`'s.
fn wrapped_at(file: &KeyFile<DataKeyRecord>, stream: &StreamId, at: KeyAt) -> Result<WrappedKey, KeyError> {
    match file.read_at(at.offset)? {
        DataKeyRecord::Key {
            stream: s,
            generation,
            wrapped,
        } if generation == at.generation && s == stream.to_string() => Ok(wrapped),
        _ => Err(KeyError::Corrupt(format!(
            "no key {} of {stream} where the key file had it",
            at.generation
        ))),
    }
}

fn data_aad(stream: &StreamId, generation: u32) -> Vec<u8> {
    format!("hcal-data-key\0{stream}\0{generation}").into_bytes()
}

/// Seals values for one stream with its current data key.
#[derive(Clone)]
pub struct StreamSealer {
    stream: StreamId,
    key_ref: KeyRef,
    key: Arc<SecretKey>,
}

impl StreamSealer {
    pub fn seal<T: Serialize>(&self, field: &'static str, value: &T) -> Result<Sealed<T>, SealError> {
        Sealer::new(&self.stream, self.key_ref, &self.key).seal(field, value)
    }

    pub fn stream(&self) -> &StreamId {
        &self.stream
    }
}

impl Keyring {
    /// Opens the key file in `data_dir`, and brings the index in `log` in
    /// line with it (a crash may have left a new key out of it, and an erase
    /// moves every key).
    pub fn open(data_dir: &Path, manager: Arc<dyn KeyManager>, log: EventLog) -> Result<Self, KeyError> {
        let (file, records) = KeyFile::<DataKeyRecord>::open(&data_dir.join("keys").join("data-keys.bin"))?;
        let streams = streams_in(records)?;
        let keyring = Self {
            manager,
            log,
            state: RwLock::new(State {
                file,
                open: HashMap::new(),
            }),
        };
        keyring.reindex(&streams)?;
        Ok(keyring)
    }

    /// Makes the index say `streams`, writing only what differs (a row
    /// that does not read is written again: the index is derived).
    fn reindex(&self, streams: &BTreeMap<StreamId, StreamKeys>) -> Result<(), KeyError> {
        let mut kept = std::collections::BTreeSet::new();
        for r in self.log.scan_side(&[layout::KEY_INDEX]) {
            let (k, v) = r.map_err(log_error)?;
            match parse_row(&k, &v) {
                Some((s, keys)) if streams.get(&s) == Some(&keys) => drop(kept.insert(s)),
                Some((s, _)) if streams.contains_key(&s) => {}
                _ => self.log.write_derived(&k, None).map_err(log_error)?,
            }
        }
        for (stream, keys) in streams {
            if !kept.contains(stream) {
                self.save(stream, keys)?;
            }
        }
        Ok(())
    }

    /// Where the stream's keys are (None: it never had one).
    fn keys_of(&self, stream: &StreamId) -> Result<Option<StreamKeys>, KeyError> {
        match self.log.side(&index_key(stream)).map_err(log_error)? {
            Some(v) => Ok(Some(
                hcal_schemas::codec::decode(&v).map_err(|e| KeyError::Corrupt(format!("key index: {e}")))?,
            )),
            None => Ok(None),
        }
    }

    fn save(&self, stream: &StreamId, keys: &StreamKeys) -> Result<(), KeyError> {
        let bytes = hcal_schemas::codec::encode(keys).map_err(|e| KeyError::Corrupt(format!("key index: {e}")))?;
        self.log
            .write_derived(&index_key(stream), Some(&bytes))
            .map_err(log_error)
    }

    fn lock(&self) -> Result<RwLockWriteGuard<'_, State>, KeyError> {
        self.state
            .write()
            .map_err(|_| KeyError::Manager("keyring lock poisoned".into()))
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, State>, KeyError> {
        self.state
            .read()
            .map_err(|_| KeyError::Manager("keyring lock poisoned".into()))
    }

    fn cached(state: &State, stream: &StreamId, generation: u32) -> Option<Arc<SecretKey>> {
        state
            .open
            .get(stream)
            .and_then(|v| v.iter().find(|(g, _)| *g == generation))
            .map(|(_, k)| k.clone())
    }

    pub fn manager(&self) -> &Arc<dyn KeyManager> {
        &self.manager
    }

    /// The pseudonym naming a mailbox's stream.
    pub fn mailbox_key(&self, address: &str) -> MailboxKey {
        MailboxKey::derive(&self.manager.index_key(), address)
    }

    /// A sealer with the stream's current data key, creating it (or a new
    /// generation after a tenant key rotation) if needed.
    pub fn sealer(&self, stream: &StreamId) -> Result<StreamSealer, KeyError> {
        let org = stream.org();
        let current_tenant = self.manager.current_version(&org)?;
        let mut state = self.lock()?;
        let mut entry = self.keys_of(stream)?.unwrap_or_default();
        let usable = entry
            .keys
            .last()
            .filter(|k| k.tenant_version >= current_tenant)
            .map(|k| k.generation);
        let generation = match usable {
            Some(g) => g,
            None => {
                let generation = entry.next_generation()?;
                let key = SecretKey::generate();
                let wrapped = self.manager.wrap(&org, &key, &data_aad(stream, generation))?;
                let tenant_version = wrapped.tenant_version;
                // The key file first (durable): the index is derived from it.
                let offset = state.file.append(&DataKeyRecord::Key {
                    stream: stream.to_string(),
                    generation,
                    wrapped,
                })?;
                entry.keys.push(KeyAt {
                    generation,
                    tenant_version,
                    offset,
                });
                self.save(stream, &entry)?;
                let open = state.open.entry(stream.clone()).or_default();
                open.push((generation, Arc::new(key)));
                open.shrink_to_fit();
                generation
            }
        };
        let key = self
            .open_key(&mut state, stream, generation)?
            .ok_or_else(|| KeyError::Corrupt("data key vanished".into()))?;
        Ok(StreamSealer {
            stream: stream.clone(),
            key_ref: KeyRef(generation),
            key,
        })
    }

    fn open_key(
        &self,
        state: &mut State,
        stream: &StreamId,
        generation: u32,
    ) -> Result<Option<Arc<SecretKey>>, KeyError> {
        if let Some(k) = Self::cached(state, stream, generation) {
            return Ok(Some(k));
        }
        let Some(entry) = self.keys_of(stream)? else {
            return Ok(None);
        };
        let Some(at) = entry.keys.iter().find(|k| k.generation == generation) else {
            return Ok(None);
        };
        let wrapped = wrapped_at(&state.file, stream, *at)?;
        let key = Arc::new(
            self.manager
                .unwrap(&stream.org(), &wrapped, &data_aad(stream, generation))?,
        );
        let open = state.open.entry(stream.clone()).or_default();
        open.push((generation, key.clone()));
        // Most streams open one generation; a first push makes room for four.
        open.shrink_to_fit();
        Ok(Some(key))
    }

    /// Drops the unwrapped keys of a stream no longer in use (passivation).
    pub fn close(&self, stream: &StreamId) {
        if let Ok(mut state) = self.lock() {
            state.open.remove(stream);
            crate::sparse::shrink_if_sparse(&mut state.open);
        }
    }

    /// Destroys every data key of `stream` (crypto-shredding): its sealed
    /// values open as erased from now on. Durable on return.
    pub fn erase(&self, stream: &StreamId) -> Result<(), KeyError> {
        let mut state = self.lock()?;
        // From the key file, not the index: a row the index lost must not
        // take that stream's keys out of the rewritten file.
        let records = state.file.records()?;
        // The wrapped keys as read, by where they were: the kept ones are written again.
        let mut wrapped: HashMap<u64, WrappedKey> = records
            .iter()
            .filter_map(|(at, r)| match r {
                DataKeyRecord::Key { wrapped, .. } => Some((*at, wrapped.clone())),
                DataKeyRecord::Erased { .. } => None,
            })
            .collect();
        let mut streams = streams_in(records)?;
        let entry = streams.entry(stream.clone()).or_default();
        entry.erased_below = entry.next_generation()?;
        entry.keys.clear();
        state.open.remove(stream);
        // Rewrite the file without the destroyed keys, so their bytes are gone;
        // every kept key moves, so each record notes whose key it is.
        let mut records = Vec::new();
        let mut whose: Vec<Option<(StreamId, usize)>> = Vec::new();
        for (s, keys) in &streams {
            if keys.erased_below > 0 {
                records.push(DataKeyRecord::Erased {
                    stream: s.to_string(),
                    next_generation: keys.erased_below,
                });
                whose.push(None);
            }
            for (i, k) in keys.keys.iter().enumerate() {
                records.push(DataKeyRecord::Key {
                    stream: s.to_string(),
                    generation: k.generation,
                    wrapped: wrapped
                        .remove(&k.offset)
                        .ok_or_else(|| KeyError::Corrupt(format!("no key {} of {s} in the key file", k.generation)))?,
                });
                whose.push(Some((s.clone(), i)));
            }
        }
        let offsets = state.file.rewrite(&records)?;
        for (key, offset) in whose.into_iter().zip(offsets) {
            if let Some((s, i)) = key
                && let Some(k) = streams.get_mut(&s).and_then(|e| e.keys.get_mut(i))
            {
                k.offset = offset;
            }
        }
        self.reindex(&streams)
    }

    /// Whether `stream` was erased.
    pub fn is_erased(&self, stream: &StreamId) -> bool {
        self.keys_of(stream).ok().flatten().is_some_and(|k| k.erased_below > 0)
    }

    /// Starts a new tenant key version for `org`: new writes use new data
    /// keys under it, old data stays readable.
    pub fn rotate(&self, org: &OrgId) -> Result<u32, KeyError> {
        self.manager.rotate(org)
    }
}

impl KeyLookup for Keyring {
    fn data_key(&self, stream: &StreamId, key: KeyRef) -> Result<Option<Arc<SecretKey>>, SealError> {
        if let Some(k) = Self::cached(&*self.read().map_err(|e| SealError::Key(e.to_string()))?, stream, key.0) {
            return Ok(Some(k));
        }
        let mut state = self.lock().map_err(|e| SealError::Key(e.to_string()))?;
        self.open_key(&mut state, stream, key.0)
            .map_err(|e| SealError::Key(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generation_past_the_last_is_an_error_not_a_wrap() {
        let at = |generation| KeyAt {
            generation,
            tenant_version: 1,
            offset: 8,
        };
        let keys = |gens: &[u32], erased_below| StreamKeys {
            keys: gens.iter().map(|&g| at(g)).collect(),
            erased_below,
        };
        assert_eq!(keys(&[], 0).next_generation().unwrap(), 0);
        assert_eq!(keys(&[0, 1], 0).next_generation().unwrap(), 2);
        assert_eq!(keys(&[], 5).next_generation().unwrap(), 5);
        assert!(matches!(
            keys(&[u32::MAX], 0).next_generation(),
            Err(KeyError::Corrupt(_))
        ));
    }
}
