//! The node gives memory it freed back to the operating system: after a
//! burst of allocations is freed (as when mailboxes passivate), a trim
//! brings the process's resident size down; and it frees what sled retired
//! on threads that have gone idle. Its own test binary, so no other test's
//! allocations move the figures.

#![cfg(target_os = "linux")]

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

/// The node's allocator, as every hcal binary declares it, counting the
/// bytes live.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the node's allocator; the
// counter is only a statistic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { hcal::memory::Allocator.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { hcal::memory::Allocator.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { hcal::memory::Allocator.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { hcal::memory::Allocator.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// One test at a time: each reads the process's memory.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm.split_whitespace().nth(1).unwrap().parse::<usize>().unwrap() * 4096
}

#[test]
fn a_trim_returns_freed_memory_to_the_os() {
    let _alone = ALONE.lock().unwrap_or_else(|p| p.into_inner());
    // On a thread that lives on, as the actors' does: jemalloc purges a
    // thread's pages when the thread exits, and the trim is for the ones
    // that do not.
    let blocks: Vec<Box<[u8; 256]>> = (0..400_000).map(|i| Box::new([i as u8; 256])).collect();
    // One block in 64 outlives the burst, as a little of each passivated
    // mailbox does.
    let kept = blocks.into_iter().step_by(64).collect::<Vec<_>>();
    let before = rss();
    hcal::memory::trim();
    let after = rss();
    assert!(
        before - after > 32 << 20,
        "resident size {before} before the trim, {after} after: under 32 MB given back"
    );
    assert_eq!(kept.len(), 6_250);
}

/// The live heap once trims stop freeing anything: sled's own threads hold
/// the epoch for a moment after writes.
fn settled_after_trims() -> isize {
    let mut last = isize::MAX;
    for _ in 0..100 {
        hcal::memory::trim();
        let now = LIVE.load(Relaxed);
        if (last - now).abs() < 4096 {
            return now;
        }
        last = now;
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    last
}

#[test]
fn a_trim_frees_what_sled_retired_on_a_thread_gone_idle() {
    let _alone = ALONE.lock().unwrap_or_else(|p| p.into_inner());
    const VALUE: usize = 32 * 1024;
    // Fewer than the 64 retirements that fill a thread's bag, so that
    // without the hand-over none would leave it.
    const REWRITES: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new()
        .path(dir.path())
        .flush_every_ms(None)
        .open()
        .unwrap();
    let tree = db.open_tree("t").unwrap();
    for k in 0..8u8 {
        tree.insert([k], vec![k; VALUE]).unwrap();
    }
    let baseline = settled_after_trims();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let (idle_tx, idle_rx) = std::sync::mpsc::channel::<()>();
    let writer = {
        let tree = tree.clone();
        // A thread that writes and then waits, as the log's committer does
        // between rounds: it must not exit, which would free its leftovers.
        std::thread::spawn(move || {
            for i in 0..REWRITES {
                // Each write replaces the leaf's node; the old one, with the
                // value it held, is retired.
                tree.insert([0u8], vec![i as u8; VALUE]).unwrap();
            }
            idle_tx.send(()).unwrap();
            done_rx.recv().unwrap();
        })
    };
    idle_rx.recv().unwrap();
    // The tree holds what it held before, one value changed.
    let kept = settled_after_trims() - baseline;
    done_tx.send(()).unwrap();
    writer.join().unwrap();
    assert!(
        kept < (REWRITES * VALUE / 4) as isize,
        "{kept} bytes still allocated after {REWRITES} rewrites of a {VALUE}-byte value and trims"
    );
}
