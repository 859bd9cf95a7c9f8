//! `/mcp` as an OAuth protected resource: who may call it, and the metadata
//! (RFC 9728) that tells an MCP client where to get a token for it.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};

use rmcp::transport::streamable_http_server::SessionManager;

use super::{
    fast_path::{self, Message},
    sessions::Session,
};
use crate::{inbound::Caller, workflow::ServerConfig};

/// What `/mcp` requires of a token, and how it says so.
#[derive(Debug, Clone)]
pub(crate) struct ResourceServer {
    /// The resource URL (`https://authhost.example/mcp`).
    resource: url::Url,
    /// Where its metadata is (`https://authhost.example/.well-known/oauth-protected-resource/mcp`).
    metadata_url: String,
    authorization_servers: Vec<String>,
    scopes: Vec<String>,
    /// Whether callers present JWTs, whose `aud` must name the resource.
    audience_required: bool,
    /// Which user opened each session.
    sessions: Arc<super::sessions::SessionOwners>,
}

impl ResourceServer {
    /// From `general.server`, the address the server listens on, and
    /// whether inbound authentication uses JWTs (issued by `issuer`).
    ///
    /// # Errors
    ///
    /// `general.server.mcp.resource` (or `public_url`) is not an absolute
    /// http(s) URL.
    pub(crate) fn new(
        server: &ServerConfig,
        bound: std::net::SocketAddr,
        jwt: bool,
        issuer: Option<String>,
    ) -> Result<Self, String> {
        let mcp = &server.mcp;
        let text = match (&mcp.resource, &server.public_url) {
            (Some(resource), _) => resource.clone(),
            (None, Some(public)) => format!("{}/mcp", public.trim_end_matches('/')),
            (None, None) => format!("http://{bound}/mcp"),
        };
        let resource = url::Url::parse(&text)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                format!("general.server.mcp.resource: `{text}` is not an absolute http(s) URL")
            })?;
        let path = resource.path().trim_end_matches('/');
        let metadata_url = format!(
            "{}/.well-known/oauth-protected-resource{}",
            resource.origin().ascii_serialization(),
            if path.is_empty() { "" } else { path }
        );
        let mut authorization_servers = mcp.authorization_servers.clone();
        if authorization_servers.is_empty() {
            authorization_servers.extend(issuer);
        }
        Ok(Self {
            resource,
            metadata_url,
            authorization_servers,
            scopes: mcp.scopes.clone(),
            audience_required: jwt,
            sessions: Arc::default(),
        })
    }

    /// The hosts (`host` and `host:port`) of the resource URL.
    pub(super) fn hosts(&self) -> Vec<String> {
        let Some(host) = self.resource.host_str() else {
            return Vec::new();
        };
        let mut hosts = vec![host.to_owned()];
        if let Some(port) = self.resource.port_or_known_default() {
            hosts.push(format!("{host}:{port}"));
        }
        hosts
    }

    /// The resource URL's origin, with its port (`https://authhost.example:443`).
    pub(super) fn origin(&self) -> Option<String> {
        let host = self.resource.host_str()?;
        let port = self.resource.port_or_known_default()?;
        Some(format!("{}://{host}:{port}", self.resource.scheme()))
    }

    /// `Bearer resource_metadata="…"`, with `error` and `scope` when given.
    fn challenge(&self, error: Option<&str>, description: Option<&str>) -> HeaderValue {
        let mut value = format!("Bearer resource_metadata=\"{}\"", self.metadata_url);
        if let Some(error) = error {
            value.push_str(&format!(", error=\"{error}\""));
        }
        if let Some(description) = description {
            // Quoted-string: the reason is ours (no token), quotes removed.
            let clean: String = description
                .chars()
                .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
                .collect();
            value.push_str(&format!(", error_description=\"{clean}\""));
        }
        if !self.scopes.is_empty() {
            value.push_str(&format!(", scope=\"{}\"", self.scopes.join(" ")));
        }
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }

    fn refuse(&self, status: StatusCode, error: &str, message: &str, presented: bool) -> Response {
        let challenge = self.challenge(presented.then_some(error), presented.then_some(message));
        (
            status,
            [(header::WWW_AUTHENTICATE, challenge)],
            Json(serde_json::json!({ "error": error, "message": message })),
        )
            .into_response()
    }

    /// Why `caller` may not use `/mcp`, if it may not.
    fn check(&self, caller: &Caller) -> Result<(), (StatusCode, &'static str, String)> {
        if self.audience_required && !audience_contains(caller, self.resource.as_str()) {
            return Err((
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                format!("the token was not issued for {}", self.resource),
            ));
        }
        let missing = caller.missing_scopes(&self.scopes);
        if !missing.is_empty() {
            return Err((
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("the token lacks the scope {}", missing.join(" ")),
            ));
        }
        Ok(())
    }
}

