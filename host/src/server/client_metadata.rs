//! `GET /oauth/client-metadata.json`: authhost's Client ID Metadata
//! Document (draft-ietf-oauth-client-id-metadata-document, the client
//! identity MCP 2025-11-25 prefers). Its URL is the client id: an
//! `mcp_oauth2` provider with `client_metadata_url` set to it needs no
//! registration at authorization servers that accept such documents. Served
//! when `general.server.public_url` is set; the document names the server's
//! own callback as the only redirect URI.

use std::sync::Arc;

use axum::{extract::State, http::header, response::IntoResponse, Json};

use super::{ApiError, ServerState};

/// The path of the document.
pub(super) const PATH: &str = "/oauth/client-metadata.json";

/// The document, from `public_url`.
pub(super) async fn document(
    State(state): State<Arc<ServerState>>,
) -> Result<impl IntoResponse, ApiError> {
    let Some(public) = &state.workflow.general.server.public_url else {
        return Err(ApiError::NotFound(
            "no client metadata: general.server.public_url is not set".to_owned(),
        ));
    };
    let base = public.trim_end_matches('/');
    Ok((
        [(header::CACHE_CONTROL, "public, max-age=3600")],
        Json(serde_json::json!({
            "client_id": format!("{base}{PATH}"),
            "client_name": "authhost",
            "client_uri": base,
            "redirect_uris": [format!("{base}/auth/callback")],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        })),
    ))
}
