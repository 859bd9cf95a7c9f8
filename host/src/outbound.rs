//! The host's outbound HTTP client, shared by tool calls and by plugins'
//! requests: no automatic redirects, timeouts from the workflow, and the
//! egress policy enforced on every resolved address (so a DNS answer cannot
//! smuggle a call to a blocked address).

use std::{
    net::SocketAddr,
    sync::{Arc, OnceLock},
    time::Duration,
};

use crate::egress::{EgressError, EgressPolicy};

/// Timeouts and size limits of outbound requests.
#[derive(Debug, Clone, Copy)]
pub struct OutboundTimeouts {
    /// Whole request, unless the caller sets one.
    pub request: Duration,
    /// Connecting.
    pub connect: Duration,
    /// Largest tool response body read into memory.
    pub max_response_bytes: u64,
}

/// Default of [`OutboundTimeouts::max_response_bytes`]: 8 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;

impl Default for OutboundTimeouts {
    fn default() -> Self {
        Self {
            request: Duration::from_secs(30),
            connect: Duration::from_secs(10),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// Reads `response`'s body, chunk by chunk, refusing it as soon as it
/// passes `limit` bytes (or announces more in `Content-Length`), so a huge
/// answer never sits in memory whole.
///
/// # Errors
///
/// [`OutboundError::TooLarge`] past the limit; transport errors while
/// reading, classified as [`OutboundError::from_reqwest`] does.
pub async fn read_limited(
    mut response: reqwest::Response,
    limit: u64,
    destination: &str,
    timeout: Duration,
) -> Result<Vec<u8>, OutboundError> {
    let too_large = || OutboundError::TooLarge(destination.to_owned(), limit);
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(
        usize::try_from(response.content_length().unwrap_or(0).min(64 * 1024)).unwrap_or(0),
    );
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| OutboundError::from_reqwest(destination, timeout, &e))?
    {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Resolves names with the system resolver and refuses the lookup when any
/// address is blocked.
struct CheckedResolver {
    policy: Arc<EgressPolicy>,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !policy.host_allowed(&host) {
                for addr in &addrs {
                    policy.check_ip(addr.ip()).map_err(|e| EgressError {
                        destination: format!("{host} ({})", e.destination),
                        reason: e.reason,
                    })?;
                }
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The shared outbound client and its policy.
#[derive(Debug)]
pub struct Outbound {
    policy: Arc<EgressPolicy>,
    timeouts: OutboundTimeouts,
    proxy: Option<url::Url>,
    client: OnceLock<reqwest::Client>,
}

impl Default for Outbound {
    fn default() -> Self {
        Self::new(EgressPolicy::default(), OutboundTimeouts::default())
    }
}

impl Outbound {
    /// A client factory with `policy` and `timeouts`; the client itself is
    /// built on first use.
    pub fn new(policy: EgressPolicy, timeouts: OutboundTimeouts) -> Self {
        Self {
            policy: Arc::new(policy),
            timeouts,
            proxy: None,
            client: OnceLock::new(),
        }
    }

    /// Sends every request through the HTTP proxy at `proxy`. Without it no
    /// proxy is used, whatever `HTTP_PROXY`/`HTTPS_PROXY` say: a proxy
    /// resolves names itself, so the policy could not see where a request
    /// really goes.
    #[must_use]
    pub fn with_proxy(mut self, proxy: Option<url::Url>) -> Self {
        self.proxy = proxy;
        self
    }

    /// The egress policy.
    pub fn policy(&self) -> &EgressPolicy {
        &self.policy
    }

    /// The default request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.timeouts.request
    }

    /// The largest tool response body read into memory.
    pub fn max_response_bytes(&self) -> u64 {
        self.timeouts.max_response_bytes
    }

    /// The client: redirects are never followed automatically.
    ///
    /// # Errors
    ///
    /// When the TLS backend cannot be initialised.
    pub fn client(&self) -> Result<&reqwest::Client, reqwest::Error> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.timeouts.connect)
            .timeout(self.timeouts.request)
            .dns_resolver(Arc::new(CheckedResolver {
                policy: self.policy.clone(),
            }));
        let builder = match &self.proxy {
            Some(proxy) => builder.proxy(reqwest::Proxy::all(proxy.as_str())?),
            None => builder.no_proxy(),
        };
        let client = builder.build()?;
        Ok(self.client.get_or_init(|| client))
    }

    /// Checks a URL before connecting: scheme, and the host against the
    /// policy (resolved addresses are checked again by the resolver).
    ///
    /// # Errors
    ///
    /// [`OutboundError::Scheme`] or [`OutboundError::Egress`].
    pub fn check_url(&self, url: &url::Url) -> Result<(), OutboundError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(OutboundError::Scheme(url.scheme().to_owned()));
        }
        let host = url.host().ok_or(OutboundError::NoHost)?;
        self.policy.check_host(&host)?;
        Ok(())
    }

    /// Checks a URL right before a request is sent:
    /// [`check_url`](Self::check_url), and, when requests go through a proxy (which
    /// resolves names itself, past this process's resolver), every address
    /// the host name resolves to.
    ///
    /// # Errors
    ///
    /// As [`check_url`](Self::check_url); a name that does not resolve.
    pub async fn check_destination(&self, url: &url::Url) -> Result<(), OutboundError> {
        self.check_url(url)?;
        let (Some(_), Some(url::Host::Domain(name))) = (&self.proxy, url.host()) else {
            return Ok(());
        };
        if self.policy.host_allowed(name) {
            return Ok(());
        }
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs = tokio::net::lookup_host((name, port)).await.map_err(|e| {
            OutboundError::Transport(loggable_url(url), format!("cannot resolve {name}: {e}"))
        })?;
        for addr in addrs {
            self.policy.check_ip(addr.ip()).map_err(|e| EgressError {
                destination: format!("{name} ({})", e.destination),
                reason: e.reason,
            })?;
        }
        Ok(())
    }
}

/// Why an outbound request was not sent or failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// Only http and https are allowed.
    #[error("refused {0} URL: only http and https are allowed")]
    Scheme(String),
    /// The URL has no host.
    #[error("the URL has no host")]
    NoHost,
    /// The egress policy refused the destination.
    #[error(transparent)]
    Egress(#[from] EgressError),
    /// The request timed out.
    #[error("{0} did not answer within {1:?}")]
    Timeout(String, Duration),
    /// The response body is larger than the configured limit.
    #[error("the response of {0} is larger than {1} bytes (general.limits.max_response_bytes)")]
    TooLarge(String, u64),
    /// Connecting or sending failed.
    #[error("request to {0} failed: {1}")]
    Transport(String, String),
}

impl OutboundError {
    /// Classifies a reqwest error for `destination` (logged without query).
    pub fn from_reqwest(destination: &str, timeout: Duration, error: &reqwest::Error) -> Self {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = source {
            if let Some(egress) = e.downcast_ref::<EgressError>() {
                return Self::Egress(egress.clone());
            }
            source = e.source();
        }
        if error.is_timeout() {
            return Self::Timeout(destination.to_owned(), timeout);
        }
        let mut detail = String::new();
        let mut source = std::error::Error::source(error);
        while let Some(e) = source {
            detail = e.to_string();
            source = e.source();
        }
        if detail.is_empty() {
            detail = if error.is_connect() {
                "could not connect".to_owned()
            } else {
                "transport error".to_owned()
            };
        }
        Self::Transport(destination.to_owned(), detail)
    }
}

/// A URL without its query and fragment, safe to log (queries may carry keys).
pub fn loggable_url(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}
