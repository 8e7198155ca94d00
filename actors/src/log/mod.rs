//! The event log: one sled database per data directory, a global sequence,
//! a stream per aggregate with optimistic concurrency, group-committed and
//! durable (flush + fsync) before any append returns.

mod committer;
mod durability;
pub mod export;
pub mod frame;
pub mod layout;
mod read;
mod syncer;
pub mod tables;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use hcal_schemas::codec::CodecError;
use hcal_schemas::{EventFamily, StreamId, Timestamp};
use tokio::sync::oneshot;

pub use frame::Frame;

use committer::Request;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("there is no event log in {0}")]
    Missing(PathBuf),
    #[error("the event log in {path} cannot be opened: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("storage error: {0}")]
    Storage(#[from] sled::Error),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("stream {stream} is at version {actual}, not the expected {expected}")]
    WrongExpectedVersion {
        stream: StreamId,
        expected: u64,
        actual: u64,
    },
    #[error("corrupt log record: {0}")]
    Corrupt(String),
    #[error("event does not encode: {0}")]
    Encode(#[from] CodecError),
    #[error("refused write: {0}")]
    Refused(&'static str),
    #[error("the event log is closed")]
    Closed,
    #[error("the event log stopped taking writes after {0}; restart the node")]
    Broken(String),
}

/// What an append expects of its stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Whatever the stream holds.
    Any,
    /// Exactly this many events so far (0: the stream is new).
    Exact(u64),
}

/// An event ready to append: its stored name, schema version and payload.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub type_name: &'static str,
    pub schema_version: u16,
    pub payload: Vec<u8>,
}

impl NewEvent {
    pub fn from_event<E: EventFamily>(event: &E) -> Result<Self, LogError> {
        Ok(Self {
            type_name: event.type_name(),
            schema_version: event.schema_version(),
            payload: event.encode_payload()?,
        })
    }
}

/// A write beside the log (inbox entries, ...), committed with the same
/// flush as the events. Keys must not use the log's own prefixes.
#[derive(Clone, Debug)]
pub enum SideWrite {
    Insert(Vec<u8>, Vec<u8>),
    Remove(Vec<u8>),
}

impl SideWrite {
    fn key(&self) -> &[u8] {
        match self {
            SideWrite::Insert(k, _) | SideWrite::Remove(k) => k,
        }
    }
}

/// What an append achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Global sequence of the first event appended.
    pub first_seq: u64,
    /// The stream's version after the append.
    pub version: u64,
    /// The time stamped on the appended events.
    pub at: Timestamp,
}

/// A stored record: its global sequence and framed bytes (a slice of the
/// commit value that holds it; no copy).
#[derive(Clone, Debug)]
pub struct StoredRecord {
    pub seq: u64,
    blob: sled::IVec,
    range: std::ops::Range<usize>,
}

impl StoredRecord {
    pub fn frame(&self) -> Result<Frame<'_>, LogError> {
        frame::decode(self.bytes())
    }

    pub fn bytes(&self) -> &[u8] {
        &self.blob[self.range.clone()]
    }
}

#[derive(Clone, Debug)]
pub struct LogOptions {
    /// sled's page cache, bytes: about what it holds (with the vendored
    /// sled's 16 shards, each keeps at least one leaf of tens of KB). A
    /// larger cache keeps old mailboxes' records, which activation reads
    /// again only rarely; a miss reads the OS's cache.
    pub cache_capacity: u64,
    /// Most requests folded into one commit.
    pub max_batch: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            cache_capacity: 1024 * 1024,
            max_batch: 4096,
        }
    }
}

/// Counters of the committer, for metrics and benchmarks.
#[derive(Default, Debug)]
pub struct LogStats {
    pub commits: AtomicU64,
    pub requests: AtomicU64,
    pub events: AtomicU64,
    pub side_writes: AtomicU64,
    /// Flush + fsync pairs (each covers one or more commits).
    pub syncs: AtomicU64,
    /// Time the committer spent staging and applying rounds, and the syncer flushing and syncing.
    pub apply_nanos: AtomicU64,
    pub flush_nanos: AtomicU64,
    pub sync_nanos: AtomicU64,
    /// Stream heads the committer holds (those of streams being written).
    pub heads_cached: AtomicU64,
}

