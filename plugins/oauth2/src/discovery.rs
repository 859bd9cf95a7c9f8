//! Authorization server endpoints: configured, or discovered from the
//! issuer's metadata (RFC 8414, OpenID Connect Discovery) on first use —
//! or, for an MCP server, from its protected resource metadata (RFC 9728)
//! first, as MCP 2025-11-25 says: the resource must name the server, the
//! authorization server's `issuer` must be the one it names, and PKCE S256
//! must be advertised.

use std::sync::Mutex;

use authhost_plugin_api::{
    protected_resource::{
        authorization_server_metadata_urls, names_server, resource_metadata_urls,
    },
    Error, ErrorKind, Host, HttpRequest,
};
use serde::Deserialize;
use url::Url;

/// The endpoints a flow needs.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    /// Where browsers authorize; always found for a browser flow, possibly
    /// absent for a machine client (see [`Discovery::for_protected_resource`]).
    pub(crate) authorization: Option<Url>,
    pub(crate) token: Url,
    pub(crate) revocation: Option<Url>,
    /// The issuer, when configured or discovered (checked against `iss`).
    pub(crate) issuer: Option<String>,
    /// The server says it sends `iss` on redirects (RFC 9207).
    pub(crate) iss_parameter_supported: bool,
    /// The scopes the protected resource lists (MCP discovery only).
    pub(crate) resource_scopes: Vec<String>,
    /// The server accepts Client ID Metadata Document URLs as client ids.
    pub(crate) client_id_metadata_document_supported: bool,
    /// Its dynamic client registration endpoint (RFC 7591), if any.
    pub(crate) registration: Option<Url>,
    /// The token endpoint authentication methods it lists (empty: RFC
    /// 8414's default, `client_secret_basic`).
    pub(crate) token_endpoint_auth_methods: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    issuer: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    client_id_metadata_document_supported: bool,
    registration_endpoint: Option<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Vec<String>,
}

/// Protected resource metadata (RFC 9728), the parts used.
#[derive(Debug, Deserialize)]
struct ResourceMetadata {
    resource: String,
    #[serde(default)]
    authorization_servers: Vec<String>,
    #[serde(default)]
    scopes_supported: Vec<String>,
}

/// Endpoints from configuration, completed by discovery when needed.
#[derive(Debug)]
pub(crate) struct Discovery {
    pub(crate) authorization: Option<Url>,
    pub(crate) token: Option<Url>,
    pub(crate) revocation: Option<Url>,
    pub(crate) issuer: Option<String>,
    pub(crate) discovery_urls: Vec<Url>,
    /// An MCP server whose protected resource metadata names the
    /// authorization server.
    protected_resource: Option<Url>,
    /// A browser flow uses the endpoints: an authorization endpoint is
    /// required, and for an MCP server PKCE S256 must be advertised.
    browser: bool,
    cached: Mutex<Option<Endpoints>>,
}

/// RFC 8414 §3: the well-known path goes between the host and the issuer's path.
fn well_known(issuer: &Url, suffix: &str) -> Option<Url> {
    let path = issuer.path().trim_end_matches('/');
    let mut url = issuer.clone();
    url.set_path(&format!("/.well-known/{suffix}{path}"));
    url.set_query(None);
    Some(url)
}

