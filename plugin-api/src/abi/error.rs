use std::fmt;

use abi_stable::{
    std_types::{ROption, RString},
    StableAbi,
};

/// What went wrong, as far as the host needs to know to react.
///
/// Versioning: frozen within a `0.y` series; new kinds are a `0.y+1` release.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The instance configuration is invalid.
    InvalidConfig,
    /// The component does not support this operation.
    Unsupported,
    /// The plugin panicked; the message says where.
    Panicked,
    /// The request may have reached the remote server, but no answer came
    /// (a timeout, a lost connection): the server may have acted on it.
    /// Retrying may help; the host does not resend a rotating refresh token.
    Transport,
    /// A remote server answered with a server error (5xx), or could not be
    /// reached at all (nothing was sent); retrying may help.
    Upstream,
    /// The grant (refresh token, authorization code) is invalid or expired.
    InvalidGrant,
    /// The client credentials were rejected by the authorization server.
    InvalidClient,
    /// The caller's input was malformed (bad state, wrong issuer, …).
    InvalidRequest,
    /// An inbound credential was rejected (authenticators).
    Unauthenticated,
    /// Anything else.
    Internal,
}

impl ErrorKind {
    /// A stable snake_case name for logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidConfig => "invalid_config",
            Self::Unsupported => "unsupported",
            Self::Panicked => "panicked",
            Self::Transport => "transport",
            Self::Upstream => "upstream",
            Self::InvalidGrant => "invalid_grant",
            Self::InvalidClient => "invalid_client",
            Self::InvalidRequest => "invalid_request",
            Self::Unauthenticated => "unauthenticated",
            Self::Internal => "internal",
        }
    }
}

/// An error returned across the plugin boundary.
///
/// `message` must never hold a secret: plugins build it from their own text,
/// never from a server's response body.
///
/// Versioning: frozen within a `0.y` series.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct PluginError {
    /// The kind of failure. Frozen within `0.y`.
    pub kind: ErrorKind,
    /// A short, lowercase, secret-free description. Frozen within `0.y`.
    pub message: RString,
    /// The OAuth `error` code a server returned (`invalid_grant`, …), if any.
    /// Frozen within `0.y`.
    pub oauth_error: ROption<RString>,
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let ROption::RSome(code) = &self.oauth_error {
            write!(f, " (server error code: {code})")?;
        }
        Ok(())
    }
}

impl std::error::Error for PluginError {}
