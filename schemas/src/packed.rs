//! Text that is base64, held as the bytes it encodes when it round-trips
//! (padded, canonical, standard or URL-safe alphabet, at most `N` bytes),
//! and as the text otherwise. Graph's change keys and the item part of its
//! event ids are such text; a mailbox holds one of each per meeting.
//!
//! A `Packed<N>` is its text: equal values have equal text and the other
//! way round, because the same text is always held the same way.

use std::cmp::Ordering;
use std::ops::Deref;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

/// The most bytes any `Packed` holds (its text fits [`MAX_TEXT`]).
const MAX_BYTES: usize = 36;
const MAX_TEXT: usize = MAX_BYTES.div_ceil(3) * 4;
/// In `Repr::Bytes`'s `len`: the URL-safe alphabet.
const URL: u8 = 0x80;

#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct Packed<const N: usize>(Repr<N>);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr<const N: usize> {
    /// `len`'s low bits count the bytes; its high bit says the alphabet.
    Bytes {
        len: u8,
        bytes: [u8; N],
    },
    Text(Box<str>),
}

/// A packed value's text: borrowed, or written out on the stack.
pub struct PackedText<'a>(TextRepr<'a>);

enum TextRepr<'a> {
    Encoded { len: u8, text: [u8; MAX_TEXT] },
    Text(&'a str),
}

impl Deref for PackedText<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match &self.0 {
            TextRepr::Encoded { len, text } => {
                std::str::from_utf8(&text[..usize::from(*len)]).expect("base64 writes ASCII only")
            }
            TextRepr::Text(s) => s,
        }
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `s` as the bytes it encodes in `engine`. Both engines take only
/// canonical padding and no stray trailing bits, so writing the bytes out
/// again gives `s`.
fn decode<const N: usize>(s: &str, engine: &impl Engine) -> Option<(usize, [u8; N])> {
    if s.len() > N.div_ceil(3) * 4 {
        return None;
    }
    let mut bytes = [0u8; N];
    let len = engine.decode_slice(s, &mut bytes).ok()?;
    Some((len, bytes))
}

/// The character base64 writes for the `k`-th six bits of `bytes`.
fn sextet_char(bytes: &[u8], k: usize, alphabet: &[u8; 64]) -> u8 {
    let bit = k * 6;
    let hi = u16::from(bytes.get(bit / 8).copied().unwrap_or(0));
    let lo = u16::from(bytes.get(bit / 8 + 1).copied().unwrap_or(0));
    let window = (hi << 8 | lo) >> (10 - bit % 8);
    alphabet[usize::from(window & 0x3f)]
}

impl<const N: usize> Packed<N> {
    pub(crate) fn new(s: &str) -> Self {
        const { assert!(N <= MAX_BYTES) };
        let bytes = |(len, bytes): (usize, [u8; N]), flag: u8| {
            u8::try_from(len).ok().map(|len| Repr::Bytes { len: len | flag, bytes })
        };
        let repr = decode(s, &STANDARD)
            .and_then(|d| bytes(d, 0))
            .or_else(|| decode(s, &URL_SAFE).and_then(|d| bytes(d, URL)));
        Packed(repr.unwrap_or_else(|| Repr::Text(s.into())))
    }

    /// The text, without allocating.
    pub(crate) fn text(&self) -> PackedText<'_> {
        match &self.0 {
            Repr::Text(s) => PackedText(TextRepr::Text(s)),
            Repr::Bytes { len, bytes } => {
                let n = usize::from(len & !URL).min(N);
                let mut text = [0u8; MAX_TEXT];
                let written = if len & URL == 0 {
                    STANDARD.encode_slice(&bytes[..n], &mut text)
                } else {
                    URL_SAFE.encode_slice(&bytes[..n], &mut text)
                }
                .expect("MAX_BYTES bytes encode into MAX_TEXT");
                PackedText(TextRepr::Encoded {
                    len: u8::try_from(written).expect("MAX_TEXT fits a u8"),
                    text,
                })
            }
        }
    }

    /// The text's length, without writing it out.
    pub(crate) fn len(&self) -> usize {
        match &self.0 {
            Repr::Text(s) => s.len(),
            // Padded base64.
            Repr::Bytes { len, .. } => usize::from(len & !URL).div_ceil(3) * 4,
        }
    }

    /// Whether the text is held as bytes.
    #[cfg(test)]
    pub(crate) fn is_bytes(&self) -> bool {
        matches!(self.0, Repr::Bytes { .. })
    }
}

