//! What the host offers plugins: HTTP, logging, clock, timer, background
//! tasks. One instance per plugin, so log lines carry the plugin's name.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RArc, ROption, RResult, RStr, RString, RVec},
};
use async_ffi::{FfiFuture, FutureExt};
use authhost_plugin_api::{
    abi::{
        self, HostServicesBox, HostServices_TO, HttpHeader, HttpRequest, HttpResponse, LogLevel,
        PluginError, RSecret,
    },
    ErrorKind,
};
use tracing::level_filters::LevelFilter;

use crate::outbound::{loggable_url, Outbound, OutboundError};

/// Largest response body handed to a plugin.
const MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;

/// The host side of [`abi::HostServices`].
#[derive(Clone)]
pub struct HostServicesImpl {
    plugin: Arc<str>,
    outbound: Arc<Outbound>,
}

impl std::fmt::Debug for HostServicesImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostServicesImpl")
            .field("plugin", &self.plugin)
            .finish()
    }
}

impl HostServicesImpl {
    /// Services for the plugin `plugin` (its name goes in log lines); its
    /// HTTP requests go through `outbound`.
    pub fn new(plugin: &str, outbound: Arc<Outbound>) -> Self {
        Self {
            plugin: Arc::from(plugin),
            outbound,
        }
    }

    /// The ABI trait object handed to the plugin's `init`.
    pub fn into_abi(self) -> HostServicesBox {
        HostServices_TO::from_ptr(RArc::new(self), TD_Opaque)
    }
}

fn plugin_error(kind: ErrorKind, message: String) -> PluginError {
    PluginError {
        kind,
        message: RString::from(message),
        oauth_error: ROption::RNone,
    }
}

async fn send(outbound: Arc<Outbound>, request: HttpRequest) -> Result<HttpResponse, PluginError> {
    let url = reqwest::Url::parse(request.url.as_str()).map_err(|e| {
        plugin_error(
            ErrorKind::InvalidRequest,
            format!("invalid request URL: {e}"),
        )
    })?;
    let loggable = loggable_url(&url);
    outbound
        .check_destination(&url)
        .await
        .map_err(|e| plugin_error(ErrorKind::InvalidRequest, e.to_string()))?;
    let method = reqwest::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| plugin_error(ErrorKind::InvalidRequest, "invalid HTTP method".to_owned()))?;
    let timeout = match request.timeout_ms {
        0 => outbound.request_timeout(),
        ms => Duration::from_millis(ms),
    };
    let client = outbound.client().map_err(|e| {
        plugin_error(
            ErrorKind::Internal,
            format!("cannot build HTTP client: {e}"),
        )
    })?;
    let mut builder = client.request(method, url).timeout(timeout);
    for header in request.headers.iter() {
        builder = builder.header(header.name.as_str(), header.value.expose());
    }
    let response = builder
        .body(request.body.to_vec())
        .send()
        .await
        .map_err(|e| {
            let error = OutboundError::from_reqwest(&loggable, timeout, &e);
            tracing::debug!(url = %loggable, %error, "plugin HTTP request failed");
            let kind = match error {
                OutboundError::Egress(_) => ErrorKind::InvalidRequest,
                // Never sent (no connection): the server cannot have acted
                // on it, so a refresh may be sent again as it is.
                _ if e.is_connect() => ErrorKind::Upstream,
                _ => ErrorKind::Transport,
            };
            plugin_error(kind, error.to_string())
        })?;
    let status = response.status().as_u16();
    let headers: RVec<HttpHeader> = response
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            Some(HttpHeader {
                name: RString::from(name.as_str()),
                value: RSecret::new(value.to_str().ok()?),
            })
        })
        .collect();
    let body = crate::outbound::read_limited(response, MAX_RESPONSE_BYTES, &loggable, timeout)
        .await
        .map_err(|e| match e {
            OutboundError::TooLarge(..) => plugin_error(ErrorKind::Upstream, e.to_string()),
            _ => plugin_error(
                ErrorKind::Transport,
                format!("reading the response of {loggable} failed"),
            ),
        })?;
    tracing::debug!(url = %loggable, status, "plugin HTTP request");
    Ok(HttpResponse {
        status,
        headers,
        body: RVec::from(body),
    })
}

impl abi::HostServices for HostServicesImpl {
    fn http(&self, request: HttpRequest) -> FfiFuture<RResult<HttpResponse, PluginError>> {
        let outbound = self.outbound.clone();
        async move { send(outbound, request).await.into() }.into_ffi()
    }

    fn log(&self, level: LogLevel, target: RStr<'_>, message: RStr<'_>) {
        let plugin = &*self.plugin;
        let target = target.as_str();
        let message = message.as_str();
        match level {
            LogLevel::Error => {
                tracing::error!(target: "authhost::plugin", plugin, plugin_target = target, "{message}")
            }
            LogLevel::Warn => {
                tracing::warn!(target: "authhost::plugin", plugin, plugin_target = target, "{message}")
            }
            LogLevel::Info => {
                tracing::info!(target: "authhost::plugin", plugin, plugin_target = target, "{message}")
            }
            LogLevel::Debug => {
                tracing::debug!(target: "authhost::plugin", plugin, plugin_target = target, "{message}")
            }
            LogLevel::Trace => {
                tracing::trace!(target: "authhost::plugin", plugin, plugin_target = target, "{message}")
            }
        }
    }

    fn max_log_level(&self) -> ROption<LogLevel> {
        match LevelFilter::current().into_level() {
            None => ROption::RNone,
            Some(level) => ROption::RSome(match level {
                tracing::Level::ERROR => LogLevel::Error,
                tracing::Level::WARN => LogLevel::Warn,
                tracing::Level::INFO => LogLevel::Info,
                tracing::Level::DEBUG => LogLevel::Debug,
                tracing::Level::TRACE => LogLevel::Trace,
            }),
        }
    }

    fn now_unix_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }

    fn sleep(&self, millis: u64) -> FfiFuture<()> {
        // Created on first poll, so a poll outside the runtime becomes a caught
        // panic in the plugin, not an abort here.
        async move { tokio::time::sleep(Duration::from_millis(millis)).await }.into_ffi()
    }

    fn spawn(&self, task: FfiFuture<()>) {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(task);
            }
            Err(_) => tracing::error!(
                plugin = &*self.plugin,
                "plugin tried to spawn a task outside the host's runtime; the task was dropped"
            ),
        }
    }
}
