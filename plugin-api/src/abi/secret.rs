use std::fmt;

use abi_stable::{std_types::RString, StableAbi};

/// A secret string that crosses the plugin boundary.
///
/// `Debug` prints `[redacted]`, and the buffer is overwritten with zeros when
/// the value is dropped. Convert it to a [`secrecy::SecretString`] on entry.
///
/// Versioning: frozen within a `0.y` series.
#[repr(transparent)]
#[derive(StableAbi, Clone, Default)]
pub struct RSecret(RString);

impl RSecret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<RString>) -> Self {
        Self(value.into())
    }

    /// The secret value. Every call site is a place where the secret leaves
    /// its wrapper: keep them few and easy to grep.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for RSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for RSecret {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        zeroize::Zeroize::zeroize(bytes.as_mut_slice());
    }
}

impl From<String> for RSecret {
    fn from(value: String) -> Self {
        Self(value.into())
    }
}

impl From<&str> for RSecret {
    fn from(value: &str) -> Self {
        Self(value.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_leak() {
        let secret = RSecret::new("sentinel-7f3a");
        let printed = format!("{secret:?} {:?}", vec![secret.clone()]);
        assert!(!printed.contains("sentinel-7f3a"), "{printed}");
        assert!(printed.contains("[redacted]"));
        assert_eq!(secret.expose(), "sentinel-7f3a");
    }
}