/// As the texts compare. Values held as bytes of one length and alphabet
/// compare at the first character that differs, without writing out the
/// rest: their texts agree up to the six bits where the bytes first differ.
impl<const N: usize> Ord for Packed<N> {
    fn cmp(&self, other: &Self) -> Ordering {
        if let (Repr::Bytes { len: a, bytes: x }, Repr::Bytes { len: b, bytes: y }) = (&self.0, &other.0)
            && a == b
        {
            let n = usize::from(a & !URL).min(N);
            let Some(bit) = first_different_bit(&x[..n], &y[..n]) else {
                return Ordering::Equal;
            };
            let k = bit / 6;
            let alphabet = if a & URL == 0 { ALPHABET } else { URL_ALPHABET };
            return sextet_char(&x[..n], k, alphabet).cmp(&sextet_char(&y[..n], k, alphabet));
        }
        (*self.text()).cmp(&*other.text())
    }
}

/// The first bit (from the top of the first byte) at which two byte strings
/// of one length differ. Eight bytes at a time: the tails of one mailbox's
/// event ids share most of their bytes, and a meeting's lookup compares
/// a dozen of them.
fn first_different_bit(x: &[u8], y: &[u8]) -> Option<usize> {
    let ((xw, xr), (yw, yr)) = (x.as_chunks::<8>(), y.as_chunks::<8>());
    let words = xw.iter().zip(yw).enumerate();
    let bytes = xr.iter().zip(yr).enumerate();
    words
        .map(|(i, (a, b))| (i * 64, u64::from_be_bytes(*a) ^ u64::from_be_bytes(*b)))
        .chain(bytes.map(|(i, (a, b))| (xw.len() * 64 + i * 8, u64::from(a ^ b) << 56)))
        .find(|&(_, d)| d != 0)
        .map(|(at, d)| at + d.leading_zeros() as usize)
}

impl<const N: usize> PartialOrd for Packed<N> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any text comes back as it went in, and two values are equal
        /// exactly when their texts are; base64 of up to N bytes, in
        /// either alphabet, is held as bytes.
        #[test]
        fn packed_text_is_its_text(
            a in "([A-Za-z0-9+/_-]{4}){0,12}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9_=-]{0,50}|.{0,12}",
            b in "([A-Za-z0-9+/_-]{4}){0,12}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9_=-]{0,50}|.{0,12}",
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..=40),
            url in proptest::bool::ANY,
            flips in proptest::collection::vec((0usize..40, 0u8..8), 0..3),
        ) {
            // Two encodings of one length that differ in a few bits compare as their texts.
            let mut other = bytes.clone();
            for (i, bit) in flips {
                if let Some(b) = other.get_mut(i) {
                    *b ^= 1 << bit;
                }
            }
            let engine = if url { URL_SAFE } else { STANDARD };
            let (x, y) = (engine.encode(&bytes), engine.encode(&other));
            proptest::prop_assert_eq!(Packed::<36>::new(&x).cmp(&Packed::<36>::new(&y)), x.cmp(&y));
            let encoded = x;
            for s in [&a, &b, &encoded] {
                let (short, long) = (Packed::<22>::new(s), Packed::<36>::new(s));
                proptest::prop_assert_eq!(&*short.text(), s.as_str());
                proptest::prop_assert_eq!(&*long.text(), s.as_str());
                proptest::prop_assert_eq!((short.len(), long.len()), (s.len(), s.len()));
            }
            proptest::prop_assert_eq!(Packed::<36>::new(&a) == Packed::<36>::new(&b), a == b);
            proptest::prop_assert_eq!(Packed::<36>::new(&a).cmp(&Packed::<36>::new(&b)), a.cmp(&b));
            proptest::prop_assert_eq!(Packed::<22>::new(&encoded).is_bytes(), bytes.len() <= 22);
            proptest::prop_assert_eq!(Packed::<36>::new(&encoded).is_bytes(), bytes.len() <= 36);
        }
    }
}
