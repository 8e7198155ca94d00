//! Live heap bytes of this process, counted by the global allocator while
//! counting is on: what `pipeline` reads before and after mailboxes
//! activate and passivate. The figure is the bytes asked for (`Layout`
//! sizes), not the allocator's own overhead per block (jemalloc rounds each
//! up to its size class), which is why the number of live blocks is kept too.
//!
//! Counting is off unless a benchmark turns it on, so the other benchmarks
//! pay one relaxed load per allocation. A delta between two readings is
//! exact as long as counting stayed on between them: a block freed in the
//! interval counts against it whenever it was allocated.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};

use hcal::memory::Allocator;

pub struct Counting;

static ON: AtomicBool = AtomicBool::new(false);
static BYTES: AtomicIsize = AtomicIsize::new(0);
static BLOCKS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the node's allocator; the
// counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { Allocator.alloc(layout) };
        if !p.is_null() && ON.load(Relaxed) {
            BYTES.fetch_add(layout.size() as isize, Relaxed);
            BLOCKS.fetch_add(1, Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { Allocator.alloc_zeroed(layout) };
        if !p.is_null() && ON.load(Relaxed) {
            BYTES.fetch_add(layout.size() as isize, Relaxed);
            BLOCKS.fetch_add(1, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { Allocator.dealloc(ptr, layout) };
        if ON.load(Relaxed) {
            BYTES.fetch_sub(layout.size() as isize, Relaxed);
            BLOCKS.fetch_sub(1, Relaxed);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { Allocator.realloc(ptr, layout, new_size) };
        if !p.is_null() && ON.load(Relaxed) {
            BYTES.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        }
        p
    }
}

/// Start or stop counting.
pub fn counting(on: bool) {
    ON.store(on, Relaxed);
}

/// (live bytes, live blocks) counted so far; only differences mean anything.
pub fn live() -> (i64, i64) {
    (BYTES.load(Relaxed) as i64, BLOCKS.load(Relaxed) as i64)
}

/// Resident memory of this process, from /proc (Linux), bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Resident {
    /// Every resident page, the program's own code included.
    pub total: i64,
    /// Anonymous pages only: heap, stacks, the allocator's metadata; not the
    /// program's code and read-only data, which page in as code paths first
    /// run and do not grow with mailboxes.
    pub anon: i64,
}

pub fn resident() -> Option<Resident> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = |field: &str| -> Option<i64> {
        let line = status.lines().find(|l| l.starts_with(field))?;
        line[field.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<i64>()
            .ok()
            .map(|k| k * 1024)
    };
    Some(Resident {
        total: kib("VmRSS:")?,
        anon: kib("RssAnon:")?,
    })
}