impl Discovery {
    pub(crate) fn new(
        authorization: Option<Url>,
        token: Option<Url>,
        revocation: Option<Url>,
        issuer: Option<String>,
        discovery_url: Option<Url>,
    ) -> Result<Self, Error> {
        let mut discovery_urls = Vec::new();
        if let Some(url) = discovery_url {
            discovery_urls.push(url);
        } else if authorization.is_none() || token.is_none() {
            let Some(issuer) = &issuer else {
                return Err(Error::config(
                    "set authorization_url and token_url, or issuer / discovery_url to discover them",
                ));
            };
            let issuer_url = crate::common::check_url("issuer", issuer)?;
            discovery_urls.extend(well_known(&issuer_url, "oauth-authorization-server"));
            let mut openid = issuer_url.clone();
            openid.set_path(&format!(
                "{}/.well-known/openid-configuration",
                issuer_url.path().trim_end_matches('/')
            ));
            discovery_urls.push(openid);
        }
        let cached = match (&authorization, &token, discovery_urls.is_empty()) {
            (Some(a), Some(t), true) => Some(Endpoints {
                authorization: Some(a.clone()),
                token: t.clone(),
                revocation: revocation.clone(),
                issuer: issuer.clone(),
                iss_parameter_supported: false,
                resource_scopes: Vec::new(),
                client_id_metadata_document_supported: false,
                registration: None,
                token_endpoint_auth_methods: Vec::new(),
            }),
            _ => None,
        };
        Ok(Self {
            authorization,
            token,
            revocation,
            issuer,
            discovery_urls,
            protected_resource: None,
            browser: true,
            cached: Mutex::new(cached),
        })
    }

    /// Endpoints found from the MCP server at `server`: its protected
    /// resource metadata, then its authorization server's metadata. A
    /// `browser` flow (authorization code) needs the authorization endpoint
    /// and PKCE S256; a machine client (client credentials) only the token
    /// endpoint.
    pub(crate) fn for_protected_resource(server: Url, browser: bool) -> Self {
        Self {
            authorization: None,
            token: None,
            revocation: None,
            issuer: None,
            discovery_urls: Vec::new(),
            protected_resource: Some(server),
            browser,
            cached: Mutex::new(None),
        }
    }