/// Whether the caller's `aud` (a string or a list) holds `resource`,
/// compared with and without a trailing slash.
fn audience_contains(caller: &Caller, resource: &str) -> bool {
    let wanted = resource.trim_end_matches('/');
    let matches = |v: &serde_json::Value| {
        v.as_str()
            .is_some_and(|a| a.trim_end_matches('/') == wanted)
    };
    match caller.claims.get("aud") {
        Some(serde_json::Value::Array(list)) => list.iter().any(matches),
        Some(one) => matches(one),
        None => false,
    }
}

/// The middleware in front of `/mcp`: authenticates the caller with the
/// server's inbound authentication, checks audience and scopes, answers a
/// `tools/call` in one of this process's sessions itself (the fast path),
/// and hands anything else to rmcp with the [`Caller`] in the request's
/// extensions.
pub(super) async fn authorize(
    State(route): State<super::McpRoute>,
    request: Request,
    next: Next,
) -> Response {
    let state = &route.state;
    let resource = &state.resource_server;
    let presented = request.headers().contains_key(header::AUTHORIZATION);
    let caller = match state.inbound.authenticate(request.headers()).await {
        Ok(caller) => caller,
        Err(refused) => {
            tracing::info!(reason = %refused, "mcp request refused");
            return resource.refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                &refused.0,
                presented,
            );
        }
    };
    if let Err((status, error, message)) = resource.check(&caller) {
        tracing::info!(reason = %message, "mcp request refused");
        return resource.refuse(status, error, &message, true);
    }
    let session = request
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(id) = &session {
        if !resource.sessions.allows(id, &caller.user) {
            tracing::info!("mcp request for another user's session refused");
            return (
                StatusCode::NOT_FOUND,
                Json(serde_json::json!({ "error": "not_found", "message": "no such session" })),
            )
                .into_response();
        }
    }
    let closing = request.method() == axum::http::Method::DELETE;
    let user = caller.user.clone();
    let mut url_elicitation = false;
    let (parts, body) = request.into_parts();
    let mut request = if parts.method == axum::http::Method::POST {
        let Ok(bytes) = axum::body::to_bytes(body, super::super::MAX_BODY).await else {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                Json(serde_json::json!({ "error": "payload_too_large", "message": "the message is too large" })),
            )
                .into_response();
        };
        match fast_path::classify(&bytes) {
            Message::ToolsCall { id, params } => {
                if let Some(known) =
                    fast_path_session(&route, session.as_deref(), &user, &parts.headers).await
                {
                    return fast_path::answer(
                        state,
                        &parts.headers,
                        &caller,
                        id,
                        params,
                        known.url_elicitation,
                    )
                    .await;
                }
            }
            Message::Initialize {
                url_elicitation: url,
            } => url_elicitation = url,
            Message::Other => {}
        }
        Request::from_parts(parts, axum::body::Body::from(bytes))
    } else {
        Request::from_parts(parts, body)
    };
    request.extensions_mut().insert(caller);
    let response = next.run(request).await;
    match (&session, response.headers().get(SESSION_HEADER)) {
        (None, Some(opened)) => {
            if let Ok(id) = opened.to_str() {
                resource.sessions.bind(
                    id,
                    Session {
                        user,
                        url_elicitation,
                    },
                );
            }
        }
        (Some(id), _) if closing && response.status().is_success() => {
            resource.sessions.forget(id);
        }
        _ => {}
    }
    response
}

/// The session a fast-path `tools/call` runs in: one this process opened
/// for `user`, that rmcp still has, with headers rmcp would accept.
async fn fast_path_session(
    route: &super::McpRoute,
    session: Option<&str>,
    user: &str,
    headers: &axum::http::HeaderMap,
) -> Option<Session> {
    let id = session?;
    if !fast_path::headers_allow(headers) {
        return None;
    }
    let known = route
        .state
        .resource_server
        .sessions
        .get(id)
        .filter(|s| s.user == user)?;
    route
        .rmcp_sessions
        .has_session(&Arc::from(id))
        .await
        .unwrap_or(false)
        .then_some(known)
}

/// The header carrying an MCP session id.
const SESSION_HEADER: &str = "mcp-session-id";

/// `GET /.well-known/oauth-protected-resource[/mcp]`: RFC 9728 metadata.
pub(super) async fn metadata(State(route): State<super::McpRoute>) -> Response {
    let resource = &route.state.resource_server;
    let mut body = serde_json::json!({
        "resource": resource.resource.as_str(),
        "authorization_servers": resource.authorization_servers,
        "bearer_methods_supported": ["header"],
        "resource_name": "authhost",
    });
    if !resource.scopes.is_empty() {
        body["scopes_supported"] = serde_json::json!(resource.scopes);
    }
    Json(body).into_response()
}
