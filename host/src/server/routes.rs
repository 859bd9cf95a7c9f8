//! The server's routes.

use std::sync::Arc;

use authhost_plugin_api::Capabilities;
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};

use super::{ApiError, Caller, ServerState};
use crate::{broker::BrokerError, invoke::InvokeError, tools::Args};

type AppState = State<Arc<ServerState>>;

/// The caller of an API route (headers only).
pub(super) async fn caller(state: &ServerState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    state
        .inbound
        .authenticate(headers)
        .await
        .map_err(|refused| {
            tracing::info!(reason = %refused, "inbound request refused");
            ApiError::Unauthenticated(refused.0)
        })
}

/// `GET /healthz`: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "The process is up", body = String)))]
pub(super) async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: plugins loaded and the store reachable.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, description = "Plugins loaded and the token store reachable", body = String), (status = 503, description = "Not ready", body = String)))]
pub(super) async fn readyz(State(state): AppState) -> Response {
    if state.workflow.registry.plugin_count() == 0 {
        return (StatusCode::SERVICE_UNAVAILABLE, "no plugin loaded\n").into_response();
    }
    if state.invoker.broker().ready().await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "token store unreachable\n").into_response();
    }
    "ready\n".into_response()
}

/// `GET /metrics`: Prometheus text.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")))]
pub(super) async fn metrics(State(state): AppState) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(&state.invoker.broker().stats),
    )
        .into_response()
}

/// `GET /openapi.json`: the OpenAPI document of these routes.
pub(super) async fn openapi() -> Response {
    use utoipa::OpenApi as _;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        super::openapi::ApiDoc::openapi()
            .to_json()
            .unwrap_or_default(),
    )
        .into_response()
}

/// `GET /v1/components`: what is installed (no secrets).
#[utoipa::path(get, path = "/v1/components", tag = "components", responses((status = 200, description = "Installed components", body = [super::openapi::ComponentInfo])))]
pub(super) async fn components(State(state): AppState) -> Json<Vec<serde_json::Value>> {
    Json(
        state
            .workflow
            .registry
            .components()
            .map(|c| {
                serde_json::json!({
                    "plugin": c.plugin,
                    "version": c.plugin_version,
                    "component_type": c.component_type,
                    "name": c.type_name,
                    "description": c.description,
                    "capabilities": c.capabilities.names(),
                })
            })
            .collect(),
    )
}

fn arguments(body: &[u8]) -> Result<Args, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Args::new());
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(object)) => Ok(object.into_iter().collect()),
        _ => Err(ApiError::BadRequest(
            "the body must be a JSON object of arguments".to_owned(),
        )),
    }
}

/// `POST /v1/tools/{tool}/invoke`: the call, with the caller's credentials.
#[utoipa::path(post, path = "/v1/tools/{tool}/invoke", tag = "tools", params(("tool" = String, Path, description = "The tool name")), request_body(content = std::collections::HashMap<String, serde_json::Value>, description = "The tool's arguments, checked against its parameters (`parameters:` in the workflow; by default each placeholder a string, number or boolean)", content_type = "application/json"), responses((status = 200, description = "The upstream answered (its status is inside)", body = super::openapi::InvokeResult), (status = 400, description = "Bad arguments", body = super::openapi::ErrorBody), (status = 401, description = "`invalid_token`, `authorization_required` (with `auth_url`) or `credentials_required`", body = super::openapi::ErrorBody), (status = 404, description = "Unknown tool", body = super::openapi::ErrorBody), (status = 502, description = "A plugin failed, panicked or timed out, or the upstream is unreachable", body = super::openapi::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn invoke(
    State(state): AppState,
    Path(tool): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let result = tracing::Instrument::instrument(
        invoke_inner(&state, &tool, &headers, &body),
        tracing::info_span!("invoke", tool = %tool),
    )
    .await;
    let outcome = match &result {
        Ok(_) => super::Outcome::Upstream,
        Err(ApiError::AuthorizationRequired { .. }) => super::Outcome::AuthorizationRequired,
        Err(ApiError::Unauthenticated(_) | ApiError::BadRequest(_) | ApiError::NotFound(_)) => {
            super::Outcome::ClientError
        }
        Err(_) => super::Outcome::Failed,
    };
    state
        .metrics
        .invoke(state.invoker.provider_of(&tool), outcome);
    result
}

async fn invoke_inner(
    state: &ServerState,
    tool: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let caller = caller(state, headers).await?;
    let args = arguments(body)?;
    match state.invoker.call(tool, &caller, &args).await {
        Ok(response) => {
            state.metrics.upstream_latency(response.elapsed);
            let content_type = response
                .headers
                .iter()
                .find(|(k, _)| k == "content-type")
                .map(|(_, v)| v.clone());
            let body =
                serde_json::from_slice::<serde_json::Value>(&response.body).unwrap_or_else(|_| {
                    serde_json::Value::String(String::from_utf8_lossy(&response.body).into_owned())
                });
            Ok(Json(serde_json::json!({
                "status": response.status.as_u16(),
                "headers": {"content-type": content_type},
                "body": body,
            }))
            .into_response())
        }
        Err(InvokeError::AuthorizationRequired {
            provider,
            user,
            scopes,
            ..
        }) => Err(authorization_needed(
            state, headers, provider, &user, &scopes,
        )),
        Err(e) => Err(e.into()),
    }
}

