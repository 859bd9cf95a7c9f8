use abi_stable::{
    sabi_trait,
    std_types::{RArc, ROption, RResult, RStr},
    StableAbi,
};
use async_ffi::FfiFuture;

use super::{HttpRequest, HttpResponse, PluginError};

/// Severity of a log event forwarded from a plugin.
///
/// Versioning: frozen within a `0.y` series.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Errors.
    Error = 1,
    /// Warnings.
    Warn = 2,
    /// Informational.
    Info = 3,
    /// Debugging detail.
    Debug = 4,
    /// Very verbose.
    Trace = 5,
}

/// What the host offers a plugin. **The host owns all I/O**: a plugin has its
/// own copy of every static, so it must not start a runtime, open sockets or
/// sleep on its own; it asks the host.
///
/// Versioning: frozen within a `0.y` series (see the module's versioning
/// rule: a method appended here would make older plugins unloadable).
#[sabi_trait]
pub trait HostServices: Clone + Send + Sync + 'static {
    /// Sends an HTTP request with the host's client (timeouts, egress policy,
    /// redirects not followed).
    fn http(&self, request: HttpRequest) -> FfiFuture<RResult<HttpResponse, PluginError>>;

    /// Emits a log event through the host's subscriber.
    fn log(&self, level: LogLevel, target: RStr<'_>, message: RStr<'_>);

    /// The most verbose level the host will print; `RNone` when logging is off.
    /// Plugins skip formatting events above it.
    fn max_log_level(&self) -> ROption<LogLevel>;

    /// Wall-clock time, Unix milliseconds.
    fn now_unix_ms(&self) -> i64;

    /// Completes after `millis` milliseconds, on the host's timer.
    fn sleep(&self, millis: u64) -> FfiFuture<()>;

    /// Runs a future in the background on the host's runtime.
    #[sabi(last_prefix_field)]
    fn spawn(&self, task: FfiFuture<()>);
}

/// The host services trait object handed to a plugin's `init`.
pub type HostServicesBox = HostServices_TO<RArc<()>>;
