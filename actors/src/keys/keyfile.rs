//! A small append-only file of key records, fsynced on every change and
//! rewritten whole (atomic rename) to forget records.
//!
//! Keys do not live in the sled log: sled is log-structured, so a removed
//! value's bytes linger in old segments until it compacts them, and erasing
//! a mailbox must destroy its key for good. Rewriting this file drops the
//! bytes at once.
//!
//! ```text
//! "HCALKEY1" then, per record: [len: u32 BE][codec bytes][blake3 of them, 8 bytes]
//! ```
//! A torn or corrupt tail (a crash mid-append) is cut off at open: a record
//! is used only after its append returned, so a torn one was never used.
//! Each record's offset is given out, so that a reader may keep offsets in
//! memory and read a record again when it needs it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::marker::PhantomData;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use hcal_schemas::codec;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::KeyError;

const MAGIC: &[u8; 8] = b"HCALKEY1";
const SUM: usize = 8;

pub struct KeyFile<R> {
    path: PathBuf,
    file: File,
    /// A failed append could not be cut back off: no more writes until a
    /// reopen cuts the torn tail.
    torn: bool,
    _r: PhantomData<R>,
}

impl<R: Serialize + DeserializeOwned> KeyFile<R> {
    /// Opens (or creates) the file and returns its records, each with its offset.
    pub fn open(path: &Path) -> Result<(Self, Vec<(u64, R)>), KeyError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let opened = |file| Self {
            path: path.to_path_buf(),
            file,
            torn: false,
            _r: PhantomData,
        };
        if !existed || bytes.is_empty() {
            file.write_all_at(MAGIC, 0)?;
            file.sync_all()?;
            sync_dir(path)?;
            return Ok((opened(file), Vec::new()));
        }
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(KeyError::Corrupt(format!("{} is not an hcal key file", path.display())));
        }
        let (records, end) = parse(&bytes);
        if end < bytes.len() {
            // A torn tail from a crash during an append: cut it off.
            file.set_len(end as u64)?;
            file.sync_all()?;
        }
        Ok((opened(file), records))
    }

    /// Appends one record at the file's end; durable on return. Its offset.
    /// A failed append is cut back off, so that every record is whole and
    /// the next one lands where the file says.
    pub fn append(&mut self, record: &R) -> Result<u64, KeyError> {
        if self.torn {
            return Err(self.corrupt("an earlier failed write could not be undone; restart to recover"));
        }
        let bytes = encode_record(record)?;
        let at = self.file.metadata()?.len();
        let written = self.file.write_all_at(&bytes, at).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            self.torn = self.file.set_len(at).and_then(|()| self.file.sync_data()).is_err();
            return Err(e.into());
        }
        Ok(at)
    }

    /// The record at `offset` (one that `open`, `append` or `rewrite` gave).
    pub fn read_at(&self, offset: u64) -> Result<R, KeyError> {
        let corrupt = || KeyError::Corrupt(format!("no key record at {offset} of {}", self.path.display()));
        let mut len = [0u8; 4];
        self.file.read_exact_at(&mut len, offset)?;
        let len = u32::from_be_bytes(len) as usize;
        let mut bytes = vec![0u8; 4 + len + SUM];
        self.file.read_exact_at(&mut bytes, offset)?;
        read_record(&bytes, 0).map(|(r, _)| r).ok_or_else(corrupt)
    }

    /// Every record, each with its offset, read again from the file: what
    /// `open` would return. A record that does not read is an error here
    /// (appends leave none), not a tail to cut.
    pub fn records(&self) -> Result<Vec<(u64, R)>, KeyError> {
        let len = self.file.metadata()?.len();
        let mut bytes = vec![0u8; usize::try_from(len).map_err(|_| self.corrupt("too long"))?];
        self.file.read_exact_at(&mut bytes, 0)?;
        if bytes.get(..MAGIC.len()) != Some(&MAGIC[..]) {
            return Err(self.corrupt("not an hcal key file"));
        }
        let (records, end) = parse(&bytes);
        if end < bytes.len() {
            return Err(self.corrupt(&format!("a record at {end} does not read")));
        }
        Ok(records)
    }

    fn corrupt(&self, what: &str) -> KeyError {
        KeyError::Corrupt(format!("{}: {what}", self.path.display()))
    }

    /// Replaces the whole file with `records`, atomically and durably. Their offsets.
    /// The new file's handle is the one written, so that after the rename
    /// every later read and append goes to it, whatever fails after.
    pub fn rewrite(&mut self, records: &[R]) -> Result<Vec<u64>, KeyError> {
        let tmp = self.path.with_extension("tmp");
        let mut offsets = Vec::with_capacity(records.len());
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(MAGIC)?;
        let mut len = MAGIC.len() as u64;
        for r in records {
            let bytes = encode_record(r)?;
            f.write_all(&bytes)?;
            offsets.push(len);
            len += bytes.len() as u64;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        self.file = f;
        self.torn = false;
        sync_dir(&self.path)?;
        Ok(offsets)
    }
}

