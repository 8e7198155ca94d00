//! Making a sled flush survive power loss.
//!
//! sled 0.34's flush ends in `sync_file_range`, which neither flushes the
//! drive's cache nor the file's metadata; `fdatasync` of the database file
//! does both. Values too large for a segment go to files under `blobs/`,
//! which sled writes without any sync, so new blob files are synced too (the
//! directory's mtime says when there are new ones).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub struct Durability {
    db_file: File,
    dir: PathBuf,
    blobs: PathBuf,
    blobs_mtime: Option<SystemTime>,
}

impl Durability {
    pub fn new(db_dir: &Path) -> std::io::Result<Self> {
        let db_file = File::open(db_dir.join("db"))?;
        // The directory entry of a new database must be durable too.
        File::open(db_dir)?.sync_all()?;
        if let Some(parent) = db_dir.parent() {
            File::open(parent)?.sync_all()?;
        }
        let blobs = db_dir.join("blobs");
        let blobs_mtime = mtime(&blobs);
        Ok(Self {
            db_file,
            dir: db_dir.to_path_buf(),
            blobs,
            blobs_mtime,
        })
    }

    /// Call after `Db::flush`: what sled wrote is then on stable storage.
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.db_file.sync_data()?;
        let now = mtime(&self.blobs);
        if now != self.blobs_mtime {
            for entry in std::fs::read_dir(&self.blobs)? {
                match File::open(entry?.path()) {
                    Ok(f) => f.sync_all()?,
                    // sled removed a blob it no longer needs: nothing to sync.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            File::open(&self.blobs)?.sync_all()?;
            File::open(&self.dir)?.sync_all()?;
            self.blobs_mtime = now;
        }
        Ok(())
    }
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}
