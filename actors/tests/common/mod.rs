//! Helpers shared by the actors crate's integration tests.

/// The log's sled database opened directly. sled's I/O threads let go of a
/// database a moment after its last handle is dropped, so wait for its lock.
pub fn raw_sled(path: &std::path::Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match sled::open(path) {
            Err(e) if hcal_actors::log::is_locked(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            other => return other.expect("the log's database opens once the store let go of it"),
        }
    }
}