/// What a caller is told when `user` must first authorize `provider` (for
/// `scopes` beyond the grant's): supply their own credentials, or open a
/// connect link. Shared by REST invoke and MCP `tools/call`.
pub(super) fn authorization_needed(
    state: &ServerState,
    headers: &HeaderMap,
    provider: String,
    user: &str,
    scopes: &[String],
) -> ApiError {
    if capabilities(state, &provider).contains(Capabilities::USER_SUPPLIED) {
        return ApiError::CredentialsRequired { provider };
    }
    match super::flows::connect_link(state, headers, &provider, user, scopes) {
        Ok(auth_url) => ApiError::AuthorizationRequired { provider, auth_url },
        Err(e) => e,
    }
}

/// The capabilities of the provider instance `name` (none if unknown).
pub(super) fn capabilities(state: &ServerState, name: &str) -> Capabilities {
    state
        .invoker
        .provider(name)
        .map(|handle| handle.capabilities())
        .unwrap_or_default()
}

/// The caller's standing with one provider, as the credential routes and
/// the connect page show it.
pub(super) async fn status_of(
    state: &ServerState,
    headers: &HeaderMap,
    provider: &str,
    user: &str,
) -> Result<serde_json::Value, ApiError> {
    let handle = state
        .invoker
        .provider(provider)
        .map_err(|_| ApiError::NotFound(format!("no provider `{provider}`")))?;
    let grant = state.invoker.broker().status(&handle, user).await?;
    let mut status = serde_json::json!({
        "provider": provider,
        "type": handle.type_name(),
        "per_user": grant.per_user,
        "authorized": grant.authorized,
    });
    if grant.per_user {
        status["expires_at"] = grant.expires_at.into();
    }
    if handle.capabilities().contains(Capabilities::INTERACTIVE) {
        if grant.authorized {
            status["scopes"] = grant.scopes.into();
        } else {
            status["connect_url"] =
                super::flows::connect_link(state, headers, provider, user, &[])?.into();
        }
    }
    Ok(status)
}

/// `GET /v1/credentials`: the caller's status with every provider.
#[utoipa::path(get, path = "/v1/credentials", tag = "credentials", responses((status = 200, description = "The caller's status with every provider", body = [super::openapi::CredentialStatus]), (status = 401, description = "Caller not authenticated", body = super::openapi::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn credentials(
    State(state): AppState,
    headers: HeaderMap,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let caller = caller(&state, &headers).await?;
    let mut out = Vec::new();
    for name in state.workflow.providers.keys() {
        out.push(status_of(&state, &headers, name, &caller.user).await?);
    }
    Ok(Json(out))
}

/// What `POST /v1/auth/preflight` checks.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PreflightRequest {
    #[serde(default)]
    tools: Vec<String>,
    #[serde(default)]
    providers: Vec<String>,
}

/// `POST /v1/auth/preflight`: before a session starts, the caller's status
/// with the providers of the given tools and providers — by default those
/// marked `_preflight: true`, else every provider a tool uses — with a
/// connect link where an authorization is missing.
#[utoipa::path(post, path = "/v1/auth/preflight", tag = "credentials", request_body(content = super::openapi::PreflightRequestBody, content_type = "application/json"), responses((status = 200, description = "Each provider's status; `ready` when all are authorized", body = super::openapi::PreflightBody), (status = 400, description = "Not a preflight request", body = super::openapi::ErrorBody), (status = 404, description = "Unknown tool or provider", body = super::openapi::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn preflight(
    State(state): AppState,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let caller = caller(&state, &headers).await?;
    let request: PreflightRequest = if body.iter().all(u8::is_ascii_whitespace) {
        PreflightRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|_| {
            ApiError::BadRequest(
                "the body must be {\"tools\": [...]} and/or {\"providers\": [...]}".to_owned(),
            )
        })?
    };
    let workflow = &state.workflow;
    let mut names = std::collections::BTreeSet::new();
    for tool in &request.tools {
        let entry = workflow
            .tools
            .get(tool)
            .ok_or_else(|| ApiError::NotFound(format!("no tool `{tool}`")))?;
        names.extend(entry.tool.auth_provider().map(str::to_owned));
    }
    for provider in &request.providers {
        if !workflow.providers.contains_key(provider) {
            return Err(ApiError::NotFound(format!("no provider `{provider}`")));
        }
        names.insert(provider.clone());
    }
    if request.tools.is_empty() && request.providers.is_empty() {
        names.extend(
            workflow
                .providers
                .iter()
                .filter(|(_, entry)| entry.preflight)
                .map(|(name, _)| name.clone()),
        );
        if names.is_empty() {
            names.extend(
                workflow
                    .tools
                    .values()
                    .filter_map(|t| t.tool.auth_provider().map(str::to_owned)),
            );
        }
    }
    let mut providers = Vec::with_capacity(names.len());
    for name in &names {
        providers.push(status_of(&state, &headers, name, &caller.user).await?);
    }
    let ready = providers
        .iter()
        .all(|p| p["authorized"].as_bool() == Some(true));
    Ok(Json(
        serde_json::json!({"ready": ready, "providers": providers}),
    ))
}

