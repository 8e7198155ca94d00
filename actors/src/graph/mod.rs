//! The Microsoft Graph v1.0 client every hcal actor uses (app-only,
//! client-credentials).
//!
//! * Tokens per tenant, cached, refreshed at 80% of their lifetime, one
//!   refresh in flight per tenant; a 401 drops the token and retries once.
//! * Every call: `Authorization: Bearer`, a `client-request-id` GUID,
//!   `Prefer: outlook.timezone="UTC"` on reads (plus
//!   `outlook.body-content-type="html"` where bodies are read), a tracing span
//!   with method, route template and a short hash of the mailbox (never ids,
//!   addresses or content), and metrics (`hcal_graph_*`).
//! * Retries: 429/503/504 wait `Retry-After` (up to `max_retry_after`; a
//!   longer one is returned as `Throttled { retry_after }` at once); other
//!   5xx, connection failures and timeouts back off exponentially with full
//!   jitter; at most `max_retries`. Creating an event carries a
//!   `transactionId` and is retried like a read; creating a subscription is
//!   retried only where Graph cannot have acted (429, no connection).
//! * Per mailbox: at most `max_concurrent_per_mailbox` requests in flight
//!   (callers queue), and a rolling budget of `mailbox_budget` requests per
//!   `budget_window`; when it is spent the call fails at once with
//!   `BudgetExhausted { retry_after }` and nothing is sent, so an actor can
//!   schedule the work instead of holding a task for minutes.
//!
//! Mailboxes are keyed by the `user` argument lower-cased: call with one
//! identifier per mailbox (the object id, see [`GraphClient::get_user`]) so
//! that its limits are counted in one place.

mod client;
mod config;
mod delta;
mod error;
mod events;
mod limiter;
mod mailbox;
mod retry;
mod subscriptions;
mod token;
mod url;

pub use client::GraphClient;
pub use config::{ClientSecret, GraphConfig};
pub use delta::{DeltaItem, DeltaRound};
pub use error::{ErrorInfo, GraphError, TransportKind};
pub use token::AccessToken;
