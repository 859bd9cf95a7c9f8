//! [`ComponentKind`]: what a plugin component is, parsed once at load.

use std::fmt;

use authhost_plugin_api::{AUTHENTICATOR, AUTH_PROVIDER};

/// The kinds of component this host knows. A plugin may describe kinds a
/// newer host knows; this one skips them at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    /// An outbound auth provider (`authentication.<name>` in workflows).
    AuthProvider,
    /// An inbound authenticator (`general.inbound_auth` with `type: plugin`).
    Authenticator,
}

impl ComponentKind {
    /// Every kind, in display order.
    pub const ALL: [Self; 2] = [Self::AuthProvider, Self::Authenticator];

    /// The kind named `name` in a component descriptor.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Its name in descriptors and output (`auth_provider`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthProvider => AUTH_PROVIDER,
            Self::Authenticator => AUTHENTICATOR,
        }
    }
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_kinds_are_none() {
        for kind in ComponentKind::ALL {
            assert_eq!(ComponentKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ComponentKind::parse("tool"), None);
    }
}
