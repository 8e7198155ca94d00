//! Rebuilding state from the log: every aggregate (for `hcal replay` and the
//! digest), or one stream from its snapshot plus the log's tail (activation).

use std::collections::BTreeMap;

use hcal_schemas::aggregate::{KeptContents, StreamContents, ViewError, digest};
use hcal_schemas::codec;
use hcal_schemas::events::{EventDecodeError, EventMeta};
use hcal_schemas::{AnyState, KeyLookup, StreamId};

use crate::log::tables::{self, Projection};
use crate::log::{EventLog, Frame, LogError, StoredRecord};

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

/// Every stream's state, rebuilt, and the content its meetings point at.
#[derive(Default)]
pub struct Rebuilt {
    pub states: BTreeMap<StreamId, AnyState>,
    /// The rows of the log's tables (key, stored value): what the log must
    /// hold, projected here from the events, not read from the log.
    pub rows: BTreeMap<Vec<u8>, Vec<u8>>,
    pub events: u64,
    /// The sealed content of every meeting the states hold, kept while
    /// folding so that the digest does not read the log again.
    pub contents: KeptContents,
}

impl Rebuilt {
    pub fn digest(&self, keys: &dyn KeyLookup) -> Result<String, ReplayError> {
        Ok(digest(&self.states, &self.rows, &self.contents.with_keys(keys))?)
    }
}

/// Folds one stored record into `state` (which must be at the version before it).
pub fn fold_record(state: AnyState, rec: &StoredRecord) -> Result<AnyState, ReplayError> {
    fold_frame(state, rec.seq, &rec.frame()?, None)
}

/// Folds the frame of record `seq` into `state`, keeping the meeting
/// content it carries in `keep`, if given.
fn fold_frame(
    state: AnyState,
    seq: u64,
    f: &Frame<'_>,
    keep: Option<&mut StreamContents>,
) -> Result<AnyState, ReplayError> {
    let expected = state.version() + 1;
    if f.version != expected {
        return Err(ReplayError::Gap {
            seq,
            stream: f.stream.to_string(),
            expected,
            found: f.version,
        });
    }
    state
        .apply_stored_keeping(
            &EventMeta {
                version: f.version,
                at: f.at,
            },
            f.type_name,
            f.schema_version,
            f.payload,
            keep,
        )
        .map_err(|source| ReplayError::Event {
            seq,
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
        let (states, rows, events, contents) = outcome?;
        rebuilt.states.extend(states);
        // Each row is written by one stream, so the folders' rows do not overlap.
        rebuilt.rows.extend(rows.into_iter().filter_map(|(k, v)| Some((k, v?))));
        rebuilt.events += events;
        rebuilt.contents.extend(contents);
    }
    read?;
    Ok(rebuilt)
}

/// Which folder folds `stream`.
fn folder_of(stream: &str, folders: usize) -> usize {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::default().hash_one(stream) as usize % folders
}

/// Folds every record it is sent into the state of its stream.
type Folded = (BTreeMap<StreamId, AnyState>, tables::Staged, u64, KeptContents);

fn fold_all(rx: std::sync::mpsc::Receiver<Vec<StoredRecord>>) -> Result<Folded, ReplayError> {
    /// A stream being folded, and the content its events brought.
    struct Slot {
        stream: StreamId,
        state: AnyState,
        contents: StreamContents,
    }
    let mut slots: foldhash::HashMap<Box<str>, Slot> = Default::default();
    let mut rows = tables::Staged::new();
    let mut events = 0u64;
    for batch in rx {
        for rec in batch {
            let f = rec.frame()?;
            let slot = match slots.get_mut(f.stream) {
                Some(slot) => slot,
                None => {
                    let stream = StreamId::parse(f.stream).map_err(|e| ReplayError::Stream {
                        seq: rec.seq,
                        reason: e.to_string(),
                    })?;
                    slots.entry(f.stream.into()).or_insert(Slot {
                        state: AnyState::empty(stream.kind()),
                        stream,
                        contents: StreamContents::default(),
                    })
                }
            };
            if crate::tables::TABLES.writes(&slot.stream) {
                tables::project_record(&crate::tables::TABLES, None, &mut rows, rec.bytes())?;
            }
            let taken = std::mem::replace(&mut slot.state, AnyState::Tenant(Default::default()));
            slot.state = fold_frame(taken, rec.seq, &f, Some(&mut slot.contents))?;
            // Contents of meetings changed since are let go now and then, so
            // a long log does not keep every version of every meeting.
            if let AnyState::Mailbox(m) = &slot.state
                && slot.contents.len() > 2 * m.meetings.len() + 64
            {
                slot.contents.retain_held(m);
            }
            events += 1;
        }
    }
    let mut out = BTreeMap::new();
    let mut contents = KeptContents::default();
    for (_, mut slot) in slots {
        if let AnyState::Mailbox(m) = &slot.state {
            slot.contents.retain_held(m);
            contents.insert(slot.stream.clone(), slot.contents);
        }
        out.insert(slot.stream, slot.state);
    }
    Ok((out, rows, events, contents))
}

/// The layout of the states snapshots hold, written before each. A snapshot
/// of another layout is passed over (the stream is replayed instead).
/// Layout 100: meetings point at their content in the log (before, they held
/// it, and no number was written: those snapshots begin with the state's
/// kind, 0 to 2). Layout 101: a subscription entry holds neither its sealed
/// resource nor its client state, and a tenant's user not its sealed
/// address, only where the event that carries them is. Layout 102: a
/// tenant holds no users, and an organisation's subscriptions state only
/// its version (the log's tables hold them).
const SNAPSHOT_LAYOUT: u16 = 102;

/// One stream's state: its snapshot (if any still decodes) plus the events after it.
pub fn load_stream(log: &EventLog, stream: &StreamId) -> Result<AnyState, ReplayError> {
    Ok(load_stream_from_snapshot(log, stream)?.0)
}

/// [`load_stream`], and the version of the snapshot it started from (0: none).
pub fn load_stream_from_snapshot(log: &EventLog, stream: &StreamId) -> Result<(AnyState, u64), ReplayError> {
    let mut state = match log.load_snapshot(stream)? {
        // A snapshot of an older state layout is only a cache: replay instead.
        Some((version, bytes)) => match codec::decode::<(u16, AnyState)>(&bytes) {
            Ok((SNAPSHOT_LAYOUT, s)) if s.version() == version => s,
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
    let bytes = codec::encode(&(SNAPSHOT_LAYOUT, state)).map_err(LogError::from)?;
    log.save_snapshot(stream, state.version(), &bytes)?;
    Ok(())
}