/// `GET /v1/credentials/{provider}`: the caller's status with one provider.
#[utoipa::path(get, path = "/v1/credentials/{provider}", tag = "credentials", params(("provider" = String, Path, description = "The provider instance")), responses((status = 200, description = "The caller's status with one provider", body = super::openapi::CredentialStatus), (status = 404, description = "Unknown provider", body = super::openapi::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn credential(
    State(state): AppState,
    Path(provider): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let caller = caller(&state, &headers).await?;
    Ok(Json(
        status_of(&state, &headers, &provider, &caller.user).await?,
    ))
}

/// `DELETE /v1/credentials/{provider}`: revoke (when supported) and delete
/// the caller's tokens.
#[utoipa::path(delete, path = "/v1/credentials/{provider}", tag = "credentials", params(("provider" = String, Path, description = "The provider instance")), responses((status = 204, description = "Revoked (when supported) and deleted"), (status = 404, description = "Nothing stored for the caller", body = super::openapi::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn revoke(
    State(state): AppState,
    Path(provider): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let caller = caller(&state, &headers).await?;
    disconnect(&state, &provider, &caller.user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes `user`'s grant for `provider` at the server (when it supports
/// revocation) and deletes it, or forgets supplied credentials.
///
/// # Errors
///
/// [`ApiError::NotFound`] when there is nothing to remove.
pub(super) async fn disconnect(
    state: &ServerState,
    provider: &str,
    user: &str,
) -> Result<(), ApiError> {
    let handle = state
        .invoker
        .provider(provider)
        .map_err(|_| ApiError::NotFound(format!("no provider `{provider}`")))?;
    let capabilities = handle.capabilities();
    if !capabilities.contains(Capabilities::USER_SUPPLIED)
        && !capabilities.contains(Capabilities::INTERACTIVE)
    {
        return Err(ApiError::NotFound(format!(
            "`{provider}` keeps no per-user credentials"
        )));
    }
    match state.invoker.broker().disconnect(&handle, user).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::NotFound(format!(
            "no credentials of yours for `{provider}`"
        ))),
    }
}

/// Largest user-supplied credential document.
const MAX_SUPPLIED: usize = 64 * 1024;

/// `PUT /v1/credentials/{provider}`: credentials the caller supplies, for a
/// `user_supplied` provider. Kept in memory for the provider's `ttl`, or
/// encrypted in the store with `persist: true`; never logged.
#[utoipa::path(put, path = "/v1/credentials/{provider}", tag = "credentials", params(("provider" = String, Path, description = "A `user_supplied` provider instance")), request_body(content = super::openapi::SuppliedCredential, content_type = "application/json"), responses((status = 200, description = "Kept", body = super::openapi::Supplied), (status = 400, description = "Refused, with the reason", body = super::openapi::ErrorBody), (status = 404, description = "Unknown provider", body = super::openapi::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn supply(
    State(state): AppState,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let caller = caller(&state, &headers).await?;
    if !state.workflow.providers.contains_key(&provider) {
        return Err(ApiError::NotFound(format!("no provider `{provider}`")));
    }
    if !capabilities(&state, &provider).contains(Capabilities::USER_SUPPLIED) {
        return Err(ApiError::BadRequest(format!(
            "`{provider}` does not accept user-supplied credentials"
        )));
    }
    if body.len() > MAX_SUPPLIED {
        return Err(ApiError::BadRequest(
            "the credential document is too large".to_owned(),
        ));
    }
    let document = std::str::from_utf8(&body)
        .ok()
        .filter(|d| serde_json::from_str::<serde_json::Value>(d).is_ok_and(|v| v.is_object()))
        .ok_or_else(|| {
            ApiError::BadRequest(
                "the body must be a JSON object such as {\"kind\": \"bearer\", \"token\": …}"
                    .to_owned(),
            )
        })?;
    let handle = state.invoker.provider(&provider)?;
    match state
        .invoker
        .broker()
        .supply(&handle, &caller.user, document)
        .await
    {
        Ok(expires_at) => Ok(Json(
            serde_json::json!({"provider": provider, "expires_at": expires_at, "persisted": handle.stores_user_credentials()}),
        )),
        Err(BrokerError::Provider(e))
            if e.kind() == Some(authhost_plugin_api::ErrorKind::InvalidRequest) =>
        {
            let message = match &e {
                crate::plugin::CallError::Plugin { error, .. } => error.message().to_owned(),
                other => other.to_string(),
            };
            Err(ApiError::BadRequest(message))
        }
        Err(e) => Err(e.into()),
    }
}
