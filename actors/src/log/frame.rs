//! How one event is framed in the log: a small fixed header in front of the
//! codec-encoded payload.
//!
//! ```text
//! [format: u8 = 1][version: u64 BE][at: i64 BE ms][schema: u16 BE]
//! [type len: u8][type name][stream len: u8][stream id][payload ...]
//! ```
//! The payload (the event struct, via `hcal_schemas::codec`) is copied as is,
//! so the committer never re-encodes what appenders prepared.

use hcal_schemas::{StreamId, Timestamp};

use super::LogError;

const FRAME_V1: u8 = 1;
const FIXED: usize = 1 + 8 + 8 + 2;

/// A decoded frame, borrowing from the stored bytes.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub version: u64,
    pub at: Timestamp,
    pub schema_version: u16,
    pub type_name: &'a str,
    pub stream: &'a str,
    pub payload: &'a [u8],
}

pub fn encoded_len(stream: &StreamId, type_name: &str, payload: &[u8]) -> usize {
    FIXED + 2 + type_name.len() + stream.text().len() + payload.len()
}

pub fn encode_into(
    out: &mut Vec<u8>,
    stream: &StreamId,
    version: u64,
    at: Timestamp,
    type_name: &str,
    schema_version: u16,
    payload: &[u8],
) {
    out.push(FRAME_V1);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&at.0.to_be_bytes());
    out.extend_from_slice(&schema_version.to_be_bytes());
    // Names are bounded when events are built (see `NewEvent`), stream ids by their grammar.
    out.push(type_name.len() as u8);
    out.extend_from_slice(type_name.as_bytes());
    out.push(stream.text().len() as u8);
    out.extend_from_slice(stream.text().as_bytes());
    out.extend_from_slice(payload);
}

pub fn decode(bytes: &[u8]) -> Result<Frame<'_>, LogError> {
    let corrupt = |why: &str| LogError::Corrupt(why.to_string());
    if bytes.len() < FIXED + 2 {
        return Err(corrupt("record shorter than its header"));
    }
    if bytes[0] != FRAME_V1 {
        return Err(corrupt(&format!("unknown record format {}", bytes[0])));
    }
    let be8 = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[i..i + 8]);
        b
    };
    let version = u64::from_be_bytes(be8(1));
    let at = Timestamp(i64::from_be_bytes(be8(9)));
    let schema_version = u16::from_be_bytes([bytes[17], bytes[18]]);
    let mut pos = FIXED;
    let mut take_str = |what: &str| -> Result<&str, LogError> {
        let len = *bytes.get(pos).ok_or_else(|| corrupt(what))? as usize;
        let s = bytes.get(pos + 1..pos + 1 + len).ok_or_else(|| corrupt(what))?;
        pos += 1 + len;
        std::str::from_utf8(s).map_err(|_| corrupt(what))
    };
    let type_name = take_str("bad event type name")?;
    let stream = take_str("bad stream id")?;
    Ok(Frame {
        version,
        at,
        schema_version,
        type_name,
        stream,
        payload: &bytes[pos..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(version: u64, at: i64, schema: u16, name in "[a-z._]{1,60}", payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let stream = StreamId::parse("org:acme").unwrap();
            let mut out = Vec::new();
            encode_into(&mut out, &stream, version, Timestamp(at), &name, schema, &payload);
            prop_assert_eq!(out.len(), encoded_len(&stream, &name, &payload));
            let f = decode(&out).unwrap();
            prop_assert_eq!(f.version, version);
            prop_assert_eq!(f.at, Timestamp(at));
            prop_assert_eq!(f.schema_version, schema);
            prop_assert_eq!(f.type_name, name.as_str());
            prop_assert_eq!(f.stream, "org:acme");
            prop_assert_eq!(f.payload, &payload[..]);
        }

        #[test]
        fn garbage_is_an_error_not_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }
    }
}
