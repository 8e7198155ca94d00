//! Graph change-notification subscriptions: the directory the webhook checks
//! notifications against, and (per organisation) the manager of their lifecycle.

pub mod directory;
pub mod manager;

pub use directory::{Route, SubscriptionDirectory, Verdict};
pub use manager::{SubscriptionError, SubscriptionInfo, SubscriptionManager, SubscriptionSettings};