/// The whole records after the magic, each with its offset, and where the
/// last whole one ends.
fn parse<R: DeserializeOwned>(bytes: &[u8]) -> (Vec<(u64, R)>, usize) {
    let mut records = Vec::new();
    let mut pos = MAGIC.len();
    while let Some((rec, next)) = read_record::<R>(bytes, pos) {
        records.push((pos as u64, rec));
        pos = next;
    }
    (records, pos)
}

fn encode_record<R: Serialize>(record: &R) -> Result<Vec<u8>, KeyError> {
    let body = codec::encode(record).map_err(|e| KeyError::Corrupt(e.to_string()))?;
    let len = u32::try_from(body.len()).map_err(|_| KeyError::Corrupt("key record too large".into()))?;
    let mut out = Vec::with_capacity(4 + body.len() + SUM);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&blake3::hash(&body).as_bytes()[..SUM]);
    Ok(out)
}

fn read_record<R: DeserializeOwned>(bytes: &[u8], pos: usize) -> Option<(R, usize)> {
    let len = u32::from_be_bytes(bytes.get(pos..pos + 4)?.try_into().ok()?) as usize;
    let body = bytes.get(pos + 4..pos + 4 + len)?;
    let sum = bytes.get(pos + 4 + len..pos + 4 + len + SUM)?;
    if &blake3::hash(body).as_bytes()[..SUM] != sum {
        return None;
    }
    let rec = codec::decode(body).ok()?;
    Some((rec, pos + 4 + len + SUM))
}

fn sync_dir(path: &Path) -> Result<(), KeyError> {
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_torn_tail_and_rewrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.bin");
        let (mut f, recs) = KeyFile::<String>::open(&path).unwrap();
        assert!(recs.is_empty());
        f.append(&"one".to_string()).unwrap();
        f.append(&"two".to_string()).unwrap();
        drop(f);
        // A crash in the middle of a third append.
        let mut raw = OpenOptions::new().append(true).open(&path).unwrap();
        raw.write_all(&[0, 0, 0, 9, 1, 2]).unwrap();
        drop(raw);
        let (mut f, recs) = KeyFile::<String>::open(&path).unwrap();
        let texts = |recs: &[(u64, String)]| recs.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>();
        assert_eq!(texts(&recs), vec!["one".to_string(), "two".to_string()]);
        for (at, r) in &recs {
            assert_eq!(&f.read_at(*at).unwrap(), r);
        }
        let three = f.append(&"three".to_string()).unwrap();
        assert_eq!(f.read_at(three).unwrap(), "three");
        let moved = f.rewrite(&["two".to_string(), "three".to_string()]).unwrap();
        assert_eq!(f.read_at(moved[1]).unwrap(), "three");
        let four = f.append(&"four".to_string()).unwrap();
        assert_eq!(f.read_at(four).unwrap(), "four");
        assert!(f.read_at(four + 1).is_err());
        drop(f);
        let (_, recs) = KeyFile::<String>::open(&path).unwrap();
        assert_eq!(
            texts(&recs),
            vec!["two".to_string(), "three".to_string(), "four".to_string()]
        );
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.windows(3).any(|w| w == b"one"));
    }

    /// What an erase rewrites from: the records `open` would give, read
    /// from the file itself; bytes that do not read are refused, not cut.
    #[test]
    fn records_read_again_are_what_open_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.bin");
        let (mut f, _) = KeyFile::<String>::open(&path).unwrap();
        f.append(&"one".to_string()).unwrap();
        f.rewrite(&["two".to_string()]).unwrap();
        f.append(&"three".to_string()).unwrap();
        let again = f.records().unwrap();
        let (_, opened) = KeyFile::<String>::open(&path).unwrap();
        assert_eq!(again, opened);
        assert_eq!(again.len(), 2);
        let mut raw = OpenOptions::new().append(true).open(&path).unwrap();
        raw.write_all(&[0, 0, 0, 9, 1, 2]).unwrap();
        drop(raw);
        assert!(matches!(f.records(), Err(KeyError::Corrupt(_))));
    }
}