    /// The endpoints, discovering them on first use.
    pub(crate) async fn endpoints(&self, host: Option<&Host>) -> Result<Endpoints, Error> {
        if let Some(e) = self
            .cached
            .lock()
            .map_err(|_| Error::internal("discovery lock poisoned"))?
            .clone()
        {
            return Ok(e);
        }
        let host = host.ok_or_else(|| Error::internal("discovery needs the authhost host"))?;
        let endpoints = match &self.protected_resource {
            Some(server) => self.discover_from_resource(host, server).await?,
            None => {
                self.first_found(host, &self.discovery_urls, self.issuer.as_deref())
                    .await?
            }
        };
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some(endpoints.clone());
        }
        Ok(endpoints)
    }

    /// The endpoints from the first of `urls` that gives usable metadata.
    async fn first_found(
        &self,
        host: &Host,
        urls: &[Url],
        issuer: Option<&str>,
    ) -> Result<Endpoints, Error> {
        let mut last = Error::new(ErrorKind::Upstream, "no discovery document found");
        for url in urls {
            match self.fetch(host, url, issuer).await {
                Ok(endpoints) => return Ok(endpoints),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// MCP discovery: the protected resource metadata of `server` (path
    /// based, then root), then its first authorization server's metadata
    /// in MCP's order (RFC 8414 path insertion, OpenID path insertion,
    /// OpenID path appending).
    async fn discover_from_resource(&self, host: &Host, server: &Url) -> Result<Endpoints, Error> {
        let candidates = resource_metadata_urls(server);
        let mut resource = None;
        let mut why = Vec::new();
        for url in &candidates {
            match get_json::<ResourceMetadata>(host, url).await {
                Ok(metadata) if names_server(&metadata.resource, server) => {
                    resource = Some(metadata);
                    break;
                }
                Ok(metadata) => why.push(format!(
                    "{url} names another resource ({})",
                    metadata.resource
                )),
                Err(e) => why.push(e),
            }
        }
        let resource = resource.ok_or_else(|| {
            Error::new(
                ErrorKind::Upstream,
                format!(
                    "no protected resource metadata names {server}: {}",
                    why.join("; ")
                ),
            )
        })?;
        let issuer = resource.authorization_servers.first().ok_or_else(|| {
            Error::new(
                ErrorKind::Upstream,
                format!(
                    "the protected resource metadata of {server} names no authorization server"
                ),
            )
        })?;
        let issuer_url = crate::common::check_url("authorization server", issuer)?;
        let urls = authorization_server_metadata_urls(&issuer_url);
        let mut endpoints = self.first_found(host, &urls, Some(issuer)).await?;
        endpoints.resource_scopes = resource.scopes_supported;
        Ok(endpoints)
    }

    async fn fetch(
        &self,
        host: &Host,
        url: &Url,
        issuer: Option<&str>,
    ) -> Result<Endpoints, Error> {
        let response = host
            .http(HttpRequest::new("GET", url.as_str()).header("accept", "application/json"))
            .await?;
        if response.status != 200 {
            return Err(Error::new(
                ErrorKind::Upstream,
                format!("discovery at {url} answered {}", response.status),
            ));
        }
        let metadata: Metadata = serde_json::from_slice(&response.body).map_err(|_| {
            Error::new(
                ErrorKind::Upstream,
                format!("discovery at {url}: not a metadata document"),
            )
        })?;
        if let (Some(expected), Some(found)) = (issuer, &metadata.issuer) {
            if expected.trim_end_matches('/') != found.trim_end_matches('/') {
                return Err(Error::new(
                    ErrorKind::InvalidRequest,
                    format!(
                        "discovery at {url} names issuer `{found}`, not the expected `{expected}`"
                    ),
                ));
            }
        }
        if self.protected_resource.is_some()
            && self.browser
            && !metadata
                .code_challenge_methods_supported
                .iter()
                .any(|m| m == "S256")
        {
            return Err(Error::new(
                ErrorKind::Upstream,
                format!("the authorization server at {url} does not advertise PKCE S256, which MCP requires"),
            ));
        }
        let pick = |configured: &Option<Url>,
                    discovered: Option<&String>,
                    name: &str|
         -> Result<Url, Error> {
            match (configured, discovered) {
                (Some(c), _) => Ok(c.clone()),
                (None, Some(d)) => crate::common::check_url(name, d),
                (None, None) => Err(Error::new(
                    ErrorKind::Upstream,
                    format!("discovery at {url} has no {name}"),
                )),
            }
        };
        Ok(Endpoints {
            authorization: match pick(
                &self.authorization,
                metadata.authorization_endpoint.as_ref(),
                "authorization_endpoint",
            ) {
                Ok(found) => Some(found),
                Err(e) if self.browser => return Err(e),
                Err(_) => None,
            },
            token: pick(
                &self.token,
                metadata.token_endpoint.as_ref(),
                "token_endpoint",
            )?,
            revocation: match (&self.revocation, &metadata.revocation_endpoint) {
                (Some(r), _) => Some(r.clone()),
                (None, Some(r)) => Some(crate::common::check_url("revocation_endpoint", r)?),
                (None, None) => None,
            },
            issuer: issuer.map(str::to_owned).or(metadata.issuer),
            iss_parameter_supported: metadata.authorization_response_iss_parameter_supported,
            resource_scopes: Vec::new(),
            client_id_metadata_document_supported: metadata.client_id_metadata_document_supported,
            registration: metadata
                .registration_endpoint
                .as_deref()
                .map(|r| crate::common::check_url("registration_endpoint", r))
                .transpose()?,
            token_endpoint_auth_methods: metadata.token_endpoint_auth_methods_supported,
        })
    }
}

/// A JSON document at `url`, or why not.
async fn get_json<T: serde::de::DeserializeOwned>(host: &Host, url: &Url) -> Result<T, String> {
    let response = host
        .http(HttpRequest::new("GET", url.as_str()).header("accept", "application/json"))
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if response.status != 200 {
        return Err(format!("{url} answered {}", response.status));
    }
    serde_json::from_slice(&response.body).map_err(|_| format!("{url}: not a metadata document"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_paths() {
        let issuer = Url::parse("https://as.example.com/tenant1").expect("url");
        assert_eq!(
            well_known(&issuer, "oauth-authorization-server")
                .expect("url")
                .as_str(),
            "https://as.example.com/.well-known/oauth-authorization-server/tenant1"
        );
        let root = Url::parse("https://as.example.com").expect("url");
        assert_eq!(
            well_known(&root, "oauth-authorization-server")
                .expect("url")
                .as_str(),
            "https://as.example.com/.well-known/oauth-authorization-server"
        );
    }
}
