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

/// The traits of a value that stands for its text (`new(&str)` makes it,
/// `text()` gives the text back): it prints, writes (JSON and codec) and
/// reads as that string, and compares equal to it.
macro_rules! as_text {
    ($t:ty, $expecting:literal) => {
        impl From<&str> for $t {
            fn from(s: &str) -> Self {
                <$t>::new(s)
            }
        }

        impl From<String> for $t {
            fn from(s: String) -> Self {
                <$t>::new(&s)
            }
        }

        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                *self.text() == *other
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.text())
            }
        }

        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{:?}", &*self.text())
            }
        }

        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.text())
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::text::from_str(deserializer, $expecting, |s| {
                    Ok::<_, std::convert::Infallible>(<$t>::new(s))
                })
            }
        }
    };
}
pub(crate) use as_text;
