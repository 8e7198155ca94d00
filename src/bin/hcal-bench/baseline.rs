//! The raw sled baseline the benchmarks compare against: plain inserts of
//! given key/value pairs, flush + fdatasync every `k` of them, in a fresh
//! database on the same disk.

use std::fs::File;
use std::path::Path;
use std::time::Instant;

/// Pairs written per second.
pub fn raw_sled(dir: &Path, pairs: &[(Vec<u8>, Vec<u8>)], k: usize) -> Result<f64, String> {
    let path = dir.join(format!("raw-{k}"));
    let db = sled::Config::new()
        .path(&path)
        .mode(sled::Mode::HighThroughput)
        .flush_every_ms(None)
        .open()
        .map_err(|e| e.to_string())?;
    let tree = db.open_tree("raw").map_err(|e| e.to_string())?;
    let file = File::open(path.join("db")).map_err(|e| e.to_string())?;
    let started = Instant::now();
    for chunk in pairs.chunks(k.max(1)) {
        for (key, value) in chunk {
            tree.insert(key.as_slice(), value.as_slice())
                .map_err(|e| e.to_string())?;
        }
        db.flush().map_err(|e| e.to_string())?;
        file.sync_data().map_err(|e| e.to_string())?;
    }
    let rate = pairs.len() as f64 / started.elapsed().as_secs_f64();
    drop(tree);
    drop(db);
    let _ = std::fs::remove_dir_all(&path);
    Ok(rate)
}

/// A scratch directory on the disk under test (target/ when run from the repo).
pub fn scratch() -> Result<tempfile::TempDir, String> {
    let here = std::env::current_dir().map_err(|e| e.to_string())?.join("target");
    tempfile::tempdir_in(here)
        .or_else(|_| tempfile::tempdir())
        .map_err(|e| e.to_string())
}