struct Inner {
    db: sled::Db,
    tree: sled::Tree,
    dir: PathBuf,
    tx: Option<mpsc::Sender<Request>>,
    threads: Vec<JoinHandle<()>>,
    stats: Arc<LogStats>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel lets the committer finish what it holds and
        // exit; the syncer follows once it has answered the last round.
        self.tx.take();
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
    }
}

/// The event log. Cheap to clone; all clones share one committer.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Inner>,
}

const DB_DIR: &str = "log";

impl EventLog {
    /// Opens the log in `data_dir`, creating it if needed.
    pub fn open(data_dir: &Path, options: &LogOptions) -> Result<Self, LogError> {
        std::fs::create_dir_all(data_dir)?;
        Self::open_inner(data_dir, options)
    }

    /// Opens an existing log; a directory without one is an error.
    pub fn open_existing(data_dir: &Path, options: &LogOptions) -> Result<Self, LogError> {
        if !data_dir.join(DB_DIR).join("db").is_file() {
            return Err(LogError::Missing(data_dir.to_path_buf()));
        }
        Self::open_inner(data_dir, options)
    }

    fn open_inner(data_dir: &Path, options: &LogOptions) -> Result<Self, LogError> {
        let path = data_dir.join(DB_DIR);
        let config = sled::Config::new()
            .path(&path)
            .cache_capacity(options.cache_capacity)
            .mode(sled::Mode::HighThroughput)
            // We flush (and fsync) on every commit; sled's timer would only compete.
            .flush_every_ms(None);
        let db = open_when_free(&config).map_err(|e| LogError::Open {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let tree = db.open_tree("hcal")?;
        let mut durability = durability::Durability::new(&path)?;
        // A crash between a commit's records and its index leaves the index
        // short; complete it before anything reads or writes.
        let projection: &'static dyn tables::Projection = &crate::tables::TABLES;
        let next_seq = read::complete(&tree, projection)?.max(1);
        db.flush()?;
        durability.sync()?;
        let stats = Arc::new(LogStats::default());
        let (tx, rx) = mpsc::channel();
        // Two applied rounds may wait for the syncer; then the committer waits.
        let (to_sync, synced) = mpsc::sync_channel(2);
        let broken = syncer::Broken::default();
        let syncer = Arc::new(Mutex::new(syncer::Syncer::new(
            db.clone(),
            durability,
            stats.clone(),
            broken.clone(),
        )));
        let committer = committer::Committer::new(
            tree.clone(),
            to_sync,
            syncer.clone(),
            broken,
            next_seq,
            stats.clone(),
            projection,
        );
        let max_batch = options.max_batch.max(1);
        let threads = vec![
            std::thread::Builder::new()
                .name("hcal-log-commit".into())
                .spawn(move || committer.run(rx, max_batch))?,
            std::thread::Builder::new()
                .name("hcal-log-sync".into())
                .spawn(move || syncer::run(syncer, synced))?,
        ];
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                tree,
                dir: data_dir.to_path_buf(),
                tx: Some(tx),
                threads,
                stats,
            }),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn stats(&self) -> &LogStats {
        &self.inner.stats
    }

    fn submit(&self, request: Request) -> Result<(), LogError> {
        let tx = self.inner.tx.as_ref().ok_or(LogError::Closed)?;
        tx.send(request).map_err(|_| LogError::Closed)
    }

    /// `stream`'s writer is done for now (a mailbox actor passivating): the
    /// committer forgets the stream's cached head, and reads it from the
    /// index again at the stream's next append.
    pub fn forget_head(&self, stream: &StreamId) {
        // A closed log holds no heads.
        let _ = self.submit(Request::Forget { stream: stream.clone() });
    }

    fn submit_append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        side: Vec<SideWrite>,
    ) -> Result<oneshot::Receiver<Result<Appended, LogError>>, LogError> {
        if events.is_empty() {
            return Err(LogError::Refused("an append needs at least one event"));
        }
        if events.iter().any(|e| e.type_name.len() > u8::MAX as usize) {
            return Err(LogError::Refused("event type name longer than 255 bytes"));
        }
        check_side_writes(&side)?;
        let (reply, rx) = oneshot::channel();
        self.submit(Request::Append {
            stream: stream.clone(),
            expected,
            events,
            side,
            reply,
        })?;
        Ok(rx)
    }

    fn submit_write(&self, writes: Vec<SideWrite>) -> Result<oneshot::Receiver<Result<(), LogError>>, LogError> {
        check_side_writes(&writes)?;
        let (reply, rx) = oneshot::channel();
        self.submit(Request::Write { writes, reply })?;
        Ok(rx)
    }

