//! Protected resource metadata (RFC 9728) of an MCP server: which
//! authorization servers issue its tokens and which scopes it knows. Looked
//! up where MCP 2025-11-25 says: the URL in the server's challenge, else the
//! path-based well-known URL, else the root one; its `resource` must name
//! the server (RFC 9728 §3.3), or it is refused.

use serde::Deserialize;

use super::challenge::BearerChallenge;
use authhost_plugin_api::protected_resource::{names_server, resource_metadata_urls};

use super::http::get_json;
use crate::outbound::{loggable_url, Outbound};

/// The parts of the metadata authhost uses.
#[derive(Debug, Clone, Deserialize)]
pub struct ProtectedResource {
    /// The resource identifier: the server's URL or a parent of it.
    pub resource: String,
    /// The authorization servers' issuer identifiers.
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// The scopes the server knows.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
}

/// Where the metadata may be, in the order to try.
pub fn metadata_urls(server: &url::Url, challenge: Option<&BearerChallenge>) -> Vec<url::Url> {
    let mut urls = Vec::new();
    if let Some(url) = challenge
        .and_then(|c| c.resource_metadata.as_deref())
        .and_then(|u| url::Url::parse(u).ok())
    {
        urls.push(url);
    }
    for url in resource_metadata_urls(server) {
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    urls
}

/// The server's metadata and where it was found.
///
/// # Errors
///
/// Why none of the places gave metadata naming this server (each place's
/// answer, once).
pub async fn protected_resource(
    outbound: &Outbound,
    server: &url::Url,
    challenge: Option<&BearerChallenge>,
) -> Result<(url::Url, ProtectedResource), String> {
    let mut tried = Vec::new();
    for url in metadata_urls(server, challenge) {
        let shown = loggable_url(&url);
        match get_json::<ProtectedResource>(outbound, &url).await {
            Ok(metadata) if names_server(&metadata.resource, server) => return Ok((url, metadata)),
            Ok(metadata) => tried.push(format!(
                "{shown} names another resource ({})",
                metadata.resource
            )),
            Err(why) => tried.push(format!("{shown} {why}")),
        }
    }
    Err(tried.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> url::Url {
        url::Url::parse(text).unwrap()
    }

    #[test]
    fn looks_at_the_challenge_then_the_path_then_the_root() {
        let challenge = BearerChallenge {
            resource_metadata: Some("https://mcp.example/custom/meta.json".to_owned()),
            ..BearerChallenge::default()
        };
        let urls: Vec<String> =
            metadata_urls(&url("https://mcp.example/tenant/mcp?x=1"), Some(&challenge))
                .iter()
                .map(ToString::to_string)
                .collect();
        assert_eq!(
            urls,
            [
                "https://mcp.example/custom/meta.json",
                "https://mcp.example/.well-known/oauth-protected-resource/tenant/mcp",
                "https://mcp.example/.well-known/oauth-protected-resource",
            ]
        );
        assert_eq!(metadata_urls(&url("https://mcp.example/"), None).len(), 1);
    }
}
