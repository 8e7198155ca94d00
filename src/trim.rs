//! Gives memory the node has freed back to the operating system.
//!
//! glibc's allocator keeps freed memory in its arenas (one per thread that
//! allocated, up to eight per core) and returns little of it by itself. A
//! node frees much at once when mailboxes passivate, so without this its
//! resident size stays at its busiest moment's. `malloc_trim(0)` releases
//! the free pages of every arena. It holds each arena's lock while it walks
//! it (3.3 ms with 10,000 mailboxes passivated), so it runs only after
//! mailboxes passivated in number, not on a timer under load.

use std::time::{Duration, Instant};

use actix::Addr;
use hcal_actors::mailbox::MailboxRouter;
use hcal_actors::mailbox::router::Status;

/// Live actors fewer than at their peak since the last trim, for a trim.
const PASSIVATED_FOR_A_TRIM: usize = 256;

/// Looks every `every` at how many mailbox actors live, and trims once
/// enough have passivated since the last trim, for as long as the actix
/// system runs.
pub fn spawn_after_passivations(router: Addr<MailboxRouter>, every: Duration) {
    actix::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut peak = 0usize;
        loop {
            tick.tick().await;
            let Ok(status) = router.send(Status).await else {
                return;
            };
            peak = peak.max(status.active);
            if peak - status.active >= PASSIVATED_FOR_A_TRIM {
                // Off the async threads: a trim walks every arena.
                let _ = tokio::task::spawn_blocking(trim).await;
                peak = status.active;
            }
        }
    });
}

/// Returns freed memory to the operating system (glibc only; elsewhere nothing).
pub fn trim() {
    let started = Instant::now();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only takes the allocator's own locks and touches its own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
    metrics::counter!("hcal_memory_trims_total").increment(1);
    metrics::histogram!("hcal_memory_trim_seconds").record(started.elapsed().as_secs_f64());
}
