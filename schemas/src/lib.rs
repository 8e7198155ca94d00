//! What hcal's data looks like: the log's events and their versions, the
//! aggregates with their pure fold, sealed values, and the codec. No I/O.

pub mod aggregate;
pub mod change_key;
pub mod codec;
pub mod event_id;
pub mod events;
pub mod graph;
pub mod graph_id;
pub mod intern;
mod packed;
pub mod sealed;
pub mod stream;
mod text;
pub mod time;

pub use aggregate::{Aggregate, AnyState};
pub use change_key::ChangeKey;
pub use event_id::EventId;
pub use events::{EventFamily, EventMeta, MailboxEvent, SubscriptionEvent, TenantEvent};
pub use graph_id::GraphId;
pub use intern::Code;
pub use packed::PackedText;
pub use sealed::{KeyLookup, KeyRef, Opened, Reveal, SealError, Sealed, Sealer, SecretKey, Shown, Vault};
pub use stream::{MailboxKey, OrgId, StreamId, StreamKind};
pub use time::Timestamp;
