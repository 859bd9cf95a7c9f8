//! Protected resource metadata (RFC 9728) checks and the discovery orders
//! of MCP 2025-11-25, shared by the host's MCP client and the `mcp_oauth2`
//! provider.

/// Whether the metadata's `resource` names the server at `server` (RFC 9728
/// §3.3): the same origin, no query, and the server's path equal to or
/// under the resource's at a segment boundary. Metadata naming another
/// resource must not be used.
pub fn names_server(resource: &str, server: &url::Url) -> bool {
    let Ok(resource) = url::Url::parse(resource) else {
        return false;
    };
    if resource.origin() != server.origin() || resource.query().is_some() {
        return false;
    }
    let base = resource.path().trim_end_matches('/');
    let path = server.path();
    path == base
        || path
            .strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Where the protected resource metadata of the server at `server` may
/// be, in the order to try: the path-based well-known URL, then the root one.
pub fn resource_metadata_urls(server: &url::Url) -> Vec<url::Url> {
    let path = server.path().trim_end_matches('/');
    let mut urls: Vec<url::Url> = Vec::new();
    for suffix in [path, ""] {
        let mut url = server.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.set_path(&format!("/.well-known/oauth-protected-resource{suffix}"));
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    urls
}

/// Where the metadata of the authorization server `issuer` may be, in the
/// order to try: RFC 8414 path insertion, OpenID Connect path insertion,
/// then OpenID Connect path appending (the last two are one URL for an
/// issuer without a path).
pub fn authorization_server_metadata_urls(issuer: &url::Url) -> Vec<url::Url> {
    let path = issuer.path().trim_end_matches('/');
    let at = |path: String| {
        let mut url = issuer.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.set_path(&path);
        url
    };
    if path.is_empty() {
        vec![
            at("/.well-known/oauth-authorization-server".to_owned()),
            at("/.well-known/openid-configuration".to_owned()),
        ]
    } else {
        vec![
            at(format!("/.well-known/oauth-authorization-server{path}")),
            at(format!("/.well-known/openid-configuration{path}")),
            at(format!("{path}/.well-known/openid-configuration")),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(issuer: &str) -> Vec<String> {
        authorization_server_metadata_urls(&url::Url::parse(issuer).unwrap())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn an_issuer_with_a_path_is_looked_up_by_insertion_then_appending() {
        assert_eq!(
            urls("https://as.example/tenant1"),
            [
                "https://as.example/.well-known/oauth-authorization-server/tenant1",
                "https://as.example/.well-known/openid-configuration/tenant1",
                "https://as.example/tenant1/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            urls("https://as.example/"),
            [
                "https://as.example/.well-known/oauth-authorization-server",
                "https://as.example/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn the_resource_must_be_the_server_or_a_parent_at_a_segment() {
        let server = url::Url::parse("https://mcp.example/api/mcp").unwrap();
        assert!(names_server("https://mcp.example/api/mcp", &server));
        assert!(names_server("https://mcp.example/api", &server));
        assert!(names_server("https://mcp.example", &server));
        assert!(names_server("https://mcp.example/api/", &server));
        assert!(!names_server("https://mcp.example/ap", &server));
        assert!(!names_server("https://mcp.example/api/mcp/sub", &server));
        assert!(!names_server("https://evil.example/api/mcp", &server));
        assert!(!names_server("http://mcp.example/api/mcp", &server));
        assert!(!names_server("https://mcp.example:8443/api/mcp", &server));
        assert!(!names_server("https://mcp.example/api/mcp?x=1", &server));
        assert!(!names_server("not a url", &server));
    }
}
