//! Deserializing values that are written as strings (mailbox keys, event
//! ids, interned codes): one visitor for all of them.

use std::fmt;

use serde::Deserializer;
use serde::de::{Error, Visitor};

/// Reads a string and makes the value with `parse`; `expecting` names it in
/// the error when something else is found.
pub(crate) fn from_str<'de, D, T, E>(
    deserializer: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, E>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    E: fmt::Display,
{
    struct Text<T, E> {
        expecting: &'static str,
        parse: fn(&str) -> Result<T, E>,
    }

    impl<T, E: fmt::Display> Visitor<'_> for Text<T, E> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }

        fn visit_str<X: Error>(self, v: &str) -> Result<T, X> {
            (self.parse)(v).map_err(X::custom)
        }
    }

    deserializer.deserialize_str(Text { expecting, parse })
}
