//! The log's vocabulary: every state change hcal records, per aggregate.
//!
//! Each event type has a stable name and a schema version. The payload is the
//! codec encoding of the event's struct; a record header (see the log) carries
//! name and version, so that old payloads decode through an upcaster after the
//! struct changes. Meeting content lives only in [`crate::Sealed`] fields.

pub mod legacy;
pub mod mailbox;
pub mod subscription;
pub mod tenant;

use crate::codec::CodecError;
use crate::stream::StreamKind;
use crate::time::Timestamp;

pub use mailbox::MailboxEvent;
pub use subscription::SubscriptionEvent;
pub use tenant::TenantEvent;

#[derive(Debug, thiserror::Error)]
pub enum EventDecodeError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("event {name:?} has schema version {version}, which this build does not read")]
    UnsupportedVersion { name: String, version: u16 },
    #[error("event payload does not decode: {0}")]
    Codec(#[from] CodecError),
}

/// What the log knows about an event beside its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventMeta {
    /// Position in its stream, from 1.
    pub version: u64,
    /// When it was appended.
    pub at: Timestamp,
}

/// One family of events (all events of one aggregate kind).
pub trait EventFamily: Sized + Clone + std::fmt::Debug + Send + 'static {
    fn type_name(&self) -> &'static str;
    fn schema_version(&self) -> u16;
    fn encode_payload(&self) -> Result<Vec<u8>, CodecError>;
    fn decode(type_name: &str, schema_version: u16, payload: &[u8]) -> Result<Self, EventDecodeError>;
}

/// Declares an event family enum whose variants wrap structs of the same name,
/// with their stored names and current schema versions. Payloads with an
/// older version go to the family's upcaster.
macro_rules! event_family {
    ($(#[$meta:meta])* $family:ident, upcast = $upcast:path, { $($variant:ident = ($name:literal, $ver:literal)),* $(,)? }) => {
        $(#[$meta])*
        /// Serialises as the variant's fields only (the type name travels
        /// beside it); sealed fields show as `<sealed>` in JSON.
        #[derive(Debug, Clone, PartialEq, serde::Serialize)]
        #[serde(untagged)]
        pub enum $family {
            $($variant($variant)),*
        }

        impl $crate::events::EventFamily for $family {
            fn type_name(&self) -> &'static str {
                match self { $(Self::$variant(_) => $name),* }
            }

            fn schema_version(&self) -> u16 {
                match self { $(Self::$variant(_) => $ver),* }
            }

            fn encode_payload(&self) -> Result<Vec<u8>, $crate::codec::CodecError> {
                match self { $(Self::$variant(e) => $crate::codec::encode(e)),* }
            }

            fn decode(
                type_name: &str,
                version: u16,
                payload: &[u8],
            ) -> Result<Self, $crate::events::EventDecodeError> {
                match type_name {
                    $($name if version == $ver => Ok(Self::$variant($crate::codec::decode(payload)?)),)*
                    $($name => $upcast(type_name, version, payload),)*
                    other => Err($crate::events::EventDecodeError::UnknownType(other.to_string())),
                }
            }
        }

        $(impl From<$variant> for $family {
            fn from(e: $variant) -> Self {
                Self::$variant(e)
            }
        })*
    };
}
pub(crate) use event_family;

/// Which family a stream's events belong to.
pub fn family_of(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Tenant => "tenant",
        StreamKind::Subscriptions => "subscription",
        StreamKind::Mailbox => "mailbox",
    }
}

/// Upcaster for families that have had no older versions yet.
pub(crate) fn no_older_versions<E>(name: &str, version: u16, _: &[u8]) -> Result<E, EventDecodeError> {
    Err(EventDecodeError::UnsupportedVersion {
        name: name.to_string(),
        version,
    })
}
