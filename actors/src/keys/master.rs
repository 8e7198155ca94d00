//! Where the master key comes from: a file (`HCAL_MASTER_KEY_FILE`) or the
//! environment (`HCAL_MASTER_KEY`), 32 random bytes in base64. Never from
//! the config file or a command-line flag, so it stays out of shell history
//! and process listings.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hcal_schemas::SecretKey;
use zeroize::Zeroizing;

use super::KeyError;

#[derive(Clone, Debug)]
pub enum MasterKeySource {
    File(PathBuf),
    /// The base64 text itself (from `HCAL_MASTER_KEY`).
    Value(Zeroizing<String>),
}

impl MasterKeySource {
    /// `HCAL_MASTER_KEY_FILE`, else `HCAL_MASTER_KEY`, else none.
    pub fn from_env() -> Option<Self> {
        if let Some(p) = std::env::var_os("HCAL_MASTER_KEY_FILE") {
            return Some(MasterKeySource::File(PathBuf::from(p)));
        }
        std::env::var("HCAL_MASTER_KEY")
            .ok()
            .map(|v| MasterKeySource::Value(Zeroizing::new(v)))
    }
}

pub fn load_master_key(source: Option<&MasterKeySource>) -> Result<SecretKey, KeyError> {
    let text = match source {
        None => return Err(KeyError::NoMasterKey),
        Some(MasterKeySource::Value(v)) => v.clone(),
        Some(MasterKeySource::File(p)) => Zeroizing::new(
            std::fs::read_to_string(p)
                .map_err(|e| KeyError::BadMasterKey(format!("cannot read {}: {e}", p.display())))?,
        ),
    };
    let bytes = Zeroizing::new(
        STANDARD
            .decode(text.trim())
            .map_err(|_| KeyError::BadMasterKey("it is not base64".into()))?,
    );
    let arr: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| KeyError::BadMasterKey(format!("it holds {} bytes, not 32", bytes.len())))?;
    Ok(SecretKey::from_bytes(arr))
}

/// Writes a new random master key to `path` (mode 0600), for `hcal demo`.
pub fn create_master_key_file(path: &Path) -> Result<(), KeyError> {
    use std::io::Write;
    let key = SecretKey::generate();
    let text = Zeroizing::new(STANDARD.encode(key.expose()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_file_and_value_and_explains_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        create_master_key_file(&path).unwrap();
        let a = load_master_key(Some(&MasterKeySource::File(path.clone()))).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let b = load_master_key(Some(&MasterKeySource::Value(Zeroizing::new(text)))).unwrap();
        assert_eq!(a, b);
        assert!(matches!(load_master_key(None), Err(KeyError::NoMasterKey)));
        let short = MasterKeySource::Value(Zeroizing::new(STANDARD.encode([1u8; 16])));
        let err = load_master_key(Some(&short)).unwrap_err().to_string();
        assert!(err.contains("16 bytes, not 32"), "{err}");
        let junk = MasterKeySource::Value(Zeroizing::new("!!".into()));
        assert!(
            load_master_key(Some(&junk))
                .unwrap_err()
                .to_string()
                .contains("not base64")
        );
    }
}
