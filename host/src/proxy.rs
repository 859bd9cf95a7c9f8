//! The pass-through proxy: a caller's request sent on to a provider's API
//! (`_base_url` of its entry) with the caller's credentials applied exactly
//! as for a tool call. Bodies stream both ways; a small request body is kept
//! so that a 401 to a token authhost believed valid can be answered by one
//! refresh and one retry. Used by `/v1/proxy/{provider}/…` and
//! `authhost curl`.

use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, Method, StatusCode};
use sha2::{Digest, Sha256};

use authhost_plugin_api::{Capabilities, OutgoingRequest};

use crate::{
    broker::Credentials,
    credentials::{apply, is_reserved_header, PreparedRequest, HOP_BY_HOP},
    inbound::Caller,
    invoke::{InvokeError, Invoker},
    outbound::{loggable_url, OutboundError},
    plugin::ProviderHandle,
    workflow::ProxyConfig,
};

/// The header a caller picks another listed `_base_url` with.
pub const BASE_URL_HEADER: &str = "x-authhost-base-url";

/// A request body to pass on.
#[derive(Debug)]
pub enum ProxyBody {
    /// Held in memory (small, or read whole): replayable, and hashable for
    /// providers that sign each request.
    Buffered(Bytes),
    /// Streamed as it arrives: sent once.
    Streaming(reqwest::Body),
}

/// A caller's request, before credentials. Its `Debug` shows header names
/// only (the caller's headers may hold secrets).
pub struct ProxyRequest {
    /// The method, passed on.
    pub method: Method,
    /// The path below the base URL, as the caller wrote it (still
    /// percent-encoded), without a leading `/`.
    pub path: String,
    /// The query, as the caller wrote it.
    pub query: Option<String>,
    /// The caller's headers; [`Invoker::forward`] drops what must not pass.
    pub headers: HeaderMap,
    /// The body.
    pub body: ProxyBody,
}

impl std::fmt::Debug for ProxyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body", &self.body)
            .finish()
    }
}

/// Why a request could not be passed on.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// No such provider instance.
    #[error("no provider `{0}`")]
    UnknownProvider(String),
    /// The provider entry has no `_base_url`.
    #[error("provider `{0}` has no `_base_url`, so nothing can be proxied to it")]
    NoBaseUrl(String),
    /// The caller's path or base URL choice is not allowed.
    #[error("{0}")]
    BadRequest(String),
    /// A provider that signs each request needs the whole body first.
    #[error("provider `{provider}` signs each request, so the body must be at most {limit} bytes (general.server.proxy.replay_limit)")]
    TooLargeToSign {
        /// The provider instance.
        provider: String,
        /// The limit.
        limit: u64,
    },
    /// Credentials, authorization, policy or transport, as for a tool call.
    #[error(transparent)]
    Invoke(#[from] InvokeError),
}

/// Headers of the transport, the caller's own credentials and authhost's
/// own: never passed on (`trusted`: the inbound user header, if any).
fn dropped(name: &HeaderName, connection: &[String], trusted: Option<&str>) -> bool {
    (is_reserved_header(name) && name != header::CONTENT_LENGTH)
        || name == header::AUTHORIZATION
        || name == header::COOKIE
        || name.as_str() == BASE_URL_HEADER
        || trusted == Some(name.as_str())
        || connection.iter().any(|c| c == name.as_str())
}

/// The names a `Connection` header lists (hop-by-hop by declaration).
fn connection_names(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect()
}

