//! Authorization server endpoints: configured, or discovered from the
//! issuer's metadata (RFC 8414, OpenID Connect Discovery) on first use.

use std::sync::Mutex;

use authhost_plugin_api::{Error, ErrorKind, Host, HttpRequest};
use serde::Deserialize;
use url::Url;

/// The endpoints a flow needs.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    pub(crate) authorization: Url,
    pub(crate) token: Url,
    pub(crate) revocation: Option<Url>,
    /// The issuer, when configured or discovered (checked against `iss`).
    pub(crate) issuer: Option<String>,
    /// The server says it sends `iss` on redirects (RFC 9207).
    pub(crate) iss_parameter_supported: bool,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    issuer: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

/// Endpoints from configuration, completed by discovery when needed.
#[derive(Debug)]
pub(crate) struct Discovery {
    pub(crate) authorization: Option<Url>,
    pub(crate) token: Option<Url>,
    pub(crate) revocation: Option<Url>,
    pub(crate) issuer: Option<String>,
    pub(crate) discovery_urls: Vec<Url>,
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
                authorization: a.clone(),
                token: t.clone(),
                revocation: revocation.clone(),
                issuer: issuer.clone(),
                iss_parameter_supported: false,
            }),
            _ => None,
        };
        Ok(Self {
            authorization,
            token,
            revocation,
            issuer,
            discovery_urls,
            cached: Mutex::new(cached),
        })
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
        let mut last = Error::new(ErrorKind::Upstream, "no discovery document found");
        for url in &self.discovery_urls {
            match self.fetch(host, url).await {
                Ok(endpoints) => {
                    if let Ok(mut cached) = self.cached.lock() {
                        *cached = Some(endpoints.clone());
                    }
                    return Ok(endpoints);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn fetch(&self, host: &Host, url: &Url) -> Result<Endpoints, Error> {
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
        if let (Some(expected), Some(found)) = (&self.issuer, &metadata.issuer) {
            if expected.trim_end_matches('/') != found.trim_end_matches('/') {
                return Err(Error::new(
                    ErrorKind::InvalidRequest,
                    format!("discovery at {url} names issuer `{found}`, not the configured `{expected}`"),
                ));
            }
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
            authorization: pick(
                &self.authorization,
                metadata.authorization_endpoint.as_ref(),
                "authorization_endpoint",
            )?,
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
            issuer: self.issuer.clone().or(metadata.issuer),
            iss_parameter_supported: metadata.authorization_response_iss_parameter_supported,
        })
    }
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
