//! The log's page cache holds about what `LogOptions::cache_capacity` says,
//! however much of the log is read: a node that activates every mailbox once
//! must not keep every page it read. sled 0.34 as published kept up to 16,384
//! recently read pages whatever the capacity; the vendored sled
//! (`vendor/README.md`) evicts as it goes. The heap is counted by this test
//! binary's allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

use hcal_actors::log::{EventLog, ExpectedVersion, LogOptions, NewEvent};
use hcal_schemas::{MailboxKey, OrgId, StreamId};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is only a statistic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CACHE: u64 = 1024 * 1024;
const STREAMS: u32 = 3_000;
const PAYLOAD: usize = 4_000;

fn stream(n: u32) -> StreamId {
    StreamId::mailbox(
        &OrgId::new("acme").unwrap(),
        &MailboxKey::parse(&format!("{n:032x}")).unwrap(),
    )
}

fn options() -> LogOptions {
    LogOptions {
        cache_capacity: CACHE,
        ..LogOptions::default()
    }
}

/// The live heap once it has stopped moving: sled's I/O threads let go of the
/// database written above a moment after its last handle went, and what they
/// free after the first reading would hide what the reads keep.
fn settled() -> isize {
    let mut last = LIVE.load(Relaxed);
    for _ in 0..40 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let now = LIVE.load(Relaxed);
        if (now - last).abs() < 16 * 1024 {
            return now;
        }
        last = now;
    }
    last
}

#[test]
fn reading_a_log_many_times_the_cache_keeps_the_heap_near_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = EventLog::open(dir.path(), &options()).unwrap();
        for n in 0..STREAMS {
            // Distinct bytes, so that no layer could share them.
            let payload: Vec<u8> = (0..PAYLOAD)
                .map(|i| (i as u32 ^ n.wrapping_mul(2_654_435_761)) as u8)
                .collect();
            let event = NewEvent {
                type_name: "test",
                schema_version: 1,
                payload,
            };
            log.append_blocking(&stream(n), ExpectedVersion::Exact(0), vec![event])
                .unwrap();
        }
    }

    // Reopened, so that the cache starts empty; then every stream read once, as a node
    // activating every mailbox would.
    let log = EventLog::open_existing(dir.path(), &options()).unwrap();
    let before = settled();
    let mut read = 0usize;
    for n in 0..STREAMS {
        for rec in log.read_stream(&stream(n), 1) {
            read += rec.unwrap().bytes().len();
        }
    }
    let grown = LIVE.load(Relaxed) - before;
    assert!(read >= STREAMS as usize * PAYLOAD, "read {read} bytes");
    assert!(
        grown < 4 * CACHE as isize,
        "reading {read} bytes of log kept {grown} bytes of heap with a {CACHE}-byte cache"
    );
}
