//! Who authhost is at the authorization server: the client configured, or
//! — for an MCP server configured without one — the order MCP 2025-11-25
//! gives: the URL of authhost's Client ID Metadata Document where the
//! server accepts those, else a client registered dynamically (RFC 7591).
//! A registration is kept in the host's store per (issuer, redirect URI),
//! so restarts and replicas use the one registration, and every user's
//! tokens stay refreshable with the client they were issued to.

use std::sync::{Arc, Mutex};

use authhost_plugin_api::{
    client_registration::{self, Registered, RegisteredAuth},
    Error, ErrorKind, Host, HttpRequest, Secret,
};
use serde::{Deserialize, Serialize};

use crate::{common::TokenEndpointAuthMethod, discovery::Endpoints};

/// A client id and how it authenticates at the token endpoint.
#[derive(Debug)]
pub(crate) struct ClientIdentity {
    pub(crate) id: String,
    pub(crate) secret: Option<Secret>,
    pub(crate) method: TokenEndpointAuthMethod,
}

/// Where the client identity comes from.
#[derive(Debug)]
pub(crate) enum ClientSource {
    /// Written in the configuration.
    Configured(Arc<ClientIdentity>),
    /// Found at the authorization server: `metadata_document` (a Client ID
    /// Metadata Document URL) where it accepts those, else registration.
    Discovered {
        metadata_document: Option<String>,
        registered: Mutex<Option<Arc<ClientIdentity>>>,
    },
}

/// A registration as kept in the host's store (sealed).
#[derive(Serialize, Deserialize)]
struct Kept {
    client_id: String,
    client_secret: Option<String>,
    method: TokenEndpointAuthMethod,
    /// Unix seconds; `0`: the secret never expires.
    expires_at: i64,
}

impl ClientSource {
    /// A client found at the authorization server.
    pub(crate) fn discovered(metadata_document: Option<String>) -> Self {
        Self::Discovered {
            metadata_document,
            registered: Mutex::new(None),
        }
    }

    /// The client identity to use at the server `endpoints` describe;
    /// `redirect_uri` is the one a registration is made for.
    pub(crate) async fn identity(
        &self,
        host: &Option<Host>,
        endpoints: &Endpoints,
        redirect_uri: &str,
    ) -> Result<Arc<ClientIdentity>, Error> {
        let (metadata_document, registered) = match self {
            Self::Configured(identity) => return Ok(identity.clone()),
            Self::Discovered {
                metadata_document,
                registered,
            } => (metadata_document, registered),
        };
        if let Some(url) = metadata_document {
            if endpoints.client_id_metadata_document_supported {
                return Ok(Arc::new(ClientIdentity {
                    id: url.clone(),
                    secret: None,
                    method: TokenEndpointAuthMethod::None,
                }));
            }
        }
        let host = crate::common::require_host(host)?;
        let now = crate::common::now_secs(Some(host));
        if let Some(identity) = registered.lock().ok().and_then(|r| r.clone()) {
            return Ok(identity);
        }
        let Some(endpoint) = &endpoints.registration else {
            return Err(Error::config(format!(
                "client_id: the authorization server {} offers no dynamic client registration{}; register authhost there and set client_id",
                endpoints.issuer.as_deref().unwrap_or("(unnamed)"),
                if metadata_document.is_some() {
                    " and does not accept Client ID Metadata Documents"
                } else {
                    ""
                },
            )));
        };
        let key = registration_key(endpoints, redirect_uri);
        let kept = match host.kept(&key).await? {
            Some(value) => match parse(&value) {
                Some(kept) if kept.expires_at == 0 || kept.expires_at > now + 60 => Some(kept),
                _ => {
                    host.forget(&key).await?;
                    None
                }
            },
            None => None,
        };
        let kept = match kept {
            Some(kept) => kept,
            None => {
                let mine = register(host, endpoint, endpoints, redirect_uri).await?;
                let value = Secret::new(
                    serde_json::to_string(&mine)
                        .map_err(|_| Error::internal("serialising a registration failed"))?,
                );
                // Another replica may have registered first: use its client.
                let winner = host.keep_first(&key, &value).await?;
                parse(&winner)
                    .ok_or_else(|| Error::internal("the kept client registration is unreadable"))?
            }
        };
        let identity = Arc::new(ClientIdentity {
            id: kept.client_id,
            secret: kept.client_secret.map(Secret::new),
            method: kept.method,
        });
        if let Ok(mut cached) = registered.lock() {
            *cached = Some(identity.clone());
        }
        Ok(identity)
    }

