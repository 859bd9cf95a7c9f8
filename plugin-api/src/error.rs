//! The error type plugin code returns.

use std::fmt;

use abi_stable::std_types::{ROption, RString};

pub use crate::abi::ErrorKind;
use crate::abi::PluginError;

/// An error from a plugin operation.
///
/// The message must be short, lowercase and free of secrets: never put a
/// token, a configuration value or a server's response body in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    oauth_error: Option<String>,
}

impl Error {
    /// An error of `kind` with a secret-free message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            oauth_error: None,
        }
    }

    /// The configuration is invalid.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidConfig, message)
    }

    /// The operation is not supported by this component.
    pub fn unsupported(operation: &str) -> Self {
        Self::new(
            ErrorKind::Unsupported,
            format!("{operation} is not supported by this provider"),
        )
    }

    /// A network failure or timeout; retrying may help.
    pub fn transport(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transport, message)
    }

    /// Anything else.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Attaches the OAuth `error` code a server returned.
    pub fn with_oauth_error(mut self, code: impl Into<String>) -> Self {
        self.oauth_error = Some(code.into());
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The OAuth `error` code, if a server returned one.
    pub fn oauth_error(&self) -> Option<&str> {
        self.oauth_error.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(code) = &self.oauth_error {
            write!(f, " (server error code: {code})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<Error> for PluginError {
    fn from(e: Error) -> Self {
        PluginError {
            kind: e.kind,
            message: RString::from(e.message),
            oauth_error: e.oauth_error.map(RString::from).into(),
        }
    }
}

impl From<PluginError> for Error {
    fn from(e: PluginError) -> Self {
        Self {
            kind: e.kind,
            message: e.message.into_string(),
            oauth_error: match e.oauth_error {
                ROption::RSome(code) => Some(code.into_string()),
                ROption::RNone => None,
            },
        }
    }
}
