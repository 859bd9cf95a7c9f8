//! The connect flow over HTTP: connect links handed out in `401`s, opening
//! them (and `/start`), the callback, the application's confirmation
//! (`app` verification) and the flow's status for agents. The rules are in
//! [`crate::connect`].

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Path, RawQuery, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    Json,
};
use subtle::ConstantTimeEq;

use super::{ApiError, Caller, ServerState};
use crate::{
    authorize::{self, Authorizations, CallbackParams, FlowError},
    clock::now,
    connect::{self, ConnectLink},
    store::{Flow, FlowStatus},
    workflow::VerifyMode,
};

type AppState = State<Arc<ServerState>>;

/// Longest `?wait=` a status request may ask for.
const MAX_WAIT: Duration = Duration::from_secs(60);

fn flows(state: &ServerState) -> Result<&Authorizations, ApiError> {
    state
        .authorizations
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("no provider here uses browser authorization".to_owned()))
}

/// The URL browsers reach this server at: `general.server.public_url`, else
/// the request's `Host` (when it is a plain host[:port]), else the bind
/// address.
fn public_base(state: &ServerState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.workflow.general.server.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
        });
    match host {
        Some(host) => format!("http://{host}"),
        None => format!("http://{}", state.workflow.general.server.bind),
    }
}

/// Whether browsers reach the server over https (cookies are then Secure
/// and `__Host-` prefixed).
fn secure(state: &ServerState) -> bool {
    state
        .workflow
        .general
        .server
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
}

fn ttl(state: &ServerState) -> Duration {
    state.workflow.general.server.connect.link_ttl.0
}

/// A connect link for `user` and `provider` (asking for `scopes` beyond the
/// provider's own): signed, short-lived, nothing written until it is opened.
///
/// # Errors
///
/// No token store (no interactive provider).
pub(super) fn connect_link(
    state: &ServerState,
    headers: &HeaderMap,
    provider: &str,
    user: &str,
    scopes: &[String],
) -> Result<String, ApiError> {
    let flows = flows(state)?;
    let ttl = i64::try_from(ttl(state).as_secs()).unwrap_or(i64::MAX);
    let link = ConnectLink::new(provider, user, scopes, now(), ttl);
    Ok(format!(
        "{}/v1/auth/flows/{}",
        public_base(state, headers),
        flows.encode_link(&link)
    ))
}

/// Records that `flow` finished (`Completed` or `Refused`, with the
/// reason) and announces it to the webhook, if one is configured.
pub(super) async fn finish(
    state: &ServerState,
    flows: &Authorizations,
    flow: &Flow,
    status: FlowStatus,
    reason: Option<&str>,
) -> Result<(), crate::store::StoreError> {
    flows.finish_flow(&flow.id, status, reason).await?;
    if let Some(webhook) = &state.webhook {
        webhook.send(serde_json::json!({
            "event": format!("flow.{}", status.as_str()),
            "flow": flow.id,
            "provider": flow.provider,
            "user": flow.user,
            "status": status.as_str(),
            "reason": reason,
            "at": now(),
        }));
    }
    Ok(())
}

/// A browser-facing refusal: an escaped HTML page.
fn page(status: StatusCode, title: &str, text: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Html(authorize::message_page(title, text)),
    )
        .into_response()
}

pub(super) fn refusal(status: StatusCode, text: &str) -> Response {
    page(status, "Cannot connect", text)
}

