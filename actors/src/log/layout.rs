//! Where things live in the log's one sled tree, by key prefix.
//!
//! A commit writes one value holding all its records (`L`), one index entry
//! per append (`V`), then the watermark (`W`), as plain inserts (with its
//! table rows, the watermark and the tables' mark are one batch: `tables`): a sled
//! batch costs a forced I/O-buffer roll (measured: apply and flush both
//! slower), and one value per commit instead of three keys per event cuts
//! the work sled does per event. The commit's records are all-or-nothing
//! because they are one value; the index is derivable from them and is
//! completed at open for any commit past the watermark.

use hcal_schemas::StreamId;

/// `L` + first seq (u64 BE) -> the records of one commit, each `[len: u32 BE][frame]`.
pub const LOG: u8 = b'L';
/// `V` + stream + 0 + first version (u64 BE) -> first seq (u64 BE) + count (u32 BE): one append.
pub const INDEX: u8 = b'V';
/// `W` -> the last seq whose commit is fully indexed (u64 BE).
pub const WATERMARK: &[u8] = b"W";
/// `S` + stream -> snapshot: version (u64 BE) + codec-encoded state.
pub const SNAPSHOT: u8 = b'S';
/// `T` + table + ... -> a table row (see `tables`).
pub const TABLE: u8 = b'T';
/// `P` -> the tables' mark: the format (u32 BE) of the projection that
/// wrote the rows, and the last sequence (u64 BE) it projected.
pub const TABLES_MARK: &[u8] = b"P";
/// `I` + ... -> durable inbox entries (the webhook ingress owns the rest of the key).
pub const INBOX: u8 = b'I';
/// `K` + stream -> where the stream's wrapped data keys are in the key file
/// (the keyring's index; rebuilt from the key file at open).
pub const KEY_INDEX: u8 = b'K';
/// `H` + subscription id -> when it last brought a notification (i64 BE ms),
/// written with the inbox entries.
pub const HEARD: u8 = b'H';

pub fn log_key(seq: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = LOG;
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub fn seq_of_log_key(key: &[u8]) -> Option<u64> {
    be_u64(key.get(1..)?)
}

pub fn index_prefix(stream: &StreamId) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.text().len() + 10);
    k.push(INDEX);
    k.extend_from_slice(stream.text().as_bytes());
    k.push(0);
    k
}

pub fn index_key(stream: &StreamId, first_version: u64) -> Vec<u8> {
    let mut k = index_prefix(stream);
    k.extend_from_slice(&first_version.to_be_bytes());
    k
}

/// (stream id, first version) of an index key.
pub fn parse_index_key(key: &[u8]) -> Option<(&str, u64)> {
    let rest = key.strip_prefix(&[INDEX])?;
    if rest.len() < 9 || rest[rest.len() - 9] != 0 {
        return None;
    }
    let (name, version) = rest.split_at(rest.len() - 9);
    Some((std::str::from_utf8(name).ok()?, be_u64(&version[1..])?))
}

pub fn index_value(first_seq: u64, count: u32) -> [u8; 12] {
    let mut v = [0u8; 12];
    v[..8].copy_from_slice(&first_seq.to_be_bytes());
    v[8..].copy_from_slice(&count.to_be_bytes());
    v
}

/// (first seq, count) of an index value.
pub fn parse_index_value(v: &[u8]) -> Option<(u64, u32)> {
    let seq = be_u64(v)?;
    let count = u32::from_be_bytes(v.get(8..12)?.try_into().ok()?);
    Some((seq, count))
}

pub fn snapshot_key(stream: &StreamId) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.text().len() + 1);
    k.push(SNAPSHOT);
    k.extend_from_slice(stream.text().as_bytes());
    k
}

pub fn be_u64(bytes: &[u8]) -> Option<u64> {
    let b: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

/// Appends one record to a commit value.
pub fn push_record(blob: &mut Vec<u8>, frame: &[u8]) {
    blob.extend_from_slice(&(frame.len() as u32).to_be_bytes());
    blob.extend_from_slice(frame);
}

/// The byte ranges of the records in a commit value, in order.
pub fn records(blob: &[u8]) -> impl Iterator<Item = Option<std::ops::Range<usize>>> + '_ {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if pos >= blob.len() {
            return None;
        }
        let len = blob
            .get(pos..pos + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
        let range = len.map(|l| pos + 4..pos + 4 + l).filter(|r| r.end <= blob.len());
        match &range {
            Some(r) => pos = r.end,
            None => pos = blob.len(),
        }
        Some(range)
    })
}
