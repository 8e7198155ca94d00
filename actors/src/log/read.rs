//! Reading the log's tree: commit values, records by sequence, the stream
//! index, and completing that index for commits past the watermark.

use hcal_schemas::StreamId;

use super::{LogError, StoredRecord, frame, layout};

fn corrupt(why: &str) -> LogError {
    LogError::Corrupt(why.to_string())
}

/// The records of one commit value, with their sequence numbers.
pub fn commit_records(first_seq: u64, blob: sled::IVec) -> impl Iterator<Item = Result<StoredRecord, LogError>> {
    let ranges: Vec<_> = layout::records(&blob).collect();
    ranges.into_iter().enumerate().map(move |(i, r)| {
        let range = r.ok_or_else(|| corrupt("commit value cut short"))?;
        Ok(StoredRecord {
            seq: first_seq + i as u64,
            blob: blob.clone(),
            range,
        })
    })
}

/// The commit value holding `seq`: (its first seq, the value).
pub fn commit_at(tree: &sled::Tree, seq: u64) -> Result<Option<(u64, sled::IVec)>, LogError> {
    match tree.range(layout::log_key(0)..=layout::log_key(seq)).next_back() {
        Some(r) => {
            let (k, v) = r?;
            let first = layout::seq_of_log_key(&k).ok_or_else(|| corrupt("bad log key"))?;
            Ok(Some((first, v)))
        }
        None => Ok(None),
    }
}

pub fn record(tree: &sled::Tree, seq: u64) -> Result<Option<StoredRecord>, LogError> {
    let Some((first, blob)) = commit_at(tree, seq)? else {
        return Ok(None);
    };
    for rec in commit_records(first, blob) {
        let rec = rec?;
        if rec.seq == seq {
            return Ok(Some(rec));
        }
    }
    Ok(None)
}

/// The records `from..end` of one append: consecutive, in one commit value, so
/// read with one seek and one pass over that value.
pub fn span(tree: &sled::Tree, from: u64, end: u64) -> Result<Vec<StoredRecord>, LogError> {
    let missing = |seq: u64| LogError::Corrupt(format!("index points at missing record {seq}"));
    let Some((first, blob)) = commit_at(tree, from)? else {
        return Err(missing(from));
    };
    let mut out = Vec::with_capacity(end.saturating_sub(from) as usize);
    for rec in commit_records(first, blob) {
        let rec = rec?;
        if rec.seq >= end {
            break;
        }
        if rec.seq >= from {
            out.push(rec);
        }
    }
    let got = from + out.len() as u64;
    if got < end {
        return Err(missing(got));
    }
    Ok(out)
}

/// Every record from `from_seq` on.
pub fn from_seq(tree: &sled::Tree, from_seq: u64) -> impl Iterator<Item = Result<StoredRecord, LogError>> + '_ {
    let start = match commit_at(tree, from_seq) {
        Ok(Some((first, _))) => first,
        _ => from_seq,
    };
    tree.range(layout::log_key(start)..=layout::log_key(u64::MAX))
        .flat_map(move |r| -> Box<dyn Iterator<Item = Result<StoredRecord, LogError>>> {
            match r {
                Err(e) => Box::new(std::iter::once(Err(e.into()))),
                Ok((k, v)) => match layout::seq_of_log_key(&k) {
                    Some(first) => Box::new(commit_records(first, v)),
                    None => Box::new(std::iter::once(Err(corrupt("bad log key")))),
                },
            }
        })
        .filter(move |r| r.as_ref().map(|r| r.seq >= from_seq).unwrap_or(true))
}

/// A stream's version: the end of its last index entry.
pub fn head(tree: &sled::Tree, stream: &StreamId) -> Result<u64, LogError> {
    match tree.scan_prefix(layout::index_prefix(stream)).next_back() {
        Some(r) => {
            let (k, v) = r?;
            let (_, first_version) = layout::parse_index_key(&k).ok_or_else(|| corrupt("bad index key"))?;
            let (_, count) = layout::parse_index_value(&v).ok_or_else(|| corrupt("bad index entry"))?;
            Ok(first_version + count as u64 - 1)
        }
        None => Ok(0),
    }
}

