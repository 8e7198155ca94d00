//! The node gives memory it freed back to the operating system: after a
//! burst of allocations is freed (as when mailboxes passivate), a trim
//! brings the process's resident size down. Its own test binary, so no
//! other test's allocations move the figures.

#![cfg(target_os = "linux")]

/// The node's allocator, as every hcal binary declares it.
#[global_allocator]
static ALLOCATOR: hcal::memory::Allocator = hcal::memory::Allocator;

fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm.split_whitespace().nth(1).unwrap().parse::<usize>().unwrap() * 4096
}

#[test]
fn a_trim_returns_freed_memory_to_the_os() {
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
