//! Gives memory the node has freed back to the operating system.
//!
//! glibc's allocator keeps freed memory in its arenas (one per thread that
//! allocated, up to eight per core) and returns little of it by itself. A
//! node frees much at once when mailboxes passivate, so without this its
//! resident size stays at its busiest moment's. `malloc_trim(0)` releases
//! the free pages of every arena; it runs now and then, never on a request.

use std::time::{Duration, Instant};

/// Trims every `every`, for as long as the actix system runs.
pub fn spawn_periodic(every: Duration) {
    actix::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // Off the async threads: a trim walks every arena.
            let _ = tokio::task::spawn_blocking(trim).await;
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