/// Opens a flow for `user` with `provider`: records it (once per id),
/// starts the authorization with the flow's id as the state id, and sends
/// the browser to the authorization server — with the flow cookie in
/// `session` mode.
async fn open_flow(
    state: &Arc<ServerState>,
    id: &str,
    provider: &str,
    user: &str,
    return_to: Option<String>,
    scopes: &[String],
) -> Response {
    let Ok(flows) = flows(state) else {
        return refusal(
            StatusCode::NOT_FOUND,
            "no provider here uses browser authorization",
        );
    };
    let handle = match state.invoker.provider(provider) {
        Ok(handle) => handle,
        Err(e) => {
            tracing::warn!(error = %e, "connect flow for an unusable provider");
            return refusal(
                StatusCode::BAD_REQUEST,
                &format!("provider `{provider}` is not available here"),
            );
        }
    };
    let session = state.workflow.general.server.connect.verify == VerifyMode::Session;
    let cookie_value = session.then(connect::random_token);
    let ttl = ttl(state);
    let flow = Flow {
        id: id.to_owned(),
        provider: provider.to_owned(),
        user: user.to_owned(),
        status: FlowStatus::Started,
        reason: None,
        browser_binding: cookie_value.as_deref().map(connect::digest),
        expires_at: now().saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
    };
    match flows.create_flow(&flow).await {
        Ok(true) => {}
        Ok(false) => {
            return refusal(
                StatusCode::GONE,
                "this connect link was already used; ask the application for a new one",
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "recording a connect flow failed");
            return refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; see the server log",
            );
        }
    }
    if handle
        .capabilities()
        .contains(authhost_plugin_api::Capabilities::DEVICE_CODE)
    {
        return super::device_connect::open(state, flow, handle).await;
    }
    let started = match flows
        .start_with_id(&handle, user, ttl, return_to, id, scopes)
        .await
    {
        Ok(started) => started,
        Err(e) => {
            tracing::warn!(error = %e, provider, "starting an authorization failed");
            let _ = finish(
                state,
                flows,
                &flow,
                FlowStatus::Refused,
                Some("the authorization could not start"),
            )
            .await;
            return refusal(
                StatusCode::BAD_GATEWAY,
                "the authorization could not start; try again later",
            );
        }
    };
    let mut response = Redirect::to(&started.url).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(value) = cookie_value {
        let cookie = connect::flow_cookie(
            id,
            &value,
            secure(state),
            i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
        );
        if let Ok(cookie) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
    }
    response
}

/// In `session` mode the browser that opens a flow must be the user's own,
/// signed in: the caller's browser authentication, which must name `user`.
async fn browser_user_check(
    state: &ServerState,
    headers: &HeaderMap,
    user: &str,
) -> Result<(), Response> {
    if state.workflow.general.server.connect.verify != VerifyMode::Session {
        return Ok(());
    }
    match state.inbound.authenticate_browser(headers).await {
        Ok(caller) if caller.user == user => Ok(()),
        Ok(_) => Err(refusal(
            StatusCode::FORBIDDEN,
            "this connect link belongs to another user; open your own",
        )),
        Err(refused) => {
            tracing::info!(reason = %refused, "connect link opened without the user's authentication");
            Err(refusal(
                StatusCode::UNAUTHORIZED,
                "sign in to the application in this browser first, then open the connect link again",
            ))
        }
    }
}

fn wants_json(headers: &HeaderMap, query: Option<&str>) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/json"))
        || query.is_some_and(|q| q.split('&').any(|p| p.starts_with("wait=")))
}

