//! The node's memory allocator, and giving back to the operating system what
//! the node freed.
//!
//! The node allocates with jemalloc, not glibc's malloc. glibc mixes blocks
//! of every size in one heap per arena, so the few small blocks that
//! outlive a mailbox's activation (sled's page metadata, a Graph budget
//! entry) pinned the pages around them: at 10,000 mailboxes each passivated
//! one cost 2.1-2.6 KB of resident memory at the margin against 0.1-0.3 KB
//! of live heap. jemalloc keeps each size class on pages of its own:
//! 0.44-0.59 KB at the margin in three runs, with 10-16% less CPU per
//! change at 1,000 changes/s, and 1,758-2,531 changes/s unpaced against
//! 1,413 and 1,538 (`docs/bench-history.md`, tenth session).
//! Every binary declares it: `#[global_allocator] static A: Allocator =
//! Allocator;`.
//!
//! jemalloc returns freed pages by itself only as its arenas see new work
//! (a 10 s decay). A node frees much at once when mailboxes passivate, so
//! after enough have, it purges every arena ([`trim`]: 0.8-5.9 ms with
//! 10,000 mailboxes passivated). Before that it frees what sled has retired
//! (old versions of the pages it wrote or evicted, which it may free only
//! once no thread can still see them): crossbeam-epoch frees them as the
//! threads that use sled pin it, and on a node gone idle none do.

use std::time::{Duration, Instant};

use actix::Addr;
use hcal_actors::mailbox::MailboxRouter;
use hcal_actors::mailbox::router::Status;

pub use tikv_jemallocator::Jemalloc as Allocator;

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

/// Epoch collections a trim runs: each advances the epoch if no thread is
/// inside sled and frees up to 8 of the batches of retired pages waiting.
const EPOCH_COLLECTIONS: usize = 64;

/// Frees what sled has retired, then returns the free pages of every
/// jemalloc arena to the operating system.
pub fn trim() {
    let started = Instant::now();
    for _ in 0..EPOCH_COLLECTIONS {
        crossbeam_epoch::pin().flush();
    }
    // "arena.<MALLCTL_ARENAS_ALL>.purge": every arena, no value in or out.
    let name = b"arena.4096.purge\0";
    // SAFETY: a NUL-terminated mallctl name that takes and returns nothing;
    // jemalloc takes only its own locks.
    let failed = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    if failed != 0 {
        tracing::warn!(error = failed, "jemalloc refused to purge its arenas");
    }
    metrics::counter!("hcal_memory_trims_total").increment(1);
    metrics::histogram!("hcal_memory_trim_seconds").record(started.elapsed().as_secs_f64());
}