    /// Appends `events` to `stream` if it is at `expected`; returns once they
    /// are on disk. `side` writes commit atomically with them.
    pub async fn append_with(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        side: Vec<SideWrite>,
    ) -> Result<Appended, LogError> {
        self.submit_append(stream, expected, events, side)?
            .await
            .map_err(|_| LogError::Closed)?
    }

    pub async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended, LogError> {
        self.append_with(stream, expected, events, Vec::new()).await
    }

    /// [`EventLog::append`] for threads outside an async runtime.
    pub fn append_blocking(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended, LogError> {
        self.submit_append(stream, expected, events, Vec::new())?
            .blocking_recv()
            .map_err(|_| LogError::Closed)?
    }

    /// Durable writes beside the log (group-committed with appends).
    pub async fn write_durable(&self, writes: Vec<SideWrite>) -> Result<(), LogError> {
        self.submit_write(writes)?.await.map_err(|_| LogError::Closed)?
    }

    pub fn write_durable_blocking(&self, writes: Vec<SideWrite>) -> Result<(), LogError> {
        self.submit_write(writes)?
            .blocking_recv()
            .map_err(|_| LogError::Closed)?
    }

    /// The stream's current version (0 if it has no events).
    pub fn head(&self, stream: &StreamId) -> Result<u64, LogError> {
        read::head(&self.inner.tree, stream)
    }

    /// Every stream and its version.
    pub fn stream_heads(&self) -> impl Iterator<Item = Result<(StreamId, u64), LogError>> + '_ {
        read::stream_heads(&self.inner.tree)
    }

