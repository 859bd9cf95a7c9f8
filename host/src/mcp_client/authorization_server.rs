//! Authorization server metadata (RFC 8414, then OpenID Connect Discovery)
//! of the issuer an MCP server's protected resource metadata names. Looked
//! up in the order MCP 2025-11-25 gives (path insertion first for an issuer
//! with a path); the document's `issuer` must be the identifier it was
//! looked up for (RFC 8414 §3.3), and its endpoints must be HTTPS (or
//! loopback), or it is refused.

use serde::Deserialize;

use authhost_plugin_api::protected_resource::authorization_server_metadata_urls;

use super::http::{get_json, secure_or_loopback};
use crate::outbound::{loggable_url, Outbound};

/// The parts of the metadata authhost uses.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthorizationServer {
    /// The issuer identifier.
    pub issuer: String,
    /// Where the user authorizes.
    pub authorization_endpoint: Option<url::Url>,
    /// Where codes and credentials become tokens.
    pub token_endpoint: url::Url,
    /// Dynamic client registration (RFC 7591), when offered.
    pub registration_endpoint: Option<url::Url>,
    /// The scopes it knows.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// PKCE methods; authhost requires `S256`.
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    /// Client authentication methods at the token endpoint (RFC 8414's
    /// default when absent: `client_secret_basic`).
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// Signing algorithms for `private_key_jwt`.
    #[serde(default)]
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// Whether a client may use the URL of its metadata document as its id.
    #[serde(default)]
    pub client_id_metadata_document_supported: bool,
    /// Whether callbacks carry `iss` (RFC 9207).
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

impl AuthorizationServer {
    /// The client authentication methods it accepts.
    pub fn auth_methods(&self) -> Vec<&str> {
        match &self.token_endpoint_auth_methods_supported {
            Some(methods) => methods.iter().map(String::as_str).collect(),
            None => vec!["client_secret_basic"],
        }
    }

    /// Whether it advertises PKCE with S256.
    pub fn supports_s256(&self) -> bool {
        self.code_challenge_methods_supported
            .iter()
            .any(|m| m == "S256")
    }
}

/// The metadata of the authorization server `issuer`.
///
/// # Errors
///
/// Why no place gave usable metadata for it (each place's answer, once).
pub async fn discover(outbound: &Outbound, issuer: &str) -> Result<AuthorizationServer, String> {
    let parsed = url::Url::parse(issuer)
        .map_err(|e| format!("the authorization server `{issuer}` is not a URL: {e}"))?;
    if !secure_or_loopback(&parsed) {
        return Err(format!(
            "the authorization server {issuer} is not HTTPS; authhost sends credentials only over HTTPS (or to loopback)"
        ));
    }
    let mut tried = Vec::new();
    for url in authorization_server_metadata_urls(&parsed) {
        let shown = loggable_url(&url);
        match get_json::<AuthorizationServer>(outbound, &url).await {
            Ok(metadata) => match check(&metadata, issuer) {
                Ok(()) => return Ok(metadata),
                Err(why) => tried.push(format!("{shown}: {why}")),
            },
            Err(why) => tried.push(format!("{shown} {why}")),
        }
    }
    Err(format!(
        "no authorization server metadata for {issuer}: {}",
        tried.join("; ")
    ))
}

/// The document is the issuer's and its endpoints may carry credentials.
fn check(metadata: &AuthorizationServer, issuer: &str) -> Result<(), String> {
    if metadata.issuer != issuer {
        return Err(format!(
            "its issuer is `{}`, not `{issuer}` (RFC 8414 §3.3)",
            crate::printable::printable(&metadata.issuer)
        ));
    }
    let endpoints = [
        Some(&metadata.token_endpoint),
        metadata.authorization_endpoint.as_ref(),
        metadata.registration_endpoint.as_ref(),
    ];
    for endpoint in endpoints.into_iter().flatten() {
        if !secure_or_loopback(endpoint) {
            return Err(format!(
                "its endpoint {} is not HTTPS",
                loggable_url(endpoint)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(issuer: &str, token: &str) -> AuthorizationServer {
        serde_json::from_value(serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": "https://as.example/authorize",
            "token_endpoint": token,
        }))
        .unwrap()
    }

    #[test]
    fn another_issuer_or_a_plain_http_endpoint_is_refused() {
        assert!(check(
            &metadata("https://as.example", "https://as.example/token"),
            "https://as.example"
        )
        .is_ok());
        assert!(check(
            &metadata("https://evil.example", "https://as.example/token"),
            "https://as.example"
        )
        .is_err());
        assert!(check(
            &metadata("https://as.example", "http://as.example/token"),
            "https://as.example"
        )
        .is_err());
    }

    #[test]
    fn absent_auth_methods_mean_client_secret_basic() {
        let m = metadata("https://as.example", "https://as.example/token");
        assert_eq!(m.auth_methods(), ["client_secret_basic"]);
        assert!(!m.supports_s256());
    }
}