/// `GET /v1/auth/flows/{link}`: in a browser, opens the connect link and
/// redirects to the authorization server; with `Accept: application/json`
/// (or `?wait=N`), the flow's status for the link's user, waiting up to N
/// seconds (at most 60) for it to finish.
#[utoipa::path(get, path = "/v1/auth/flows/{link}", tag = "authorization", params(("link" = String, Path, description = "The connect link's id (from `auth_url`)"), ("wait" = Option<u64>, Query, description = "Status only: wait up to this many seconds (≤ 60) for the flow to finish")), responses((status = 303, description = "A browser: to the authorization server"), (status = 200, description = "`Accept: application/json`: the flow's status", body = super::openapi::FlowStatusBody), (status = 400, description = "Not a connect link, or expired (HTML page)", body = String, content_type = "text/html"), (status = 401, description = "`session` verification: the browser is not signed in (HTML page)", body = String, content_type = "text/html"), (status = 403, description = "The link belongs to another user", body = String, content_type = "text/html"), (status = 410, description = "Already used (HTML page)", body = String, content_type = "text/html")))]
pub(super) async fn open_link(
    State(state): AppState,
    Path(link): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Ok(flows) = flows(&state) else {
        return refusal(
            StatusCode::NOT_FOUND,
            "no provider here uses browser authorization",
        );
    };
    let decoded = flows.decode_link(&link);
    if wants_json(&headers, query.as_deref()) {
        return status(&state, flows, decoded, query.as_deref(), &headers)
            .await
            .into_response();
    }
    let link = match decoded.and_then(|l| l.fresh(now()).map(|()| l)) {
        Ok(link) => link,
        Err(e) => return refusal(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if let Err(response) = browser_user_check(&state, &headers, &link.user).await {
        return response;
    }
    open_flow(
        &state,
        &link.id,
        &link.provider,
        &link.user,
        None,
        &link.scopes,
    )
    .await
}

/// The flow status answer.
async fn status(
    state: &ServerState,
    flows: &Authorizations,
    link: Result<ConnectLink, connect::LinkError>,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let caller: Caller = super::routes::caller(state, headers).await?;
    let link = link.map_err(|e| ApiError::NotFound(e.to_string()))?;
    if link.user != caller.user {
        return Err(ApiError::Forbidden(
            "this connect link belongs to another user".to_owned(),
        ));
    }
    let wait = query
        .into_iter()
        .flat_map(|q| url::form_urlencoded::parse(q.as_bytes()))
        .find(|(k, _)| k == "wait")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .map_or(Duration::ZERO, |s| Duration::from_secs(s).min(MAX_WAIT));
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let flow = flows.flow(&link.id).await.map_err(ApiError::internal)?;
        let (status, reason) = match &flow {
            Some(flow) => (flow.status.as_str(), flow.reason.clone()),
            None if link.fresh(now()).is_err() => ("expired", None),
            None => ("pending", None),
        };
        let done = flow.as_ref().is_some_and(|f| f.status.is_final()) || status == "expired";
        if done || tokio::time::Instant::now() >= deadline {
            return Ok(Json(serde_json::json!({
                "provider": link.provider,
                "status": status,
                "reason": reason,
                "expires_at": link.expires_at,
            })));
        }
        tokio::time::sleep(Duration::from_millis(250).min(deadline - tokio::time::Instant::now()))
            .await;
    }
}

/// `GET /v1/auth/{provider}/start`: a flow for the caller, opened at once
/// (the browser's own authentication in `session` mode); `?return_to=URL`
/// sends the browser there afterwards when it matches
/// `general.server.return_to_allow` (parsed: scheme, host, port, path
/// prefix at a segment boundary).
#[utoipa::path(get, path = "/v1/auth/{provider}/start", tag = "authorization", params(("provider" = String, Path, description = "The provider instance"), ("return_to" = Option<String>, Query, description = "Where the browser goes after the callback; must match an entry of general.server.return_to_allow (same scheme, host and port; path below the entry's)")), responses((status = 303, description = "Redirect to the authorization server"), (status = 400, description = "Not an interactive provider, or return_to not allowed", body = super::openapi::ErrorBody), (status = 401, description = "Caller not authenticated", body = super::openapi::ErrorBody), (status = 404, description = "Unknown provider", body = super::openapi::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn start(
    State(state): AppState,
    Path(provider): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = state
        .inbound
        .authenticate_browser(&headers)
        .await
        .map_err(|refused| ApiError::Unauthenticated(refused.0))?;
    if !state.workflow.providers.contains_key(&provider) {
        return Err(ApiError::NotFound(format!("no provider `{provider}`")));
    }
    let capabilities = super::routes::capabilities(&state, &provider);
    if !capabilities.contains(authhost_plugin_api::Capabilities::INTERACTIVE) {
        return Err(ApiError::BadRequest(format!(
            "`{provider}` has no browser authorization: it needs nothing from the user{}",
            if capabilities.contains(authhost_plugin_api::Capabilities::USER_SUPPLIED) {
                " but credentials supplied with PUT /v1/credentials/{provider}"
            } else {
                ""
            }
        )));
    }
    let requested = url::form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned());
    let return_to = match requested {
        Some(target) => Some(
            connect::checked_return_to(&target, &state.workflow.general.server.return_to_allow)
                .ok_or_else(|| {
                    ApiError::BadRequest(
                        "return_to does not match general.server.return_to_allow".to_owned(),
                    )
                })?
                .to_string(),
        ),
        None => None,
    };
    let id = connect::random_token();
    Ok(open_flow(&state, &id, &provider, &caller.user, return_to, &[]).await)
}

