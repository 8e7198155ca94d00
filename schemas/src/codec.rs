//! The one place that turns values into bytes and back.
//!
//! Every payload hcal stores (event payloads, sealed plaintexts, snapshots) goes
//! through here: a leading format byte, then bincode 2 (serde, standard config).
//! The format byte lets a later change of codec read old logs; swapping bincode
//! means adding a format here and nowhere else.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// bincode 2, serde, `config::standard()` (little endian, varint lengths).
pub const FORMAT_BINCODE2: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("empty payload")]
    Empty,
    #[error("unknown payload format {0}")]
    UnknownFormat(u8),
    #[error("payload does not decode: {0}")]
    Decode(String),
    #[error("value does not encode: {0}")]
    Encode(String),
    #[error("payload has {0} trailing bytes")]
    Trailing(usize),
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes `value` with the current format byte in front.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    encode_into(value, &mut out)?;
    Ok(out)
}

/// Writes the encoding of `value` (format byte included) to `out`: a
/// buffer, or a hasher that needs none.
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut impl std::io::Write) -> Result<(), CodecError> {
    out.write_all(&[FORMAT_BINCODE2])
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    bincode::serde::encode_into_std_write(value, out, config())
        .map(|_| ())
        .map_err(|e| CodecError::Encode(e.to_string()))
}

/// Decodes a value written by [`encode`], in any format this build reads.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&format, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    match format {
        FORMAT_BINCODE2 => {
            let (value, used) =
                bincode::serde::decode_from_slice(body, config()).map_err(|e| CodecError::Decode(e.to_string()))?;
            if used != body.len() {
                return Err(CodecError::Trailing(body.len() - used));
            }
            Ok(value)
        }
        other => Err(CodecError::UnknownFormat(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        a: u64,
        b: String,
        c: Option<Vec<i32>>,
        d: bool,
    }

    proptest! {
        #[test]
        fn round_trips(a: u64, b in ".{0,40}", c: Option<Vec<i32>>, d: bool) {
            let v = Sample { a, b, c, d };
            let bytes = encode(&v).unwrap();
            prop_assert_eq!(bytes[0], FORMAT_BINCODE2);
            prop_assert_eq!(decode::<Sample>(&bytes).unwrap(), v);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode::<Sample>(&bytes);
        }
    }

    #[test]
    fn refuses_unknown_format_and_trailing_bytes() {
        let mut bytes = encode(&7u32).unwrap();
        bytes[0] = 9;
        assert!(matches!(decode::<u32>(&bytes), Err(CodecError::UnknownFormat(9))));
        let mut bytes = encode(&7u32).unwrap();
        bytes.push(0);
        assert!(matches!(decode::<u32>(&bytes), Err(CodecError::Trailing(1))));
        assert!(matches!(decode::<u32>(&[]), Err(CodecError::Empty)));
    }
}
