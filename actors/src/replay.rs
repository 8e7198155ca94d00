//! Rebuilding state from the log: every aggregate (for `hcal replay` and the
//! digest), or one stream from its snapshot plus the log's tail (activation).

use std::collections::{BTreeMap, HashMap};

use hcal_schemas::aggregate::{ViewError, digest};
use hcal_schemas::codec;
use hcal_schemas::events::{EventDecodeError, EventMeta};
use hcal_schemas::{AnyState, KeyLookup, StreamId};

use crate::log::{EventLog, LogError, StoredRecord};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("event {seq} ({type_name}) cannot be read: {source}")]
    Event {
        seq: u64,
        type_name: String,
        source: EventDecodeError,
    },
    #[error("record {seq} names a bad stream: {reason}")]
    Stream { seq: u64, reason: String },
    #[error("record {seq} is version {found} of {stream}, expected {expected}")]
    Gap {
        seq: u64,
        stream: String,
        expected: u64,
        found: u64,
    },
    #[error("state cannot be shown: {0}")]
    View(#[from] ViewError),
}

/// Every stream's state, rebuilt.
#[derive(Debug, Default)]
pub struct Rebuilt {
    pub states: BTreeMap<StreamId, AnyState>,
    pub events: u64,
}

impl Rebuilt {
    pub fn digest(&self, keys: &dyn KeyLookup) -> Result<String, ReplayError> {
        Ok(digest(&self.states, keys)?)
    }
}

/// Folds one stored record into `state` (which must be at the version before it).
pub fn fold_record(state: AnyState, rec: &StoredRecord) -> Result<AnyState, ReplayError> {
    let f = rec.frame()?;
    let expected = state.version() + 1;
    if f.version != expected {
        return Err(ReplayError::Gap {
            seq: rec.seq,
            stream: f.stream.to_string(),
            expected,
            found: f.version,
        });
    }
    state
        .apply_stored(
            &EventMeta {
                version: f.version,
                at: f.at,
            },
            f.type_name,
            f.schema_version,
            f.payload,
        )
        .map_err(|source| ReplayError::Event {
            seq: rec.seq,
            type_name: f.type_name.to_string(),
            source,
        })
}

/// Replays the whole log. `progress` is called now and then with the events
/// folded so far and the sequence reached.
///
/// This thread reads the log; two folders each fold the streams that hash to
/// them, in log order (a stream's events all go to one folder), so reading,
/// decoding and folding share the cores.
pub fn replay_all(log: &EventLog, mut progress: impl FnMut(u64, u64)) -> Result<Rebuilt, ReplayError> {
    const FOLDERS: usize = 2;
    const BATCH: usize = 512;
    let mut outcomes = Vec::with_capacity(FOLDERS);
    let read = std::thread::scope(|scope| {
        let mut senders = Vec::with_capacity(FOLDERS);
        let mut folders = Vec::with_capacity(FOLDERS);
        for _ in 0..FOLDERS {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<StoredRecord>>(16);
            senders.push(tx);
            folders.push(scope.spawn(move || fold_all(rx)));
        }
        let read = (|| -> Result<(), ReplayError> {
            let mut batches: Vec<Vec<StoredRecord>> = (0..FOLDERS).map(|_| Vec::with_capacity(BATCH)).collect();
            let mut events = 0u64;
            for rec in log.read_all(0) {
                let rec = rec?;
                let folder = folder_of(rec.frame()?.stream, FOLDERS);
                let seq = rec.seq;
                batches[folder].push(rec);
                if batches[folder].len() == BATCH {
                    let full = std::mem::replace(&mut batches[folder], Vec::with_capacity(BATCH));
                    // A folder that stopped has its error to report below.
                    if senders[folder].send(full).is_err() {
                        break;
                    }
                }
                events += 1;
                if events.is_multiple_of(65_536) {
                    progress(events, seq);
                }
            }
            for (tx, batch) in senders.iter().zip(batches) {
                let _ = tx.send(batch);
            }
            Ok(())
        })();
        drop(senders);
        for f in folders {
            outcomes.push(
                f.join()
                    .unwrap_or_else(|_| Err(ReplayError::Log(LogError::Corrupt("a replay folder panicked".into())))),
            );
        }
        read
    });
    let mut rebuilt = Rebuilt::default();
    for outcome in outcomes {
        let (states, events) = outcome?;
        rebuilt.states.extend(states);
        rebuilt.events += events;
    }
    read?;
    Ok(rebuilt)
}

/// Which folder folds `stream`.
fn folder_of(stream: &str, folders: usize) -> usize {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(stream) as usize % folders
}

/// Folds every record it is sent into the state of its stream.
fn fold_all(
    rx: std::sync::mpsc::Receiver<Vec<StoredRecord>>,
) -> Result<(BTreeMap<StreamId, AnyState>, u64), ReplayError> {
    let mut states: HashMap<Box<str>, AnyState> = HashMap::new();
    let mut events = 0u64;
    for batch in rx {
        for rec in batch {
            let f = rec.frame()?;
            let slot = match states.get_mut(f.stream) {
                Some(s) => s,
                None => {
                    let stream = StreamId::parse(f.stream).map_err(|e| ReplayError::Stream {
                        seq: rec.seq,
                        reason: e.to_string(),
                    })?;
                    states
                        .entry(f.stream.into())
                        .or_insert_with(|| AnyState::empty(stream.kind()))
                }
            };
            let taken = std::mem::replace(slot, AnyState::Tenant(Default::default()));
            *slot = fold_record(taken, &rec)?;
            events += 1;
        }
    }
    let mut out = BTreeMap::new();
    for (name, state) in states {
        let stream = StreamId::parse(&name).map_err(|e| ReplayError::Stream {
            seq: 0,
            reason: e.to_string(),
        })?;
        out.insert(stream, state);
    }
    Ok((out, events))
}

/// One stream's state: its snapshot (if any still decodes) plus the events after it.
pub fn load_stream(log: &EventLog, stream: &StreamId) -> Result<AnyState, ReplayError> {
    Ok(load_stream_from_snapshot(log, stream)?.0)
}

/// [`load_stream`], and the version of the snapshot it started from (0: none).
pub fn load_stream_from_snapshot(log: &EventLog, stream: &StreamId) -> Result<(AnyState, u64), ReplayError> {
    let mut state = match log.load_snapshot(stream)? {
        // A snapshot of an older state layout is only a cache: replay instead.
        Some((version, bytes)) => match codec::decode::<AnyState>(&bytes) {
            Ok(s) if s.version() == version => s,
            _ => AnyState::empty(stream.kind()),
        },
        None => AnyState::empty(stream.kind()),
    };
    let snapshot = state.version();
    for rec in log.read_stream(stream, state.version() + 1) {
        state = fold_record(state, &rec?)?;
    }
    Ok((state, snapshot))
}

/// Stores `state` as the snapshot of `stream`.
pub fn save_snapshot(log: &EventLog, stream: &StreamId, state: &AnyState) -> Result<(), ReplayError> {
    let bytes = codec::encode(state).map_err(LogError::from)?;
    log.save_snapshot(stream, state.version(), &bytes)?;
    Ok(())
}
