//! Debug helpers for wire types that carry content (subjects, bodies,
//! addresses, join URLs, secrets): hcal never logs content, so such fields
//! print whether they are present, never what they hold.

use std::fmt;

/// Debug of an optional content field: `None` or `Some(<redacted>)`.
pub(crate) struct Hidden<'a, T>(pub &'a Option<T>);

impl<T> fmt::Debug for Hidden<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(_) => f.write_str("Some(<redacted>)"),
            None => f.write_str("None"),
        }
    }
}

/// Debug of an optional list of content items: its length only.
pub(crate) struct Count<'a, T>(pub &'a Option<Vec<T>>);

impl<T> fmt::Debug for Count<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => write!(f, "Some([{} redacted])", v.len()),
            None => f.write_str("None"),
        }
    }
}

/// Debug of a required content field.
pub(crate) struct Always;

impl fmt::Debug for Always {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}
