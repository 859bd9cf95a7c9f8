//! [`Host`]: the plugin's handle to the host's services (HTTP, clock, timer,
//! background tasks). A plugin must not do I/O on its own: it has its own
//! copy of every static, so `tokio` or `reqwest` inside it panic with "no
//! reactor running".

use std::{
    fmt,
    future::Future,
    sync::OnceLock,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use abi_stable::std_types::{RString, RVec};
use async_ffi::FutureExt;

use crate::{
    abi::{self, HostServicesBox, KeptStoreBox},
    Error, Secret,
};

static HOST: OnceLock<Host> = OnceLock::new();

/// The store the host keeps for this plugin; unset under a host older
/// than plugin-api 0.1.2 (and in-process tests).
static KEPT: OnceLock<KeptStoreBox> = OnceLock::new();

/// An HTTP request for [`Host::http`].
#[derive(Clone)]
pub struct HttpRequest {
    /// `GET`, `POST`, ….
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Headers; values are treated as secrets.
    pub headers: Vec<(String, Secret)>,
    /// Body.
    pub body: Vec<u8>,
    /// Timeout; `None` for the host's default.
    pub timeout: Option<Duration>,
}

impl HttpRequest {
    /// A request with no headers and no body.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), Secret::new(value)));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// The host's answer to an [`HttpRequest`].
#[derive(Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body; may hold tokens, never log it.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// The plugin's handle to the host's services.
#[derive(Clone)]
pub struct Host {
    services: HostServicesBox,
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Host")
    }
}

impl Host {
    /// The host that loaded this plugin; `None` when the plugin runs
    /// in-process (its own tests).
    pub fn current() -> Option<Host> {
        HOST.get().cloned()
    }

    /// A handle over `services` without installing it globally.
    #[cfg(any(feature = "testing", all(test, feature = "oauth2")))]
    pub(crate) fn from_services(services: HostServicesBox) -> Host {
        Host { services }
    }

    /// Records the host's services; the first call wins.
    pub(crate) fn install(services: HostServicesBox) -> Host {
        HOST.get_or_init(|| Host { services }).clone()
    }

    /// Records the store the host keeps for this plugin; the first call wins.
    pub(crate) fn install_kept_store(store: KeptStoreBox) {
        let _ = KEPT.set(store);
    }

    fn kept_store() -> Result<&'static KeptStoreBox, Error> {
        KEPT.get().ok_or_else(|| {
            Error::unsupported(
                "keeping values in the host's store (this host is older than plugin-api 0.1.2)",
            )
        })
    }

    /// The value the host keeps for this plugin under `key`, if any:
    /// sealed in its token store, the same for every replica.
    ///
    /// # Errors
    ///
    /// The host keeps no store for plugins (older than plugin-api 0.1.2,
    /// or a command that opens no token store), or its store failed.
    pub async fn kept(&self, key: &str) -> Result<Option<Secret>, Error> {
        let found = Self::kept_store()?
            .get(RString::from(key))
            .await
            .into_result()?;
        Ok(found.into_option().map(|v| Secret::new(v.expose())))
    }

    /// Keeps `value` under `key` unless a value is kept there already, and
    /// answers the value kept now: `value`, or the one another process
    /// kept first, which the plugin must use instead (so replicas agree).
    ///
    /// # Errors
    ///
    /// As [`Host::kept`].
    pub async fn keep_first(&self, key: &str, value: &Secret) -> Result<Secret, Error> {
        let kept = Self::kept_store()?
            .put_first(RString::from(key), abi::RSecret::from(value))
            .await
            .into_result()?;
        Ok(Secret::new(kept.expose()))
    }

    /// Forgets the value kept under `key` (none is no error).
    ///
    /// # Errors
    ///
    /// As [`Host::kept`].
    pub async fn forget(&self, key: &str) -> Result<(), Error> {
        Self::kept_store()?
            .remove(RString::from(key))
            .await
            .into_result()
            .map_err(Error::from)
    }

    /// The raw ABI services.
    pub(crate) fn services(&self) -> &HostServicesBox {
        &self.services
    }

    /// Sends a request with the host's HTTP client. Redirects are not
    /// followed; the host's egress policy and timeouts apply.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Transport`](crate::ErrorKind::Transport) on network
    /// failures and timeouts, or a policy error from the host.
    pub async fn http(&self, request: HttpRequest) -> Result<HttpResponse, Error> {
        let abi_request = abi::HttpRequest {
            method: RString::from(request.method),
            url: RString::from(request.url),
            headers: request
                .headers
                .iter()
                .map(|(name, value)| abi::HttpHeader {
                    name: RString::from(name.as_str()),
                    value: abi::RSecret::from(value),
                })
                .collect::<RVec<_>>(),
            body: RVec::from(request.body),
            timeout_ms: request
                .timeout
                .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or(0),
        };
        let response = self.services.http(abi_request).await.into_result()?;
        Ok(HttpResponse {
            status: response.status,
            headers: response
                .headers
                .into_iter()
                .map(|h| (h.name.into_string(), h.value.expose().to_owned()))
                .collect(),
            body: response.body.into_vec(),
        })
    }

    /// Completes after `duration`, on the host's timer.
    pub async fn sleep(&self, duration: Duration) {
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        self.services.sleep(millis).await;
    }

    /// The host's wall clock.
    pub fn now(&self) -> SystemTime {
        let millis = self.services.now_unix_ms();
        UNIX_EPOCH + Duration::from_millis(u64::try_from(millis).unwrap_or(0))
    }

    /// Runs `task` in the background on the host's runtime. A panic in it is
    /// caught and logged.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let host = self.clone();
        let guarded = async move {
            let result = crate::guard::guard_future(
                crate::guard::Site {
                    plugin: "plugin",
                    component: "spawned task",
                    operation: "spawn",
                },
                move || async move {
                    task.await;
                    Ok(())
                },
            )
            .await;
            if let abi_stable::std_types::RResult::RErr(e) = result {
                host.services.log(
                    abi::LogLevel::Error,
                    "panic".into(),
                    e.message.as_str().into(),
                );
            }
        };
        self.services.spawn(guarded.into_ffi());
    }
}