    /// Drops a registered client the authorization server no longer knows
    /// (it answered `invalid_client`), so the next authorization registers
    /// anew. A configured client is left alone.
    pub(crate) async fn forget_registration(
        &self,
        host: &Option<Host>,
        endpoints: &Endpoints,
        redirect_uri: &str,
    ) -> Result<(), Error> {
        let Self::Discovered { registered, .. } = self else {
            return Ok(());
        };
        let Some(stale) = registered.lock().ok().and_then(|mut r| r.take()) else {
            return Ok(());
        };
        let host = crate::common::require_host(host)?;
        let key = registration_key(endpoints, redirect_uri);
        // Only if the kept one is still the stale one (not a replica's new one).
        if let Some(value) = host.kept(&key).await? {
            if parse(&value).is_some_and(|k| k.client_id == stale.id) {
                host.forget(&key).await?;
            }
        }
        Ok(())
    }
}

fn registration_key(endpoints: &Endpoints, redirect_uri: &str) -> String {
    format!(
        "registration {} {redirect_uri}",
        endpoints
            .issuer
            .as_deref()
            .unwrap_or(endpoints.token.as_str())
    )
}

fn parse(value: &Secret) -> Option<Kept> {
    serde_json::from_str(value.expose()).ok()
}

/// Registers authhost at `endpoint` for `redirect_uri`.
async fn register(
    host: &Host,
    endpoint: &url::Url,
    endpoints: &Endpoints,
    redirect_uri: &str,
) -> Result<Kept, Error> {
    let loopback = matches!(
        endpoint.host_str(),
        Some("127.0.0.1" | "[::1]" | "localhost")
    );
    if endpoint.scheme() != "https" && !loopback {
        return Err(Error::new(
            ErrorKind::Upstream,
            format!("the registration endpoint {endpoint} is not https"),
        ));
    }
    let accepted: Vec<&str> = endpoints
        .token_endpoint_auth_methods
        .iter()
        .map(String::as_str)
        .collect();
    let method = client_registration::method_to_ask(&accepted).ok_or_else(|| {
        Error::config(format!(
            "client_id: the authorization server accepts only {} at its token endpoint; register authhost there and set client_id",
            accepted.join(", ")
        ))
    })?;
    let body = client_registration::request(
        Some(redirect_uri),
        &["authorization_code", "refresh_token"],
        method,
    );
    let response = host
        .http(
            HttpRequest::new("POST", endpoint.as_str())
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .body(body.to_string()),
        )
        .await?;
    if !(200..300).contains(&response.status) {
        let code = serde_json::from_slice::<serde_json::Value>(&response.body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        return Err(Error::new(
            ErrorKind::Upstream,
            format!(
                "registering authhost at {endpoint} failed: it answered {}{}",
                response.status,
                code.map(|c| format!(" ({c})")).unwrap_or_default()
            ),
        ));
    }
    let registered: Registered = serde_json::from_slice(&response.body).map_err(|_| {
        Error::new(
            ErrorKind::Upstream,
            format!("registering authhost at {endpoint}: the answer is not a client registration"),
        )
    })?;
    let (method, secret) = match registered
        .auth(&accepted)
        .map_err(|why| Error::new(ErrorKind::Upstream, why))?
    {
        RegisteredAuth::None => (TokenEndpointAuthMethod::None, None),
        RegisteredAuth::Basic(s) => (TokenEndpointAuthMethod::ClientSecretBasic, Some(s)),
        RegisteredAuth::Post(s) => (TokenEndpointAuthMethod::ClientSecretPost, Some(s)),
    };
    Ok(Kept {
        client_id: registered.client_id,
        client_secret: secret.map(|s| s.expose().to_owned()),
        method,
        expires_at: registered.client_secret_expires_at,
    })
}