/// The index entries of `stream` covering versions from `from_version` on:
/// (first version, first seq, count).
pub fn index_from<'a>(
    tree: &'a sled::Tree,
    stream: &StreamId,
    from_version: u64,
) -> impl Iterator<Item = Result<(u64, u64, u32), LogError>> + 'a {
    // The entry holding `from_version` may begin before it.
    let start = tree
        .range(layout::index_key(stream, 0)..=layout::index_key(stream, from_version))
        .next_back()
        .and_then(|r| r.ok())
        .and_then(|(k, _)| layout::parse_index_key(&k).map(|(_, v)| v))
        .unwrap_or(from_version);
    tree.range(layout::index_key(stream, start)..=layout::index_key(stream, u64::MAX))
        .map(|r| {
            let (k, v) = r?;
            let (_, first_version) = layout::parse_index_key(&k).ok_or_else(|| corrupt("bad index key"))?;
            let (seq, count) = layout::parse_index_value(&v).ok_or_else(|| corrupt("bad index entry"))?;
            Ok((first_version, seq, count))
        })
}

/// Every stream and its version, one seek per stream.
pub fn stream_heads(tree: &sled::Tree) -> impl Iterator<Item = Result<(StreamId, u64), LogError>> + '_ {
    let mut cursor: Vec<u8> = vec![layout::INDEX];
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let next = tree.range(cursor.clone()..).next();
        let item = match next {
            None => None,
            Some(Err(e)) => Some(Err(e.into())),
            Some(Ok((k, _))) if k.first() != Some(&layout::INDEX) => None,
            Some(Ok((k, _))) => Some((|| {
                let (name, _) = layout::parse_index_key(&k).ok_or_else(|| corrupt("bad index key"))?;
                let stream = StreamId::parse(name).map_err(|e| corrupt(&e.to_string()))?;
                let version = head(tree, &stream)?;
                // Past every key of this stream: its prefix ends in 0, so 1 sorts after.
                let mut after = layout::index_prefix(&stream);
                if let Some(last) = after.last_mut() {
                    *last = 1;
                }
                cursor = after;
                Ok((stream, version))
            })()),
        };
        if item.as_ref().is_none_or(|r| r.is_err()) {
            done = true;
        }
        item
    })
}

/// Makes the index whole for commits past the watermark (a crash between a
/// commit's records and its watermark), and returns the next free sequence.
/// Each record of such a commit gets an entry of its own, overwriting any
/// entry the commit had written for its first version, so entries never overlap.
pub fn complete_index(tree: &sled::Tree) -> Result<u64, LogError> {
    let watermark = match tree.get(layout::WATERMARK)? {
        Some(v) => layout::be_u64(&v).ok_or_else(|| corrupt("bad watermark"))?,
        None => 0,
    };
    let mut last = watermark;
    let start = match commit_at(tree, watermark)? {
        Some((first, _)) => first,
        None => 0,
    };
    let tail: Vec<(sled::IVec, sled::IVec)> = tree
        .range(layout::log_key(start)..=layout::log_key(u64::MAX))
        .collect::<Result<_, _>>()?;
    for (k, blob) in tail {
        let first = layout::seq_of_log_key(&k).ok_or_else(|| corrupt("bad log key"))?;
        for rec in commit_records(first, blob) {
            let rec = rec?;
            last = last.max(rec.seq);
            if rec.seq <= watermark {
                continue;
            }
            let f = frame::decode(rec.bytes())?;
            let stream = StreamId::parse(f.stream).map_err(|e| corrupt(&e.to_string()))?;
            tree.insert(
                layout::index_key(&stream, f.version),
                &layout::index_value(rec.seq, 1)[..],
            )?;
        }
    }
    if last > watermark {
        tree.insert(layout::WATERMARK, &last.to_be_bytes()[..])?;
    }
    Ok(last + 1)
}

/// Makes the index and then the tables whole (see `complete_index` and
/// `tables::complete`); returns the next free sequence.
pub fn complete(tree: &sled::Tree, projection: &dyn super::tables::Projection) -> Result<u64, LogError> {
    let next = complete_index(tree)?;
    super::tables::complete(tree, projection, next.saturating_sub(1))?;
    Ok(next)
}
