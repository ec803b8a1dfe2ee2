//! Seals policy keys at rest with the server key (AES-256-GCM).

use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use rand::rngs::OsRng;
use zeroize::Zeroizing;

const NONCE_BYTES: usize = 12;
const AAD: &[u8] = b"herald webhook policy key v1";
pub const KEY_FILE: &str = "secret.key";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("a sealed key cannot be opened: wrong server key, or damaged data")]
    Open,
    #[error("the secret key must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)")]
    BadKey,
    #[error("secret key file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The server key. Never logged: its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(***)")
    }
}

impl Sealer {
    /// From the base64 text of 32 bytes.
    pub fn from_base64(text: &str) -> Result<Sealer, SealError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| SealError::BadKey)?,
        );
        if bytes.len() != 32 {
            return Err(SealError::BadKey);
        }
        Ok(Sealer {
            cipher: Aes256Gcm::new_from_slice(&bytes).map_err(|_| SealError::BadKey)?,
        })
    }

    /// Reads `<dir>/secret.key`, or makes it (mode 0600) when missing.
    /// Returns the sealer and whether the file was made now.
    pub fn load_or_create(dir: &Path) -> Result<(Sealer, bool), SealError> {
        let path = dir.join(KEY_FILE);
        let file_error = |source| SealError::File {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((Sealer::from_base64(&text)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = Zeroizing::new([0u8; 32]);
                OsRng.fill_bytes(bytes.as_mut());
                let text = Zeroizing::new(STANDARD.encode(bytes.as_ref()));
                std::fs::create_dir_all(dir).map_err(file_error)?;
                write_private(&path, text.as_bytes()).map_err(file_error)?;
                Ok((Sealer::from_base64(&text)?, true))
            }
            Err(e) => Err(file_error(e)),
        }
    }

    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_BYTES];
        OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: AAD,
                },
            )
            .expect("AES-GCM encryption");
        [nonce.as_slice(), &sealed].concat()
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if sealed.len() < NONCE_BYTES {
            return Err(SealError::Open);
        }
        let (nonce, body) = sealed.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| SealError::Open)?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: body,
                    aad: AAD,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Open)
    }
}

/// The server key given (`secret_key`, base64), or the one in `data_dir`
/// (made there, with a warning, on first start).
pub fn open_sealer(secret_key: Option<&str>, data_dir: &Path) -> Result<Sealer, SealError> {
    if let Some(key) = secret_key {
        return Sealer::from_base64(key);
    }
    let (sealer, created) = Sealer::load_or_create(data_dir)?;
    if created {
        tracing::warn!(
            path = %data_dir.join(KEY_FILE).display(),
            "generated a new secret key for policy keys; back it up: without it they cannot be read"
        );
    }
    Ok(sealer)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_and_refuses_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (sealer, created) = Sealer::load_or_create(dir.path()).unwrap();
        assert!(created);
        let sealed = sealer.seal(b"private key");
        assert!(!sealed.windows(11).any(|w| w == b"private key"));
        assert_eq!(sealer.open(&sealed).unwrap().as_slice(), b"private key");
        let (again, created) = Sealer::load_or_create(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(again.open(&sealed).unwrap().as_slice(), b"private key");
        let other = Sealer::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        assert!(other.open(&sealed).is_err());
        assert!(Sealer::from_base64("short").is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
