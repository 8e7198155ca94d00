//! Where things live in the log's one sled tree. One tree with key prefixes,
//! so that an append (records, stream index, stream head, retired inbox
//! entries) is one atomic sled batch: sled's multi-tree transactions ran at a
//! tenth of the speed here.

use hcal_schemas::StreamId;

/// `L` + seq (u64 BE) -> framed event.
pub const LOG: u8 = b'L';
/// `V` + stream + 0 + version (u64 BE) -> seq (u64 BE).
pub const INDEX: u8 = b'V';
/// `H` + stream -> head version (u64 BE).
pub const HEAD: u8 = b'H';
/// `S` + stream -> snapshot: version (u64 BE) + codec-encoded state.
pub const SNAPSHOT: u8 = b'S';
/// `I` + ... -> durable inbox entries (the webhook ingress owns the rest of the key).
pub const INBOX: u8 = b'I';

pub fn log_key(seq: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = LOG;
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub fn seq_of_log_key(key: &[u8]) -> Option<u64> {
    let b: [u8; 8] = key.get(1..9)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

pub fn index_prefix(stream: &StreamId) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.as_str().len() + 2);
    k.push(INDEX);
    k.extend_from_slice(stream.as_str().as_bytes());
    k.push(0);
    k
}

pub fn index_key(stream: &StreamId, version: u64) -> Vec<u8> {
    let mut k = index_prefix(stream);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

pub fn head_key(stream: &StreamId) -> Vec<u8> {
    prefixed(HEAD, stream)
}

pub fn snapshot_key(stream: &StreamId) -> Vec<u8> {
    prefixed(SNAPSHOT, stream)
}

fn prefixed(tag: u8, stream: &StreamId) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.as_str().len() + 1);
    k.push(tag);
    k.extend_from_slice(stream.as_str().as_bytes());
    k
}

pub fn be_u64(bytes: &[u8]) -> Option<u64> {
    let b: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}
