//! A portable copy of the log: every record's bytes as stored, in sequence
//! order. Used for backups and for the fixture logs that prove old event
//! versions still replay.
//!
//! ```text
//! "HCALLOG1" then, per record: [seq: u64 BE][len: u32 BE][framed record]
//! ```

use std::collections::HashMap;
use std::io::{Read, Write};

use hcal_schemas::StreamId;

use super::{EventLog, LogError, frame, layout};

const MAGIC: &[u8; 8] = b"HCALLOG1";

/// Writes every record of `log` to `out`; returns how many.
pub fn export(log: &EventLog, out: &mut impl Write) -> Result<u64, LogError> {
    out.write_all(MAGIC)?;
    let mut n = 0;
    for rec in log.read_all(0) {
        let rec = rec?;
        out.write_all(&rec.seq.to_be_bytes())?;
        let len = u32::try_from(rec.bytes().len()).map_err(|_| LogError::Corrupt("record over 4 GiB".into()))?;
        out.write_all(&len.to_be_bytes())?;
        out.write_all(rec.bytes())?;
        n += 1;
    }
    Ok(n)
}

/// Loads an export into an empty log, keeping sequences and stream
/// versions. Every record is checked before anything is written.
pub fn import(log: &EventLog, input: &mut impl Read) -> Result<u64, LogError> {
    if log.last_seq()? != 0 {
        return Err(LogError::Refused("import needs an empty log"));
    }
    let mut magic = [0u8; 8];
    input.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(LogError::Corrupt("not an hcal log export".into()));
    }
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    let mut heads: HashMap<StreamId, u64> = HashMap::new();
    let mut records = Vec::new();
    let mut pos = 0;
    let mut last_seq = 0;
    while pos < bytes.len() {
        let header = bytes
            .get(pos..pos + 12)
            .ok_or_else(|| LogError::Corrupt("truncated export".into()))?;
        let seq = layout::be_u64(header).unwrap_or(0);
        let len = u32::from_be_bytes([header[8], header[9], header[10], header[11]]) as usize;
        let rec = bytes
            .get(pos + 12..pos + 12 + len)
            .ok_or_else(|| LogError::Corrupt("truncated export".into()))?;
        if seq <= last_seq {
            return Err(LogError::Corrupt("export is not in sequence order".into()));
        }
        let f = frame::decode(rec)?;
        let stream = StreamId::parse(f.stream).map_err(|e| LogError::Corrupt(e.to_string()))?;
        let head = heads.entry(stream.clone()).or_insert(0);
        if f.version != *head + 1 {
            return Err(LogError::Corrupt(format!(
                "stream {stream} jumps from {head} to {}",
                f.version
            )));
        }
        *head = f.version;
        records.push((seq, rec.to_vec()));
        last_seq = seq;
        pos += 12 + len;
    }
    let n = records.len() as u64;
    log.import_records(records)?;
    Ok(n)
}
