//! `/mcp`: the workflow's tools as an MCP server (Streamable HTTP, rmcp),
//! and authhost as an OAuth protected resource for it (RFC 9728): a caller
//! without a usable token gets `401` with `WWW-Authenticate: Bearer
//! resource_metadata="…"`; a JWT must name `/mcp`'s resource URL in `aud`
//! (RFC 8707); a token without the configured scopes gets `403
//! insufficient_scope`. Requests from a browser origin not allowed, or for
//! a `Host` not allowed, are refused (DNS rebinding).

mod authorize;
mod fast_path;
mod handler;
mod sessions;

use std::sync::Arc;

use axum::{routing::get, Router};
use rmcp::transport::streamable_http_server::{
    session::local::LocalSessionManager, StreamableHttpServerConfig, StreamableHttpService,
};

use super::ServerState;
use crate::inbound::InboundAuthConfig;

pub(crate) use authorize::ResourceServer;

/// What the `/mcp` middleware and metadata routes share.
#[derive(Clone)]
pub(super) struct McpRoute {
    state: Arc<ServerState>,
    /// rmcp's sessions: the fast path serves only sessions rmcp still has.
    rmcp_sessions: Arc<LocalSessionManager>,
}

/// The routes of `/mcp` and its protected resource metadata, or none when
/// `general.server.mcp.disabled`.
pub(super) fn routes(state: Arc<ServerState>) -> Router {
    let mcp = &state.workflow.general.server.mcp;
    if mcp.disabled {
        return Router::new();
    }
    let resource = state.resource_server.clone();
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1", "[::1]"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    hosts.extend(mcp.allowed_hosts.iter().cloned());
    hosts.extend(resource.hosts());
    let mut origins = mcp.allowed_origins.clone();
    origins.extend(resource.origin());
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .enforce_origin_validation()
        .with_max_request_body_bytes(super::MAX_BODY);
    let handler_state = state.clone();
    let rmcp_sessions = Arc::new(LocalSessionManager::default());
    let service = StreamableHttpService::new(
        move || Ok(handler::McpTools::new(handler_state.clone())),
        rmcp_sessions.clone(),
        config,
    );
    let route = McpRoute {
        state,
        rmcp_sessions,
    };
    let metadata = get(authorize::metadata);
    Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(
            route.clone(),
            authorize::authorize,
        ))
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            metadata.clone(),
        )
        .route("/.well-known/oauth-protected-resource", metadata)
        .with_state(route)
}

/// The inbound JWT issuer, when callers authenticate with JWTs.
pub(super) fn jwt_issuer(config: Option<&InboundAuthConfig>) -> Option<String> {
    match config {
        Some(InboundAuthConfig::Jwt { issuer, .. }) => issuer.clone(),
        _ => None,
    }
}
