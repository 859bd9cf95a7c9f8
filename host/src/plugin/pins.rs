//! Pinned plugins: a file whose SHA-256 differs from its pin is refused
//! before it is opened.

use std::{
    io::Read,
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};

/// A pinned plugin file.
#[derive(Debug, Clone)]
pub struct Pin {
    /// A resolved path, or `None` when the pin names a bare file name.
    pub path: Option<PathBuf>,
    /// The file name matched when `path` is `None`.
    pub file_name: String,
    /// Expected lowercase hex SHA-256.
    pub sha256: String,
}

impl Pin {
    /// A pin as written in a workflow: `file` is a path (relative to
    /// `base`) when it holds a `/`, else a file name matched anywhere.
    pub fn new(file: &str, sha256: &str, base: &Path) -> Self {
        let path = file.contains('/').then(|| {
            let p = base.join(file);
            p.canonicalize().unwrap_or(p)
        });
        let file_name = Path::new(file)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self {
            path,
            file_name,
            sha256: sha256.to_ascii_lowercase(),
        }
    }

    /// Whether this pin applies to `candidate`.
    pub fn matches(&self, candidate: &Path) -> bool {
        match &self.path {
            Some(path) => candidate.canonicalize().ok().as_deref() == Some(path.as_path()),
            None => candidate
                .file_name()
                .is_some_and(|n| n.to_string_lossy() == self.file_name),
        }
    }
}

/// The lowercase hex SHA-256 of a file.
///
/// # Errors
///
/// When the file cannot be read.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
