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

/// Timeouts of outbound requests.
#[derive(Debug, Clone, Copy)]
pub struct OutboundTimeouts {
    /// Whole request, unless the caller sets one.
    pub request: Duration,
    /// Connecting.
    pub connect: Duration,
}

impl Default for OutboundTimeouts {
    fn default() -> Self {
        Self {
            request: Duration::from_secs(30),
            connect: Duration::from_secs(10),
        }
    }
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
            client: OnceLock::new(),
        }
    }

    /// The egress policy.
    pub fn policy(&self) -> &EgressPolicy {
        &self.policy
    }

    /// The default request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.timeouts.request
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
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.timeouts.connect)
            .timeout(self.timeouts.request)
            .dns_resolver(Arc::new(CheckedResolver {
                policy: self.policy.clone(),
            }))
            .build()?;
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
