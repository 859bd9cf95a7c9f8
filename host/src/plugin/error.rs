//! Errors of the plugin layer. Each message is one short paragraph that
//! names the file (or the instance) and says what to do.

use std::{path::PathBuf, time::Duration};

use thiserror::Error;

/// Why a plugin file was not loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The path does not exist.
    #[error("{}: no such file", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// File or folder permissions would let another user replace the code.
    #[error("{}: refused to load: {reason}", path.display())]
    Insecure {
        /// The file.
        path: PathBuf,
        /// Why, and how to fix it.
        reason: String,
    },
    /// The file's digest differs from its pin.
    #[error("{}: refused to load: its SHA-256 is {actual}, but the workflow pins {expected}", path.display())]
    PinMismatch {
        /// The file.
        path: PathBuf,
        /// Index of the pin in `plugins.pins`.
        pin: usize,
        /// The pinned digest.
        expected: String,
        /// The file's digest.
        actual: String,
    },
    /// The dynamic loader could not open the file.
    #[error("{}: not a loadable shared library ({reason})", path.display())]
    NotALibrary {
        /// The file.
        path: PathBuf,
        /// What the dynamic loader said.
        reason: String,
    },
    /// A shared library without an authhost root module.
    #[error("{}: a shared library, but not an authhost plugin ({reason})", path.display())]
    NotAPlugin {
        /// The file.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// Built against a plugin-api with another `0.y`.
    #[error(
        "{}: built against plugin-api {built_with}, but this host (plugin-api {host}) loads plugins built with {compatible}; rebuild the plugin against plugin-api {host}",
        path.display()
    )]
    IncompatibleVersion {
        /// The file.
        path: PathBuf,
        /// The plugin-api version the plugin declares.
        built_with: String,
        /// The host's plugin-api version.
        host: String,
        /// The range the host accepts, such as `0.1.x`.
        compatible: String,
    },
    /// The version matches but the ABI layout does not.
    #[error(
        "{}: built against an incompatible plugin-api: it declares version {built_with}, but its ABI layout differs from this host's (plugin-api {host}); first mismatch: {first_mismatch}; rebuild the plugin against plugin-api {host} (run with -vv for the full layout report)",
        path.display()
    )]
    IncompatibleLayout {
        /// The file.
        path: PathBuf,
        /// The plugin-api version the plugin declares.
        built_with: String,
        /// The host's plugin-api version.
        host: String,
        /// The first difference abi_stable found, in one line.
        first_mismatch: String,
        /// abi_stable's full report (hundreds of lines), shown under `-vv`.
        full_report: String,
    },
    /// The plugin's `init` or `components` failed or panicked.
    #[error("{}: plugin {plugin} failed to {stage}: {message}", path.display())]
    PluginFailed {
        /// The file.
        path: PathBuf,
        /// The plugin's name.
        plugin: String,
        /// `initialise` or `describe its components`.
        stage: &'static str,
        /// The plugin's error message.
        message: String,
    },
    /// A component declares a malformed schema or example.
    #[error("{}: {component_type} `{type_name}` has an invalid {what}: {reason}", path.display())]
    InvalidDescriptor {
        /// The file.
        path: PathBuf,
        /// `auth_provider` or `authenticator`.
        component_type: String,
        /// The component's type name.
        type_name: String,
        /// `config schema` or `example config`.
        what: &'static str,
        /// The parse error.
        reason: String,
    },
    /// Two plugins declare the same type name.
    #[error(
        "{}: declares {component_type} `{type_name}`, which {} already declares; the plugin was not loaded (remove one of the two files)",
        path.display(),
        first.display()
    )]
    DuplicateType {
        /// The file that was refused.
        path: PathBuf,
        /// The file that was loaded first.
        first: PathBuf,
        /// `auth_provider` or `authenticator`.
        component_type: String,
        /// The clashing type name.
        type_name: String,
    },
}

impl LoadError {
    /// The long form, for `-vv`: abi_stable's full report where there is one.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::IncompatibleLayout { full_report, .. } => Some(full_report),
            _ => None,
        }
    }
}

/// Why a provider or authenticator instance could not be created.
#[derive(Debug, Error)]
pub enum CreateError {
    /// No loaded plugin offers the type.
    #[error(
        "unknown {component_type} type `{type_name}`{}",
        did_you_mean(suggestions)
    )]
    UnknownType {
        /// `auth_provider` or `authenticator`.
        component_type: &'static str,
        /// The requested type.
        type_name: String,
        /// Close matches among the installed types.
        suggestions: Vec<String>,
    },
    /// The workflow has no provider instance of that name (a state row
    /// written by another replica's workflow, or before an edit).
    #[error("no provider `{0}` in this workflow")]
    UnknownInstance(String),
    /// The plugin refused the configuration (or panicked).
    #[error("`{instance}` ({type_name}, plugin {plugin}): {error}")]
    Plugin {
        /// The instance name.
        instance: String,
        /// Its type.
        type_name: String,
        /// The plugin that implements it.
        plugin: String,
        /// The plugin's error; said in the message, so not also a `source`
        /// (a chain printed with `{:#}` says it once).
        error: Box<authhost_plugin_api::Error>,
    },
}

/// Why a call into a provider instance failed.
#[derive(Debug, Error)]
pub enum CallError {
    /// The plugin returned an error (a panic inside the plugin is one too).
    #[error("{operation} of `{instance}` ({type_name}, plugin {plugin}) failed: {error}")]
    Plugin {
        /// The instance name.
        instance: String,
        /// Its type.
        type_name: String,
        /// The plugin.
        plugin: String,
        /// `authenticate`, `refresh`, ….
        operation: &'static str,
        /// The plugin's error; said in the message, so not also a `source`
        /// (a chain printed with `{:#}` says it once).
        error: Box<authhost_plugin_api::Error>,
    },
    /// The plugin did not answer in time.
    #[error("{operation} of `{instance}` ({type_name}, plugin {plugin}) did not complete within {after:?}")]
    Timeout {
        /// The instance name.
        instance: String,
        /// Its type.
        type_name: String,
        /// The plugin.
        plugin: String,
        /// `authenticate`, `refresh`, ….
        operation: &'static str,
        /// The deadline.
        after: Duration,
    },
}

impl CallError {
    /// The plugin's error kind, or `None` for a timeout.
    pub fn kind(&self) -> Option<authhost_plugin_api::ErrorKind> {
        match self {
            Self::Plugin { error, .. } => Some(error.kind()),
            Self::Timeout { .. } => None,
        }
    }
}

fn did_you_mean(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!("; did you mean `{one}`?"),
        many => format!(
            "; did you mean one of {}?",
            many.iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