/// The caller's headers without what must not pass (`trusted`: the inbound
/// user header).
pub fn forwardable(headers: &HeaderMap, trusted: Option<&str>) -> HeaderMap {
    let connection = connection_names(headers);
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if !dropped(name, &connection, trusted) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// An upstream answer's headers without the hop-by-hop ones.
pub fn response_headers(headers: &HeaderMap) -> HeaderMap {
    let connection = connection_names(headers);
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let hop =
            HOP_BY_HOP.contains(&name.as_str()) || connection.iter().any(|c| c == name.as_str());
        if !hop {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// The upstream URL of `path` (percent-encoded, no leading `/`) and `query`
/// below `base`; refused when the path's dot segments would leave the base
/// path.
pub fn target_url(base: &url::Url, path: &str, query: Option<&str>) -> Result<url::Url, String> {
    let base_path = base.path().trim_end_matches('/');
    let mut url = base.clone();
    url.set_path(&format!("{base_path}/{path}"));
    url.set_query(query.filter(|q| !q.is_empty()));
    let inside = url.path() == base_path
        || url
            .path()
            .strip_prefix(base_path)
            .is_some_and(|rest| rest.starts_with('/'));
    if url.origin() != base.origin() || !inside {
        return Err(format!(
            "the path leaves the provider's base URL ({})",
            loggable_url(base)
        ));
    }
    Ok(url)
}

impl Invoker {
    /// The base URL of `provider` for a request whose caller asked for
    /// `chosen` (`X-Authhost-Base-Url`), else its first.
    fn base_url(&self, provider: &str, chosen: Option<&str>) -> Result<url::Url, ProxyError> {
        let entry = self
            .workflow()
            .providers
            .get(provider)
            .ok_or_else(|| ProxyError::UnknownProvider(provider.to_owned()))?;
        let first = entry
            .base_urls
            .first()
            .ok_or_else(|| ProxyError::NoBaseUrl(provider.to_owned()))?;
        let Some(chosen) = chosen else {
            return Ok(first.clone());
        };
        let wanted = url::Url::parse(chosen).ok();
        entry
            .base_urls
            .iter()
            .find(|b| Some(*b) == wanted.as_ref())
            .cloned()
            .ok_or_else(|| {
                ProxyError::BadRequest(format!(
                    "{BASE_URL_HEADER}: not one of authentication.{provider}._base_url"
                ))
            })
    }

    /// One attempt: credentials for `caller` applied to `target`, sent with
    /// `headers` and `body` (`buffered`: the body, when held in memory).
    async fn send_proxied(
        &self,
        handle: &ProviderHandle,
        caller: &Caller,
        target: (&Method, &url::Url, Option<&Bytes>),
        (mut headers, body): (HeaderMap, reqwest::Body),
        config: &ProxyConfig,
    ) -> Result<reqwest::Response, ProxyError> {
        let (method, url, buffered) = target;
        let provider = handle.instance();
        let outgoing = handle
            .capabilities()
            .contains(Capabilities::PER_REQUEST)
            .then(|| match buffered {
                Some(bytes) => Ok(OutgoingRequest {
                    method: method.to_string(),
                    url: url.to_string(),
                    body_sha256: (!bytes.is_empty()).then(|| hex::encode(Sha256::digest(bytes))),
                    headers: crate::credentials::headers_to_sign(handle.capabilities(), &headers),
                }),
                None => Err(ProxyError::TooLargeToSign {
                    provider: provider.to_owned(),
                    limit: config.replay_limit,
                }),
            })
            .transpose()?;
        let credentials = match self
            .broker()
            .credentials(handle, &caller.user, caller.token.as_ref(), outgoing)
            .await
            .map_err(InvokeError::from)?
        {
            Credentials::Ready(credentials) => credentials,
            Credentials::AuthorizationRequired { reason } => {
                return Err(InvokeError::AuthorizationRequired {
                    provider: provider.to_owned(),
                    user: caller.user.clone(),
                    reason,
                    scopes: Vec::new(),
                }
                .into())
            }
        };
        let mut prepared = PreparedRequest {
            method: method.clone(),
            url: url.clone(),
            headers: HeaderMap::new(),
            body: None,
            timeout: None,
        };
        apply(&mut prepared, &credentials).map_err(|error| InvokeError::Apply {
            provider: provider.to_owned(),
            error,
        })?;
        for name in prepared.headers.keys() {
            headers.remove(name);
        }
        for (name, value) in prepared.headers {
            if let Some(name) = name {
                headers.append(name, value);
            }
        }
        let outbound = &self.workflow().outbound;
        outbound
            .check_destination(&prepared.url)
            .await
            .map_err(InvokeError::from)?;
        let client = outbound
            .client()
            .map_err(|e| OutboundError::Transport("(client)".to_owned(), e.to_string()))
            .map_err(InvokeError::from)?;
        let destination = loggable_url(&prepared.url);
        let timeout = config.timeout.0;
        client
            .request(method.clone(), prepared.url)
            .headers(headers)
            .timeout(timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                InvokeError::from(OutboundError::from_reqwest(&destination, timeout, &e)).into()
            })
    }

    /// Passes `request` on to `provider`'s API with `caller`'s credentials.
    /// Redirects are not followed (the caller gets them). An upstream 401
    /// to a stored grant's token, for a buffered body, gets one refresh and
    /// one retry.
    ///
    /// # Errors
    ///
    /// [`ProxyError`]: unknown provider or base URL, a path leaving the
    /// base URL, and what a tool call can fail with.
    pub async fn forward(
        &self,
        provider: &str,
        caller: &Caller,
        chosen_base: Option<&str>,
        request: ProxyRequest,
        config: &ProxyConfig,
    ) -> Result<reqwest::Response, ProxyError> {
        let base = self.base_url(provider, chosen_base)?;
        let url = target_url(&base, &request.path, request.query.as_deref())
            .map_err(ProxyError::BadRequest)?;
        let handle = self.provider(provider).map_err(InvokeError::from)?;
        let ProxyRequest {
            method,
            headers,
            body,
            ..
        } = request;
        let bytes = match body {
            ProxyBody::Streaming(body) => {
                let target = (&method, &url, None);
                return self
                    .send_proxied(&handle, caller, target, (headers, body), config)
                    .await;
            }
            ProxyBody::Buffered(bytes) => bytes,
        };
        // A held body can be sent again after one refresh, for providers
        // whose stored grants refresh.
        let target = (&method, &url, Some(&bytes));
        let kept = handle.refreshes_user_grants().then(|| headers.clone());
        let response = self
            .send_proxied(
                &handle,
                caller,
                target,
                (headers, bytes.clone().into()),
                config,
            )
            .await?;
        let Some(headers) = kept else {
            return Ok(response);
        };
        if response.status() != StatusCode::UNAUTHORIZED
            || !self
                .broker()
                .refresh_rejected(&handle, &caller.user)
                .await
                .map_err(InvokeError::from)?
        {
            return Ok(response);
        }
        self.send_proxied(
            &handle,
            caller,
            target,
            (headers, bytes.clone().into()),
            config,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_below_the_base_url() {
        let base = url::Url::parse("https://api.example.com/v3/").expect("url");
        let ok =
            |path: &str, query: Option<&str>| target_url(&base, path, query).map(|u| u.to_string());
        assert_eq!(
            ok("repos/a/b", Some("page=2")).as_deref(),
            Ok("https://api.example.com/v3/repos/a/b?page=2")
        );
        assert_eq!(ok("", None).as_deref(), Ok("https://api.example.com/v3/"));
        assert_eq!(
            ok("a%2Fb/c", None).as_deref(),
            Ok("https://api.example.com/v3/a%2Fb/c")
        );
        for escape in [
            "../admin",
            "a/../../admin",
            "%2e%2e/admin",
            "a/%2E%2E/%2e%2e/x",
            "..",
            "./../x",
        ] {
            assert!(ok(escape, None).is_err(), "{escape} left the base");
        }
        assert!(
            ok("a/../b", None).is_ok(),
            "dot segments within the base are fine"
        );
        let root = url::Url::parse("https://api.example.com").expect("url");
        assert_eq!(
            target_url(&root, "x", None)
                .map(|u| u.to_string())
                .as_deref(),
            Ok("https://api.example.com/x")
        );
        let sibling = url::Url::parse("https://api.example.com/v3").expect("url");
        assert!(target_url(&sibling, "../v30/x", None).is_err());
    }

    #[test]
    fn hop_by_hop_and_the_callers_credentials_never_pass() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("authorization", "Bearer caller"),
            ("cookie", "session=caller"),
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("transfer-encoding", "chunked"),
            ("x-forwarded-for", "10.0.0.1"),
            ("host", "authhost"),
            ("x-user-id", "alice"),
            ("x-authhost-base-url", "https://a"),
            ("accept", "application/json"),
            ("content-length", "5"),
            ("x-github-api-version", "2022-11-28"),
        ] {
            headers.append(
                HeaderName::from_static(name),
                http::HeaderValue::from_static(value),
            );
        }
        let kept = forwardable(&headers, Some("x-user-id"));
        let names: Vec<&str> = kept.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["accept", "content-length", "x-github-api-version"]);
    }
}