    /// Hands `f` the events of `stream` at `versions` (ascending, each
    /// once): one pass forward over versions close together (a sync's
    /// events are one commit), a new seek across a gap. Versions the stream
    /// does not have are passed over.
    pub fn read_versions(
        &self,
        stream: &StreamId,
        versions: &[u64],
        mut f: impl FnMut(&Frame<'_>) -> Result<(), LogError>,
    ) -> Result<(), LogError> {
        /// Events read through rather than sought past.
        const NEAR: u64 = 32;
        let mut next = 0;
        while next < versions.len() {
            let before = next;
            for rec in self.read_stream(stream, versions[next]) {
                let rec = rec?;
                let frame = rec.frame()?;
                while next < versions.len() && versions[next] < frame.version {
                    next += 1;
                }
                let Some(&want) = versions.get(next) else { break };
                if frame.version == want {
                    f(&frame)?;
                    next += 1;
                    match versions.get(next) {
                        Some(v) if v.saturating_sub(want) <= NEAR => {}
                        _ => break,
                    }
                }
            }
            if next == before {
                // The stream ends before the versions left.
                break;
            }
        }
        Ok(())
    }

    /// The events of `stream` from `from_version` (inclusive, from 1) on.
    pub fn read_stream<'a>(
        &'a self,
        stream: &StreamId,
        from_version: u64,
    ) -> impl Iterator<Item = Result<StoredRecord, LogError>> + 'a {
        let from_version = from_version.max(1);
        read::index_from(&self.inner.tree, stream, from_version).flat_map(
            move |entry| -> Box<dyn Iterator<Item = Result<StoredRecord, LogError>> + 'a> {
                let (first_version, first_seq, count) = match entry {
                    Ok(e) => e,
                    Err(e) => return Box::new(std::iter::once(Err(e))),
                };
                let skip = from_version.saturating_sub(first_version);
                match read::span(&self.inner.tree, first_seq + skip, first_seq + count as u64) {
                    Ok(records) => Box::new(records.into_iter().map(Ok)),
                    Err(e) => Box::new(std::iter::once(Err(e))),
                }
            },
        )
    }

    /// One record by global sequence.
    pub fn record(&self, seq: u64) -> Result<Option<StoredRecord>, LogError> {
        read::record(&self.inner.tree, seq)
    }

    /// Every record from global sequence `from_seq` on, in order.
    pub fn read_all(&self, from_seq: u64) -> impl Iterator<Item = Result<StoredRecord, LogError>> + '_ {
        read::from_seq(&self.inner.tree, from_seq)
    }

    /// The highest global sequence written (0 if none).
    pub fn last_seq(&self) -> Result<u64, LogError> {
        Ok(match self.inner.tree.scan_prefix([layout::LOG]).next_back() {
            Some(r) => {
                let (k, v) = r?;
                let first = layout::seq_of_log_key(&k).ok_or_else(|| LogError::Corrupt("bad log key".into()))?;
                first + layout::records(&v).count() as u64 - 1
            }
            None => 0,
        })
    }

    /// Stores a snapshot of `stream` at `version`. Not flushed: a lost
    /// snapshot only makes the next activation replay more of the log.
    pub fn save_snapshot(&self, stream: &StreamId, version: u64, state: &[u8]) -> Result<(), LogError> {
        let mut v = Vec::with_capacity(8 + state.len());
        v.extend_from_slice(&version.to_be_bytes());
        v.extend_from_slice(state);
        self.inner.tree.insert(layout::snapshot_key(stream), v)?;
        Ok(())
    }

    pub fn load_snapshot(&self, stream: &StreamId) -> Result<Option<(u64, Vec<u8>)>, LogError> {
        Ok(match self.inner.tree.get(layout::snapshot_key(stream))? {
            Some(v) => {
                let version = layout::be_u64(&v).ok_or_else(|| LogError::Corrupt("bad snapshot".into()))?;
                Some((version, v[8..].to_vec()))
            }
            None => None,
        })
    }

    /// Every table row (key, value), in key order (for the digest).
    pub fn table_rows(&self) -> Result<std::collections::BTreeMap<Vec<u8>, Vec<u8>>, LogError> {
        self.scan_side(&[layout::TABLE])
            .map(|r| {
                let (k, v) = r?;
                Ok((k.to_vec(), v.to_vec()))
            })
            .collect()
    }

    /// One entry beside the log's records (a table row, an inbox entry, ...).
    pub fn side(&self, key: &[u8]) -> Result<Option<sled::IVec>, LogError> {
        Ok(self.inner.tree.get(key)?)
    }

    /// Writes (or with None removes) an entry its owner can derive again
    /// from elsewhere, and does at open: not made durable by itself (the
    /// next commit's flush carries it). Only for the keyring's index.
    pub fn write_derived(&self, key: &[u8], value: Option<&[u8]>) -> Result<(), LogError> {
        if key.first() != Some(&layout::KEY_INDEX) {
            return Err(LogError::Refused("only the key index is written without a commit"));
        }
        match value {
            Some(v) => drop(self.inner.tree.insert(key, v)?),
            None => drop(self.inner.tree.remove(key)?),
        }
        Ok(())
    }

    /// Entries beside the log's records under one key prefix, in key order
    /// (table rows, the inbox, ...).
    pub fn scan_side(
        &self,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec), LogError>> + use<'_> {
        self.inner.tree.scan_prefix(prefix).map(|r| r.map_err(LogError::from))
    }

    /// Writes checked records of an export, durably, keeping their sequences.
    fn import_records(&self, records: Vec<(u64, Vec<u8>)>) -> Result<(), LogError> {
        let (reply, rx) = oneshot::channel();
        self.submit(Request::Import { records, reply })?;
        rx.blocking_recv().map_err(|_| LogError::Closed)?
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, LogError> {
        Ok(self.inner.db.size_on_disk()?)
    }
}

/// Opens sled's database, waiting a little while its lock is held: sled's
/// I/O threads let go of a database a moment after its last handle is
/// dropped (they signal a write done before they drop their reference), so
/// a log reopened in the same process right after closing may find it still
/// locked. Another process holding it still fails, after the wait.
fn open_when_free(config: &sled::Config) -> sled::Result<sled::Db> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match config.open() {
            Err(e) if is_locked(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// Whether sled refused to open a database because its lock file is held.
/// sled 0.34 reports that as an `Other` I/O error naming the lock (the
/// `WouldBlock` beneath is only in its text).
pub fn is_locked(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().starts_with("could not acquire lock"))
}

fn check_side_writes(writes: &[SideWrite]) -> Result<(), LogError> {
    for w in writes {
        match w.key().first() {
            Some(&layout::LOG)
            | Some(&layout::INDEX)
            | Some(&b'W')
            | Some(&layout::TABLE)
            | Some(&b'P')
            | Some(&layout::KEY_INDEX)
            | None => {
                return Err(LogError::Refused("side writes may not touch the log's own keys"));
            }
            _ => {}
        }
    }
    Ok(())
}
