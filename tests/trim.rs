//! The node gives memory it freed back to the operating system: after a
//! burst of allocations is freed (as when mailboxes passivate), a trim
//! brings the process's resident size down. Its own test binary, so no
//! other test's allocations move the figures.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm.split_whitespace().nth(1).unwrap().parse::<usize>().unwrap() * 4096
}

#[test]
fn a_trim_returns_freed_memory_to_the_os() {
    // On another thread, as actors' work is: its own allocator arena.
    let kept = std::thread::spawn(|| {
        let blocks: Vec<Box<[u8; 256]>> = (0..400_000).map(|i| Box::new([i as u8; 256])).collect();
        // One block in 64 outlives the burst, so the freed memory is holes
        // in the arena, not a top the allocator would give back by itself.
        blocks.into_iter().step_by(64).collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    let before = rss();
    hcal::trim::trim();
    let after = rss();
    assert!(
        before - after > 32 << 20,
        "resident size {before} before the trim, {after} after: under 32 MB given back"
    );
    assert_eq!(kept.len(), 6_250);
}