/// Refuses the callback of `flow` when it was opened with a flow cookie
/// (`session`) that this browser does not present: the state is used up and
/// the flow recorded as refused.
async fn check_browser(
    state: &ServerState,
    flows: &Authorizations,
    flow: &Flow,
    headers: &HeaderMap,
) -> Result<(), FlowError> {
    let Some(binding) = &flow.browser_binding else {
        return Ok(());
    };
    let presented = connect::cookie(headers, &connect::flow_cookie_name(&flow.id, secure(state)))
        .map(connect::digest);
    if presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(binding.as_bytes()))) {
        return Ok(());
    }
    let _ = flows.discard_state(&flow.id).await;
    let _ = finish(
        state,
        flows,
        flow,
        FlowStatus::Refused,
        Some("finished in a browser that did not open the connect link"),
    )
    .await;
    tracing::warn!(provider = %flow.provider, user = %flow.user, "connect flow finished in another browser: refused, nothing stored");
    Err(FlowError::WrongBrowser)
}

/// `GET /auth/callback`: the authorization server sends the browser here.
/// The code is exchanged only for a browser that may finish the flow; in
/// `app` mode the grant is then held and the browser sent to the
/// application's `verify_url` to confirm it.
#[utoipa::path(get, path = "/auth/callback", tag = "authorization", params(("code" = Option<String>, Query, description = "Authorization code"), ("state" = Option<String>, Query, description = "The state authhost issued"), ("iss" = Option<String>, Query, description = "Issuer (RFC 9207)"), ("error" = Option<String>, Query, description = "OAuth error code")), responses((status = 200, description = "Authorized (HTML page)", body = String, content_type = "text/html"), (status = 303, description = "Authorized; to the allow-listed return_to given at start, or (`app` verification) to the application's verify_url"), (status = 400, description = "Refused, with the reason (HTML page)", body = String, content_type = "text/html")))]
pub(super) async fn callback(
    State(state): AppState,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Ok(flows) = flows(&state) else {
        return (StatusCode::NOT_FOUND, "no interactive provider\n").into_response();
    };
    let params = CallbackParams::from_query(query.as_deref().unwrap_or_default());
    let flow = match flows.verified_state_id(&params) {
        Ok(id) => match flows.flow(id).await {
            Ok(flow) => flow,
            Err(e) => {
                tracing::error!(error = %e, "reading a connect flow failed");
                return refusal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; see the server log",
                );
            }
        },
        Err(_) => None,
    };
    let result = match &flow {
        Some(flow) => check_browser(&state, flows, flow, &headers).await,
        None => Ok(()),
    };
    let result = match result {
        Ok(()) => {
            flows
                .exchange(&params, None, |name| state.invoker.provider(name).ok())
                .await
        }
        Err(e) => Err(e),
    };
    let clear_cookie = flow.as_ref().and_then(|f| {
        HeaderValue::from_str(&connect::flow_cookie(&f.id, "", secure(&state), 0)).ok()
    });
    let mut response = match (result, &flow) {
        (Err(e), _) => {
            tracing::info!(error = %e, "authorization callback refused");
            if let Some(flow) = &flow {
                if !matches!(e, FlowError::WrongBrowser) {
                    let _ = finish(
                        &state,
                        flows,
                        flow,
                        FlowStatus::Refused,
                        Some(&e.to_string()),
                    )
                    .await;
                }
            }
            let refused: Result<authorize::Completed, FlowError> = Err(e);
            (
                StatusCode::BAD_REQUEST,
                Html(authorize::result_page(&refused)),
            )
                .into_response()
        }
        (Ok(exchanged), Some(flow))
            if state.workflow.general.server.connect.verify == VerifyMode::App =>
        {
            hold_for_confirmation(&state, flows, flow, exchanged).await
        }
        (Ok(exchanged), flow) => {
            if let Err(e) = state
                .invoker
                .broker()
                .save_grant(&exchanged.provider, &exchanged.user, &exchanged.tokens)
                .await
            {
                tracing::error!(error = %e, "storing tokens failed");
                return refusal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; see the server log",
                );
            }
            if let Some(flow) = flow {
                let _ = finish(&state, flows, flow, FlowStatus::Completed, None).await;
            }
            let done = exchanged.completed();
            // The target was checked against the allow-list when the flow
            // started and comes from the state row, never from this request.
            match &done.return_to {
                Some(target) => Redirect::to(target).into_response(),
                None => (StatusCode::OK, Html(authorize::result_page(&Ok(done)))).into_response(),
            }
        }
    };
    if let Some(cookie) = clear_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `app` mode: the grant is sealed in the flow row, and the browser goes to
