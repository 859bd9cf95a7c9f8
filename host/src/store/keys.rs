//! The key ring: 32-byte keys that encrypt token rows (XChaCha20-Poly1305)
//! and sign authorization states (HMAC-SHA256 with a derived key).
//!
//! Keys come from `AUTHHOST_MASTER_KEY` (base64, one key) or a key file
//! (one base64 key per line, the last one current). With neither, a SQLite
//! store creates a 0600 key file beside the database.

use std::{
    fmt,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use base64::Engine as _;
use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    XChaCha20Poly1305, XNonce,
};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Why keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key is not base64 for 32 bytes.
    #[error("{source_name}: line {line} is not a base64-encoded 32-byte key")]
    Malformed {
        /// The environment variable or file.
        source_name: String,
        /// 1-based line.
        line: usize,
    },
    /// The key file could not be read or written.
    #[error("key file {}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// No key and no place to create one.
    #[error("{0}")]
    Missing(String),
}

/// One key.
#[derive(Clone)]
struct Key {
    id: String,
    bytes: [u8; 32],
}

impl Drop for Key {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.bytes);
    }
}

/// Where the keys came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `AUTHHOST_MASTER_KEY`.
    Environment,
    /// A key file.
    File(PathBuf),
}

/// Encryption keys, the last one current.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<Key>,
    source: KeySource,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("ids", &self.ids())
            .field("source", &self.source)
            .finish()
    }
}

/// A sealed value: which key, the nonce, the ciphertext with its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The key id.
    pub key_id: String,
    /// 24-byte nonce.
    pub nonce: Vec<u8>,
    /// Ciphertext and tag.
    pub ciphertext: Vec<u8>,
}

/// A ciphertext that does not open: wrong key, or moved from another row.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// The row names a key this ring does not hold.
    #[error("encrypted with key {0}, which is not in the key ring")]
    UnknownKey(String),
    /// Authentication failed.
    #[error("does not decrypt: the ciphertext was altered or belongs to another row")]
    Tampered,
}

fn key_id(bytes: &[u8; 32]) -> String {
    hex::encode(&Sha256::digest(bytes)[..6])
}

fn parse_key(text: &str, source_name: &str, line: usize) -> Result<Key, KeyError> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .filter(|d| d.len() == 32)
        .ok_or_else(|| KeyError::Malformed {
            source_name: source_name.to_owned(),
            line,
        })?;
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(&decoded);
    Ok(Key {
        id: key_id(&bytes),
        bytes,
    })
}

fn random_key() -> Result<[u8; 32], KeyError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| KeyError::Missing(format!("no randomness available: {e}")))?;
    Ok(bytes)
}

/// Fills `buf` with random bytes.
pub fn random_bytes(buf: &mut [u8]) {
    // getrandom only fails when the OS has no entropy source at all.
    getrandom::getrandom(buf).expect("the operating system provides randomness");
}

impl KeyRing {
    /// A ring of one key from `AUTHHOST_MASTER_KEY`'s value.
    ///
    /// # Errors
    ///
    /// [`KeyError::Malformed`] when it is not base64 for 32 bytes.
    pub fn from_env_value(value: &str) -> Result<Self, KeyError> {
        Ok(Self {
            keys: vec![parse_key(value, "AUTHHOST_MASTER_KEY", 1)?],
            source: KeySource::Environment,
        })
    }

