//! Protected resource metadata (RFC 9728) checks shared by the host's MCP
//! client and the `mcp_oauth2` provider.

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

#[cfg(test)]
mod tests {
    use super::*;

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