/// the application's `verify_url` with a one-time id only it has seen.
async fn hold_for_confirmation(
    state: &ServerState,
    flows: &Authorizations,
    flow: &Flow,
    exchanged: authorize::Exchanged,
) -> Response {
    let token = connect::random_token();
    let until = now().saturating_add(i64::try_from(ttl(state).as_secs()).unwrap_or(i64::MAX));
    if let Err(e) = flows
        .hold_grant(&flow.id, &exchanged.tokens, &connect::digest(&token), until)
        .await
    {
        tracing::error!(error = %e, "holding a grant failed");
        return refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; see the server log",
        );
    }
    let verify = state
        .workflow
        .general
        .server
        .connect
        .verify_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok());
    let Some(mut verify) = verify else {
        return refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "general.server.connect.verify_url is not set",
        );
    };
    verify.query_pairs_mut().append_pair("flow", &token);
    tracing::info!(provider = %flow.provider, user = %flow.user, "grant held until the application confirms the user");
    Redirect::to(verify.as_str()).into_response()
}

/// `POST /v1/auth/flows/{id}/confirm`: the application confirms, as its
/// signed-in user, the flow its `verify_url` received. The grant is stored
/// only when that user started the flow; otherwise it is discarded and the
/// flow recorded as refused.
#[utoipa::path(post, path = "/v1/auth/flows/{id}/confirm", tag = "authorization", params(("id" = String, Path, description = "The one-time `flow` value the verify_url received")), responses((status = 200, description = "Stored for the caller", body = super::openapi::FlowStatusBody), (status = 403, description = "Started by another user: discarded", body = super::openapi::ErrorBody), (status = 404, description = "Unknown, expired or already confirmed", body = super::openapi::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn confirm(
    State(state): AppState,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let caller = super::routes::caller(&state, &headers).await?;
    let flows = flows(&state)?;
    let gone = || {
        ApiError::NotFound(
            "no flow awaits confirmation under this id (unknown, expired or already confirmed)"
                .to_owned(),
        )
    };
    if id.len() > 256 {
        return Err(gone());
    }
    let Some((flow, tokens)) = flows
        .take_held_grant(&connect::digest(&id))
        .await
        .map_err(ApiError::internal)?
    else {
        return Err(gone());
    };
    let state_ref = &*state;
    let finish = |status, reason: Option<&'static str>| {
        let flow = flow.clone();
        async move { finish(state_ref, flows, &flow, status, reason).await }
    };
    if flow.expires_at < now() {
        let _ = finish(FlowStatus::Refused, Some("not confirmed in time")).await;
        return Err(gone());
    }
    if flow.user != caller.user {
        let _ = finish(
            FlowStatus::Refused,
            Some("confirmed by another user than the one who started it; the grant was discarded"),
        )
        .await;
        tracing::warn!(provider = %flow.provider, user = %flow.user, confirmed_by = %caller.user, "connect flow confirmed by another user: grant discarded");
        return Err(ApiError::Forbidden(
            "this flow was started by another user; the grant was discarded".to_owned(),
        ));
    }
    state
        .invoker
        .broker()
        .save_grant(&flow.provider, &flow.user, &tokens)
        .await?;
    finish(FlowStatus::Completed, None).await?;
    tracing::info!(provider = %flow.provider, user = %flow.user, "connect flow confirmed; grant stored");
    Ok(Json(serde_json::json!({
        "provider": flow.provider,
        "status": FlowStatus::Completed.as_str(),
        "expires_at": tokens.expires_at,
    })))
}
