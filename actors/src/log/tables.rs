//! Tables: rows derived from events, kept in the log's tree and written by
//! the commit that appends those events (before its watermark), so that a
//! node reads by key, from disk, what it would otherwise hold in memory for
//! every mailbox it has.
//!
//! A row's stored value starts with the version of the event that last
//! wrote it (in the one stream that writes that row). Completing a commit
//! past the watermark projects its events again over rows that may already
//! hold them, or hold later ones; a row at that version or past it is left
//! as it is, so projecting the tail again, in order, ends where the first
//! projection did.

use std::collections::HashMap;

use hcal_schemas::StreamId;
use tracing::info;

use super::{Frame, LogError, layout};

/// What events write to tables. One projection serves a log (the node's,
/// `crate::tables`): every writer of a data directory keeps the same rows.
pub trait Projection: Send + Sync {
    /// Whether events of `stream` may change rows at all (the committer
    /// skips the others).
    fn writes(&self, stream: &StreamId) -> bool;

    /// Makes the changes to rows that `frame` makes.
    fn project(&self, frame: &Frame<'_>, rows: &mut Rows<'_>) -> Result<(), LogError>;

    /// Changed whenever what [`Projection::project`] writes changes: a log
    /// whose rows were written by another format has them rebuilt at open.
    fn format(&self) -> u32;
}

/// A commit's row changes, staged: key -> stored value (None: removed).
pub type Staged = HashMap<Vec<u8>, Option<Vec<u8>>>;

/// Rows as a projection sees them while it projects one event: the tree
/// (none for a replay, which stages every row), with the changes staged so
/// far in front of it.
pub struct Rows<'a> {
    tree: Option<&'a sled::Tree>,
    staged: &'a mut Staged,
    version: u64,
}

impl<'a> Rows<'a> {
    pub fn new(tree: Option<&'a sled::Tree>, staged: &'a mut Staged, version: u64) -> Self {
        Self { tree, staged, version }
    }

    /// The row's stored value: (version that wrote it, payload).
    fn stored(&self, key: &[u8]) -> Result<Option<(u64, Vec<u8>)>, LogError> {
        let value = match self.staged.get(key) {
            Some(v) => v.clone(),
            None => match self.tree {
                Some(tree) => tree.get(key)?.map(|v| v.to_vec()),
                None => None,
            },
        };
        match value {
            None => Ok(None),
            Some(v) => {
                let version =
                    layout::be_u64(&v).ok_or_else(|| LogError::Corrupt("table row without a version".into()))?;
                Ok(Some((version, v[8..].to_vec())))
            }
        }
    }

    /// A row's payload.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, LogError> {
        Ok(self.stored(key)?.map(|(_, payload)| payload))
    }

    /// Whether this event may still change the row (it is not already
    /// written by this event or a later one).
    fn may_change(&self, key: &[u8]) -> Result<bool, LogError> {
        Ok(self.stored(key)?.is_none_or(|(v, _)| v < self.version))
    }

    pub fn put(&mut self, key: Vec<u8>, payload: &[u8]) -> Result<(), LogError> {
        check_key(&key)?;
        if self.may_change(&key)? {
            let mut value = Vec::with_capacity(8 + payload.len());
            value.extend_from_slice(&self.version.to_be_bytes());
            value.extend_from_slice(payload);
            self.staged.insert(key, Some(value));
        }
        Ok(())
    }

    pub fn remove(&mut self, key: Vec<u8>) -> Result<(), LogError> {
        check_key(&key)?;
        if self.may_change(&key)? {
            self.staged.insert(key, None);
        }
        Ok(())
    }
}

fn check_key(key: &[u8]) -> Result<(), LogError> {
    match key.first() {
        Some(&layout::TABLE) => Ok(()),
        _ => Err(LogError::Refused("a table row's key must start with the table prefix")),
    }
}

/// Projects one stored record into `staged`.
pub fn project_record(
    projection: &dyn Projection,
    tree: Option<&sled::Tree>,
    staged: &mut Staged,
    record: &[u8],
) -> Result<(), LogError> {
    let frame = super::frame::decode(record)?;
    projection.project(&frame, &mut Rows::new(tree, staged, frame.version))
}

pub fn write(tree: &sled::Tree, staged: Staged) -> Result<(), LogError> {
    for (k, v) in staged {
        match v {
            Some(v) => drop(tree.insert(k, v)?),
            None => drop(tree.remove(k)?),
        }
    }
    Ok(())
}

/// A row's payload, as the last durable commit left it.
pub fn get(tree: &sled::Tree, key: &[u8]) -> Result<Option<sled::IVec>, LogError> {
    tree.get(key)?.map(payload).transpose()
}

/// A stored row's payload (after the version that wrote it).
pub fn payload(stored: sled::IVec) -> Result<sled::IVec, LogError> {
    if stored.len() < 8 {
        return Err(LogError::Corrupt("table row without a version".into()));
    }
    Ok(stored.subslice(8, stored.len() - 8))
}

/// Rebuilds every row from the whole log when the rows were written by
/// another format of the projection (or by a node that had none), before
/// anything reads or writes.
pub fn rebuild_if_stale(tree: &sled::Tree, projection: &dyn Projection) -> Result<(), LogError> {
    let format = projection.format().to_be_bytes();
    if tree.get(layout::TABLES_FORMAT)?.as_deref() == Some(&format[..]) {
        return Ok(());
    }
    let started = std::time::Instant::now();
    for key in tree.scan_prefix([layout::TABLE]).keys() {
        tree.remove(key?)?;
    }
    let mut staged = Staged::new();
    let mut events = 0u64;
    for record in super::read::from_seq(tree, 0) {
        let record = record?;
        project_record(projection, Some(tree), &mut staged, record.bytes())?;
        events += 1;
        // Written a chunk at a time; later reads see earlier chunks in the tree.
        if staged.len() >= 4096 {
            write(tree, std::mem::take(&mut staged))?;
        }
        if events.is_multiple_of(100_000) {
            info!(events, "rebuilding the log's tables");
        }
    }
    write(tree, staged)?;
    tree.insert(layout::TABLES_FORMAT, &format[..])?;
    if events > 0 {
        info!(
            events,
            seconds = started.elapsed().as_secs_f64(),
            "rebuilt the log's tables"
        );
    }
    Ok(())
}
