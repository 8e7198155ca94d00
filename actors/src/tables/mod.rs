//! The node's tables (see `log::tables`): what events say about each
//! mailbox that other parts of the node look up by key, kept on disk by
//! the log instead of in memory.
//!
//! - `users`: each mailbox's user entry in its tenant (enabled, status, the
//!   tenant-stream version of its sealed address);
//! - `subscriptions`: each Graph subscription, by id, by mailbox, by expiry,
//!   and the mailboxes with a gap in their notifications.

pub mod subscriptions;
pub mod users;

use hcal_schemas::{StreamId, StreamKind};

use crate::log::tables::{Projection, Rows};
use crate::log::{Frame, LogError};

/// The projection every log of the node keeps.
pub static TABLES: Tables = Tables;

pub struct Tables;

/// Table ids: the byte after `layout::TABLE`.
const USERS: u8 = b'u';

impl Projection for Tables {
    fn writes(&self, stream: &StreamId) -> bool {
        matches!(stream.kind(), StreamKind::Tenant | StreamKind::Subscriptions)
    }

    fn project(&self, frame: &Frame<'_>, rows: &mut Rows<'_>) -> Result<(), LogError> {
        if frame.stream.starts_with("org:") {
            users::project(frame, rows)?;
        } else if frame.stream.starts_with("subs:") {
            subscriptions::project(frame, rows)?;
        }
        Ok(())
    }

    /// 1: users. 2: subscriptions. 3: rows without the version that wrote them.
    fn format(&self) -> u32 {
        3
    }
}
