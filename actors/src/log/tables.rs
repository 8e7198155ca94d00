//! Tables: rows derived from events, kept in the log's tree and written by
//! the commit that appends those events, so that a node reads by key, from
//! disk, what it would otherwise hold in memory for every mailbox it has.
//!
//! A round's rows, its watermark and the tables' mark (`P`: the projection's
//! format and the last sequence projected) are written as one sled batch:
//! after a crash either all of them are there or none, so completing the
//! tail past the mark at open projects it over exactly the rows that were
//! there before it (a projection may read any row, not only the one it
//! writes). A round without rows writes the mark after its watermark; a
//! mark left behind by a crash covers only rounds that wrote no rows.

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

/// Row changes, staged: key -> value (None: removed).
pub type Staged = HashMap<Vec<u8>, Option<Vec<u8>>>;

/// Rows as a projection sees them while it projects one event: the tree
/// (none for a replay, which stages every row), under the changes staged
/// before (the round's, for an append), under the changes staged so far.
pub struct Rows<'a> {
    tree: Option<&'a sled::Tree>,
    under: Option<&'a Staged>,
    staged: &'a mut Staged,
}

impl<'a> Rows<'a> {
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, LogError> {
        if let Some(v) = self.staged.get(key).or_else(|| self.under.and_then(|u| u.get(key))) {
            return Ok(v.clone());
        }
        Ok(match self.tree {
            Some(tree) => tree.get(key)?.map(|v| v.to_vec()),
            None => None,
        })
    }

    pub fn put(&mut self, key: Vec<u8>, value: &[u8]) -> Result<(), LogError> {
        check_key(&key)?;
        self.staged.insert(key, Some(value.to_vec()));
        Ok(())
    }

    pub fn remove(&mut self, key: Vec<u8>) -> Result<(), LogError> {
        check_key(&key)?;
        self.staged.insert(key, None);
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
    project_record_over(projection, tree, None, staged, record)
}

/// Projects one stored record into `staged`, reading rows through it, then
/// `under`, then the tree.
pub fn project_record_over(
    projection: &dyn Projection,
    tree: Option<&sled::Tree>,
    under: Option<&Staged>,
    staged: &mut Staged,
    record: &[u8],
) -> Result<(), LogError> {
    let frame = super::frame::decode(record)?;
    projection.project(&frame, &mut Rows { tree, under, staged })
}

/// The tables' mark: the projection's format and the last sequence projected.
pub fn mark(projection: &dyn Projection, seq: u64) -> [u8; 12] {
    let mut v = [0u8; 12];
    v[..4].copy_from_slice(&projection.format().to_be_bytes());
    v[4..].copy_from_slice(&seq.to_be_bytes());
    v
}

/// (format, last sequence projected) of the mark, if there is one.
fn read_mark(tree: &sled::Tree) -> Result<Option<(u32, u64)>, LogError> {
    Ok(tree.get(layout::TABLES_MARK)?.and_then(|v| {
        let format = u32::from_be_bytes(v.get(..4)?.try_into().ok()?);
        Some((format, layout::be_u64(v.get(4..)?)?))
    }))
}

/// Writes a round's rows, its watermark and the mark as one batch.
pub fn write_with_watermark(
    tree: &sled::Tree,
    staged: Staged,
    watermark: u64,
    projection: &dyn Projection,
) -> Result<(), LogError> {
    let mut batch = batch_of(staged);
    batch.insert(layout::WATERMARK, &watermark.to_be_bytes()[..]);
    batch.insert(layout::TABLES_MARK, &mark(projection, watermark)[..]);
    tree.apply_batch(batch)?;
    Ok(())
}

/// Brings the tables up to the log's last record at open, before anything
/// reads or writes: all rows again from the whole log when another format
/// of the projection wrote them (or none did: a log from before the
/// tables), else the records past the mark (a crash's tail, or records an
/// older build appended without rows).
pub fn complete(tree: &sled::Tree, projection: &dyn Projection, last_seq: u64) -> Result<(), LogError> {
    let (from, rebuilding) = match read_mark(tree)? {
        Some((format, seq)) if format == projection.format() => (seq + 1, false),
        _ => {
            for key in tree.scan_prefix([layout::TABLE]).keys() {
                tree.remove(key?)?;
            }
            (0, true)
        }
    };
    if !rebuilding && from > last_seq {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let mut staged = Staged::new();
    let mut events = 0u64;
    for record in super::read::from_seq(tree, from) {
        let record = record?;
        project_record(projection, Some(tree), &mut staged, record.bytes())?;
        events += 1;
        // A rebuild writes as it goes (a crash before its mark starts it
        // again from nothing); a tail is one batch with the mark.
        if rebuilding && staged.len() >= 4096 {
            write(tree, std::mem::take(&mut staged))?;
        }
        if events.is_multiple_of(100_000) {
            info!(events, "bringing the log's tables up to date");
        }
    }
    let mut batch = batch_of(staged);
    batch.insert(layout::TABLES_MARK, &mark(projection, last_seq)[..]);
    tree.apply_batch(batch)?;
    if events > 0 {
        info!(
            events,
            seconds = started.elapsed().as_secs_f64(),
            "brought the log's tables up to date"
        );
    }
    Ok(())
}

fn batch_of(staged: Staged) -> sled::Batch {
    let mut batch = sled::Batch::default();
    for (k, v) in staged {
        match v {
            Some(v) => batch.insert(k, v),
            None => batch.remove(k),
        }
    }
    batch
}

fn write(tree: &sled::Tree, staged: Staged) -> Result<(), LogError> {
    for (k, v) in staged {
        match v {
            Some(v) => drop(tree.insert(k, v)?),
            None => drop(tree.remove(k)?),
        }
    }
    Ok(())
}