    /// The keys of a key file.
    ///
    /// # Errors
    ///
    /// The file is unreadable, empty, or has a malformed line.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::File {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut keys = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            keys.push(parse_key(line, &path.display().to_string(), i + 1)?);
        }
        if keys.is_empty() {
            return Err(KeyError::File {
                path: path.to_path_buf(),
                message: "holds no key".to_owned(),
            });
        }
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "key file is readable by other users; run chmod 600");
            }
        }
        Ok(Self {
            keys,
            source: KeySource::File(path.to_path_buf()),
        })
    }

    /// Creates a key file with one new key, mode 0600.
    ///
    /// # Errors
    ///
    /// The file exists or cannot be written.
    pub fn create_file(path: &Path) -> Result<Self, KeyError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| KeyError::File {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        }
        let bytes = random_key()?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| KeyError::File {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        writeln!(
            file,
            "# authhost token store keys: one base64 key per line, the last one current. Keep this file secret.\n{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
        .map_err(|e| KeyError::File {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::from_file(path)
    }

    /// Where the keys came from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// Key ids, the current one last.
    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }

    /// The current key's id.
    pub fn current_id(&self) -> &str {
        &self.current().id
    }

    fn current(&self) -> &Key {
        // A ring is never empty: every constructor checks.
        &self.keys[self.keys.len() - 1]
    }

    /// Encrypts `plaintext` with the current key, bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Sealed {
        let key = self.current();
        let cipher = XChaCha20Poly1305::new((&key.bytes).into());
        let mut nonce = [0u8; 24];
        random_bytes(&mut nonce);
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("XChaCha20-Poly1305 encryption does not fail for in-memory buffers");
        Sealed {
            key_id: key.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    /// Decrypts a sealed value bound to `aad`.
    ///
    /// # Errors
    ///
    /// [`OpenError`] when the key is unknown or the ciphertext does not
    /// authenticate (altered, or copied from another row).
    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, OpenError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| OpenError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.nonce.len() != 24 {
            return Err(OpenError::Tampered);
        }
        XChaCha20Poly1305::new((&key.bytes).into())
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad,
                },
            )
            .map_err(|_| OpenError::Tampered)
    }

    /// HMAC-SHA256 of `data` with a key derived from the current key for
    /// signing authorization states.
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        self.sign_with(self.current(), data)
    }

    /// Whether `signature` is a valid state signature of `data` under any
    /// key of the ring (constant-time comparison).
    pub fn verify(&self, data: &[u8], signature: &[u8]) -> bool {
        self.keys.iter().any(|key| {
            let mut mac = self.state_mac(key);
            mac.update(data);
            mac.verify_slice(signature).is_ok()
        })
    }

    fn state_mac(&self, key: &Key) -> Hmac<Sha256> {
        let mut derive =
            <Hmac<Sha256> as Mac>::new_from_slice(&key.bytes).expect("HMAC takes any key length");
        derive.update(b"authhost state signing v1");
        let derived = derive.finalize().into_bytes();
        <Hmac<Sha256> as Mac>::new_from_slice(&derived).expect("HMAC takes any key length")
    }

    fn sign_with(&self, key: &Key, data: &[u8]) -> Vec<u8> {
        let mut mac = self.state_mac(key);
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// Adds a new current key to the key file.
    ///
    /// # Errors
    ///
    /// The ring comes from the environment, or the file cannot be written.
    pub fn add_key_to_file(&mut self) -> Result<String, KeyError> {
        let KeySource::File(path) = &self.source else {
            return Err(KeyError::Missing(
                "keys from AUTHHOST_MASTER_KEY cannot rotate: move the key to a key file (general.store.key_file) first".to_owned(),
            ));
        };
        let bytes = random_key()?;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| KeyError::File {
                path: path.clone(),
                message: e.to_string(),
            })?;
        writeln!(
            file,
            "{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
        .map_err(|e| KeyError::File {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let key = Key {
            id: key_id(&bytes),
            bytes,
        };
        let id = key.id.clone();
        self.keys.push(key);
        Ok(id)
    }

    /// Rewrites the key file keeping only the keys in `keep` (and the current one).
    ///
    /// # Errors
    ///
    /// The file cannot be written.
    pub fn retire_keys_except(&mut self, keep: &[String]) -> Result<Vec<String>, KeyError> {
        let KeySource::File(path) = self.source.clone() else {
            return Ok(Vec::new());
        };
        let current = self.current_id().to_owned();
        let (kept, retired): (Vec<Key>, Vec<Key>) = self
            .keys
            .drain(..)
            .partition(|k| k.id == current || keep.contains(&k.id));
        self.keys = kept;
        let mut text = String::from("# authhost token store keys: one base64 key per line, the last one current. Keep this file secret.\n");
        for key in &self.keys {
            text.push_str(&base64::engine::general_purpose::STANDARD.encode(key.bytes));
            text.push('\n');
        }
        let tmp = path.with_extension("tmp");
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| KeyError::File {
                path: path.clone(),
                message: e.to_string(),
            })?;
        Ok(retired.iter().map(|k| k.id.clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_bound_to_the_row() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ring = KeyRing::create_file(&dir.path().join("k")).expect("created");
        let mode = std::fs::metadata(dir.path().join("k"))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let sealed = ring.seal(b"tokens", b"github\0alice");
        assert_eq!(
            ring.open(&sealed, b"github\0alice").expect("opens"),
            b"tokens"
        );
        assert_eq!(
            ring.open(&sealed, b"github\0mallory"),
            Err(OpenError::Tampered)
        );
        let mut altered = sealed.clone();
        altered.ciphertext[0] ^= 1;
        assert_eq!(
            ring.open(&altered, b"github\0alice"),
            Err(OpenError::Tampered)
        );
        assert!(format!("{ring:?}").contains(ring.current_id()));
    }

    #[test]
    fn rotation_keeps_old_keys_readable_until_retired() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k");
        let mut ring = KeyRing::create_file(&path).expect("created");
        let old = ring.seal(b"x", b"a");
        let new_id = ring.add_key_to_file().expect("rotated");
        assert_eq!(ring.current_id(), new_id);
        let reloaded = KeyRing::from_file(&path).expect("reload");
        assert_eq!(
            reloaded.open(&old, b"a").expect("old key still there"),
            b"x"
        );
        assert_eq!(reloaded.ids().len(), 2);
        let retired = ring.retire_keys_except(&[]).expect("retire");
        assert_eq!(retired, std::slice::from_ref(&old.key_id));
        assert!(KeyRing::from_file(&path)
            .expect("reload")
            .open(&old, b"a")
            .is_err());
    }

    #[test]
    fn states_sign_and_verify() {
        let ring =
            KeyRing::from_env_value(&base64::engine::general_purpose::STANDARD.encode([7u8; 32]))
                .expect("key");
        let sig = ring.sign(b"state");
        assert!(ring.verify(b"state", &sig));
        assert!(!ring.verify(b"other", &sig));
        assert!(KeyRing::from_env_value("c2hvcnQ=").is_err());
    }
}
