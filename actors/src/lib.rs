//! Who does hcal's work: the event log on sled, keys and sealing, replay,
//! and (in later layers) the actors.

pub mod clock;
pub mod graph;
pub mod inbox;
pub mod join;
pub mod journal;
pub mod keys;
pub mod log;
pub mod mailbox;
pub mod replay;
pub mod sample;
pub mod serial;
mod sparse;
pub mod store;
pub mod subscriptions;
pub mod tables;
pub mod tenant;

pub use store::{Store, StoreError};
