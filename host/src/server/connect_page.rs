//! `GET /connect`: a page where the signed-in user sees every provider,
//! connects, reconnects and disconnects accounts. Server-rendered HTML, no
//! script, a strict Content-Security-Policy, everything escaped; the
//! disconnect form carries a token bound to the user, so another site cannot
//! submit it.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
};
use base64::Engine as _;

use super::ServerState;
use crate::{
    authorize::{escape_html, message_page},
    clock::format_utc,
};

type AppState = State<Arc<ServerState>>;

/// No script, no style, no frames, forms only to this server.
const CSP: &str = "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Security headers of every page here.
fn harden(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Connect links are bound to the user: never leak them in a Referer.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    harden((status, Html(message_page(title, text))).into_response())
}

/// The form token of `user`: an HMAC under the store key.
fn form_token(state: &ServerState, user: &str) -> Option<String> {
    let flows = state.authorizations.as_ref()?;
    let signature = flows.sign(format!("connect page\0{user}").as_bytes());
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature))
}

fn form_token_valid(state: &ServerState, user: &str, token: &str) -> bool {
    let (Some(flows), Ok(signature)) = (
        state.authorizations.as_ref(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token),
    ) else {
        return false;
    };
    flows.verify(format!("connect page\0{user}").as_bytes(), &signature)
}

async fn signed_in(state: &ServerState, headers: &HeaderMap) -> Result<String, Response> {
    state
        .inbound
        .authenticate_browser(headers)
        .await
        .map(|caller| caller.user)
        .map_err(|refused| {
            tracing::info!(reason = %refused, "connect page without a signed-in user");
            page(
                StatusCode::UNAUTHORIZED,
                "Sign in first",
                "Sign in to the application in this browser, then open this page again.",
            )
        })
}

/// `GET /connect`: the signed-in user's providers.
pub(super) async fn show(State(state): AppState, headers: HeaderMap) -> Response {
    let user = match signed_in(&state, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let token = form_token(&state, &user).unwrap_or_default();
    let mut rows = String::new();
    for name in state.workflow.providers.keys() {
        let status = match super::routes::status_of(&state, &headers, name, &user).await {
            Ok(status) => status,
            Err(e) => {
                tracing::warn!(provider = %name, error = ?e, "connect page: status unavailable");
                continue;
            }
        };
        let per_user = status["per_user"].as_bool() == Some(true);
        let connected = status["authorized"].as_bool() == Some(true);
        let interactive = super::routes::capabilities(&state, name)
            .contains(authhost_plugin_api::Capabilities::INTERACTIVE);
        let state_text = match (per_user, connected) {
            (false, _) => "ready (no account needed)",
            (true, true) => "connected",
            (true, false) => "not connected",
        };
        let scopes = status["scopes"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let expires = status["expires_at"]
            .as_i64()
            .map(format_utc)
            .unwrap_or_default();
        let mut actions = String::new();
        if interactive {
            let link = match status["connect_url"].as_str() {
                Some(link) => Some(link.to_owned()),
                None => super::flows::connect_link(&state, &headers, name, &user, &[]).ok(),
            };
            if let Some(link) = link {
                actions.push_str(&format!(
                    "<a href=\"{}\" data-provider=\"{}\" data-action=\"connect\">{}</a> ",
                    escape_html(&link),
                    escape_html(name),
                    if connected { "Reconnect" } else { "Connect" }
                ));
            }
        }
        if per_user && connected {
            actions.push_str(&format!(
                "<form method=\"post\" action=\"/connect/{name}/disconnect\"><input type=\"hidden\" name=\"token\" value=\"{token}\"><button type=\"submit\" data-provider=\"{name}\" data-action=\"disconnect\">Disconnect</button></form>",
                name = escape_html(name),
                token = escape_html(&token),
            ));
        }
        rows.push_str(&format!(
            "<tr data-provider=\"{name}\" data-status=\"{status}\"><td>{name}</td><td>{kind}</td><td>{state_text}</td><td>{scopes}</td><td>{expires}</td><td>{actions}</td></tr>",
            name = escape_html(name),
            status = if connected { "connected" } else { "not-connected" },
            kind = escape_html(status["type"].as_str().unwrap_or_default()),
            scopes = escape_html(&scopes),
            expires = escape_html(&expires),
        ));
    }
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Connected accounts</title></head><body><h1>Connected accounts</h1><p>Signed in as <b>{}</b>.</p><table><thead><tr><th>Provider</th><th>Type</th><th>Status</th><th>Scopes</th><th>Expires</th><th></th></tr></thead><tbody>{rows}</tbody></table></body></html>\n",
        escape_html(&user)
    );
    harden((StatusCode::OK, Html(body)).into_response())
}

/// `POST /connect/{provider}/disconnect`: revokes at the server and deletes,
/// then back to the page.
pub(super) async fn disconnect(
    State(state): AppState,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let user = match signed_in(&state, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let token = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if !form_token_valid(&state, &user, &token) {
        return page(
            StatusCode::FORBIDDEN,
            "Not disconnected",
            "This form did not come from your connect page; open the page again.",
        );
    }
    match super::routes::disconnect(&state, &provider, &user).await {
        Ok(()) => harden(Redirect::to("/connect").into_response()),
        Err(e) => {
            tracing::info!(error = ?e, "connect page: nothing disconnected");
            page(
                StatusCode::NOT_FOUND,
                "Not disconnected",
                &format!("There is nothing connected for {provider}."),
            )
        }
    }
}
