//! [`Secret`]: the type of secret fields in a provider's configuration.

use std::{borrow::Cow, fmt};

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

/// A secret string in a provider configuration (a key, a password, a client
/// secret).
///
/// Its JSON Schema is a string marked `"writeOnly": true` and
/// `"x-secret": true`, so the host never echoes it back; `Debug` prints
/// `[redacted]`; the memory is zeroed on drop. It cannot be serialized.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The secret value. Keep the call sites few: each is a place where the
    /// secret leaves its wrapper.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

impl From<Secret> for crate::abi::RSecret {
    fn from(secret: Secret) -> Self {
        crate::abi::RSecret::new(secret.expose())
    }
}

impl From<&Secret> for crate::abi::RSecret {
    fn from(secret: &Secret) -> Self {
        crate::abi::RSecret::new(secret.expose())
    }
}

impl JsonSchema for Secret {
    fn schema_name() -> Cow<'static, str> {
        "Secret".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "writeOnly": true,
            "x-secret": true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_leak() {
        let secret: Secret = serde_json::from_str("\"sentinel-91c2\"").expect("a string");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(secret.expose(), "sentinel-91c2");
    }

    #[test]
    fn schema_is_marked_secret() {
        let schema = schemars::schema_for!(Secret);
        assert_eq!(
            schema.get("writeOnly"),
            Some(&serde_json::Value::Bool(true))
        );
        assert_eq!(schema.get("x-secret"), Some(&serde_json::Value::Bool(true)));
    }
}
