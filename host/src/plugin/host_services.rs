//! What the host offers plugins: HTTP, logging, clock, timer, background
//! tasks. One instance per plugin, so log lines carry the plugin's name.

use std::{
    sync::{Arc, OnceLock},
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

/// Default timeout of a plugin's HTTP request.
const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest response body handed to a plugin.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// The host side of [`abi::HostServices`].
#[derive(Clone)]
pub struct HostServicesImpl {
    plugin: Arc<str>,
    client: Arc<OnceLock<reqwest::Client>>,
}

impl std::fmt::Debug for HostServicesImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostServicesImpl")
            .field("plugin", &self.plugin)
            .finish()
    }
}

impl HostServicesImpl {
    /// Services for the plugin `plugin` (its name goes in log lines).
    pub fn new(plugin: &str) -> Self {
        Self {
            plugin: Arc::from(plugin),
            client: Arc::new(OnceLock::new()),
        }
    }

    /// The ABI trait object handed to the plugin's `init`.
    pub fn into_abi(self) -> HostServicesBox {
        HostServices_TO::from_ptr(RArc::new(self), TD_Opaque)
    }

    fn client(&self) -> Result<&reqwest::Client, PluginError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| {
                plugin_error(
                    ErrorKind::Internal,
                    format!("cannot build HTTP client: {e}"),
                )
            })?;
        Ok(self.client.get_or_init(|| client))
    }
}

fn plugin_error(kind: ErrorKind, message: String) -> PluginError {
    PluginError {
        kind,
        message: RString::from(message),
        oauth_error: ROption::RNone,
    }
}

async fn send(client: reqwest::Client, request: HttpRequest) -> Result<HttpResponse, PluginError> {
    let url = reqwest::Url::parse(request.url.as_str()).map_err(|e| {
        plugin_error(
            ErrorKind::InvalidRequest,
            format!("invalid request URL: {e}"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(plugin_error(
            ErrorKind::InvalidRequest,
            format!(
                "refused {} URL: only http and https are allowed",
                url.scheme()
            ),
        ));
    }
    let method = reqwest::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| plugin_error(ErrorKind::InvalidRequest, "invalid HTTP method".to_owned()))?;
    let timeout = match request.timeout_ms {
        0 => DEFAULT_HTTP_TIMEOUT,
        ms => Duration::from_millis(ms),
    };
    // The URL is logged without its query: it may hold secrets.
    let loggable = format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.path()
    );
    let mut builder = client.request(method, url).timeout(timeout);
    for header in request.headers.iter() {
        builder = builder.header(header.name.as_str(), header.value.expose());
    }
    let response = builder
        .body(request.body.to_vec())
        .send()
        .await
        .map_err(|e| {
            let what = if e.is_timeout() {
                "timed out"
            } else {
                "failed"
            };
            tracing::debug!(url = %loggable, "plugin HTTP request {what}");
            plugin_error(
                ErrorKind::Transport,
                format!("HTTP request to {loggable} {what}"),
            )
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
    let body = response.bytes().await.map_err(|_| {
        plugin_error(
            ErrorKind::Transport,
            format!("reading the response of {loggable} failed"),
        )
    })?;
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(plugin_error(
            ErrorKind::Upstream,
            format!("response of {loggable} is larger than {MAX_RESPONSE_BYTES} bytes"),
        ));
    }
    tracing::debug!(url = %loggable, status, "plugin HTTP request");
    Ok(HttpResponse {
        status,
        headers,
        body: RVec::from(body.to_vec()),
    })
}

impl abi::HostServices for HostServicesImpl {
    fn http(&self, request: HttpRequest) -> FfiFuture<RResult<HttpResponse, PluginError>> {
        let client = self.client().cloned();
        async move {
            match client {
                Ok(client) => send(client, request).await.into(),
                Err(e) => RResult::RErr(e),
            }
        }
        .into_ffi()
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
