//! The node's sense of now. Real time, plus an offset that can be moved
//! forward when the operator enables it (tests and the demo drive it
//! together with the Graph emulator's clock, so that subscription expiry and
//! renewal can be exercised in seconds). Work that is due is always computed
//! from state and this clock on a periodic tick, never from a sleeping timer,
//! so moving the clock (or a restart) never loses a deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use hcal_schemas::Timestamp;

#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
    adjustable: bool,
}

impl Clock {
    /// Real time, not adjustable.
    pub fn system() -> Self {
        Self::default()
    }

    /// Real time that `advance` can move forward.
    pub fn adjustable() -> Self {
        Self {
            offset_ms: Arc::default(),
            adjustable: true,
        }
    }

    pub fn now(&self) -> Timestamp {
        Timestamp::now().plus_millis(self.offset_ms.load(Ordering::Relaxed))
    }

    pub fn is_adjustable(&self) -> bool {
        self.adjustable
    }

    /// Moves the clock forward; refused (false) unless adjustable.
    pub fn advance(&self, millis: i64) -> bool {
        if !self.adjustable || millis < 0 {
            return false;
        }
        self.offset_ms.fetch_add(millis, Ordering::Relaxed);
        true
    }
}
