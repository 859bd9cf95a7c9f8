//! `POST /v1/credentials/{provider}/token`: the guarded token hand-out, for
//! SDK clients that must hold the user's access token themselves.
//!
//! Off by default twice over: the provider entry opts in with
//! `_handout: true`, and `general.server.handout.allow` names the callers
//! who may ask. Every answer, given or refused, is one audit line (target
//! `authhost::audit`: provider, user, client, outcome, never the token) and
//! one count in `authhost_token_handouts_total`.

use std::sync::Arc;

use authhost_plugin_api::Credential;
use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
    Json,
};

use super::{routes, ApiError, Caller, ServerState};
use crate::{
    broker::Credentials,
    workflow::{HandoutRule, ProviderEntry},
};

/// Why `rule` does not let `caller` take tokens, or `None` when it does.
fn unmet(rule: &HandoutRule, caller: &Caller) -> Option<String> {
    if !rule.users.is_empty() && !rule.users.contains(&caller.user) {
        return Some("the caller is not one of its users".to_owned());
    }
    let missing = caller.missing_scopes(&rule.scopes);
    if !missing.is_empty() {
        return Some(format!("the token lacks the scope {}", missing.join(" ")));
    }
    for (name, expected) in &rule.claims {
        let holds = match caller.claims.get(name) {
            Some(serde_json::Value::String(value)) => value == expected,
            Some(serde_json::Value::Array(values)) => {
                values.iter().any(|v| v.as_str() == Some(expected))
            }
            _ => false,
        };
        if !holds {
            return Some(format!("the claim `{name}` is not `{expected}`"));
        }
    }
    None
}

/// Whether the workflow lets `caller` take the tokens of `provider` (its
/// entry `entry`): `Err` with the reason, naming the key or the rules that
/// refused.
fn allowed(
    state: &ServerState,
    provider: &str,
    entry: &ProviderEntry,
    caller: &Caller,
) -> Result<(), String> {
    if !entry.handout {
        return Err(format!(
            "authentication.{provider}._handout is not true: this provider's tokens stay inside authhost"
        ));
    }
    let rules = &state.workflow.general.server.handout.allow;
    if rules.is_empty() {
        return Err("general.server.handout.allow names no caller".to_owned());
    }
    let mut refusals = Vec::with_capacity(rules.len());
    for (i, rule) in rules.iter().enumerate() {
        match unmet(rule, caller) {
            None => return Ok(()),
            Some(why) => refusals.push(format!("general.server.handout.allow[{i}]: {why}")),
        }
    }
    Err(refusals.join("; "))
}

/// The client the caller acts through, for the audit line: the token's
/// `azp` or `client_id` claim, when it has one.
fn client_of(caller: &Caller) -> &str {
    ["azp", "client_id"]
        .iter()
        .find_map(|name| caller.claims.get(*name).and_then(|v| v.as_str()))
        .unwrap_or("-")
}

/// `POST /v1/credentials/{provider}/token`: the caller's current access
/// token for `provider` (refreshed when due), with `expires_at` and
/// `scopes`; `Cache-Control: no-store`.
#[utoipa::path(post, path = "/v1/credentials/{provider}/token", tag = "credentials", params(("provider" = String, Path, description = "A provider instance with `_handout: true`")), responses((status = 200, description = "The access token (never cached: `Cache-Control: no-store`)", body = super::openapi::HandedOutToken), (status = 401, description = "`invalid_token`, `authorization_required` (with `auth_url`) or `credentials_required`", body = super::openapi::ErrorBody), (status = 403, description = "Hand-out refused, with the key or rule that refused it", body = super::openapi::ErrorBody), (status = 404, description = "Unknown provider", body = super::openapi::ErrorBody), (status = 400, description = "The provider's credentials are not an access token", body = super::openapi::ErrorBody)), security(("bearer" = [])))]
pub(super) async fn token(
    State(state): State<Arc<ServerState>>,
    Path(provider): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = routes::caller(&state, &headers).await?;
    let Some(entry) = state.workflow.providers.get(&provider) else {
        return Err(ApiError::NotFound(format!("no provider `{provider}`")));
    };
    let audit = |outcome: &str, reason: &str| {
        tracing::info!(
            target: "authhost::audit",
            event = "token_handout",
            provider = %provider,
            user = %caller.user,
            client = %client_of(&caller),
            outcome = %outcome,
            reason = %reason,
            "token hand-out"
        );
    };
    if let Err(reason) = allowed(&state, &provider, entry, &caller) {
        audit("denied", &reason);
        state.metrics.handout(&provider, false);
        return Err(ApiError::Forbidden(reason));
    }
    let handle = state.invoker.provider(&provider)?;
    let broker = state.invoker.broker();
    let credentials = match broker
        .credentials(&handle, &caller.user, caller.token.as_ref(), None)
        .await?
    {
        Credentials::Ready(credentials) => credentials,
        Credentials::AuthorizationRequired { .. } => {
            audit("authorization_required", "");
            return Err(routes::authorization_needed(
                &state,
                &headers,
                provider,
                &caller.user,
                &[],
            ));
        }
    };
    let Some((token, token_type)) = credentials.iter().find_map(|c| match c {
        Credential::Bearer { token, scheme, .. } => Some((token.clone(), scheme.to_string())),
        _ => None,
    }) else {
        audit("not_a_token", "");
        return Err(ApiError::BadRequest(format!(
            "`{provider}` ({}) applies credentials that are not an access token; there is nothing to hand out",
            handle.type_name()
        )));
    };
    let grant = broker.status(&handle, &caller.user).await?;
    audit("granted", "");
    state.metrics.handout(&provider, true);
    let body = serde_json::json!({
        "provider": provider,
        "access_token": token.expose(),
        "token_type": if token_type.is_empty() { "Bearer".to_owned() } else { token_type },
        "expires_at": grant.expires_at,
        "scopes": grant.scopes,
    });
    let mut response = Json(body).into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response_headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(user: &str, claims: serde_json::Value) -> Caller {
        Caller {
            user: user.to_owned(),
            claims: claims.as_object().cloned().unwrap_or_default(),
            token: None,
        }
    }

    #[test]
    fn a_rule_holds_only_when_every_condition_does() {
        let rule = HandoutRule {
            users: vec!["svc".to_owned()],
            scopes: vec!["tokens:read".to_owned()],
            claims: [("azp".to_owned(), "sdk".to_owned())].into(),
        };
        let good = caller(
            "svc",
            serde_json::json!({"scope": "a tokens:read", "azp": "sdk"}),
        );
        assert_eq!(unmet(&rule, &good), None);
        let listed = caller(
            "svc",
            serde_json::json!({"scp": ["tokens:read"], "azp": ["x", "sdk"]}),
        );
        assert_eq!(unmet(&rule, &listed), None);
        assert_eq!(
            unmet(
                &rule,
                &caller(
                    "eve",
                    serde_json::json!({"scope": "tokens:read", "azp": "sdk"})
                )
            )
            .as_deref(),
            Some("the caller is not one of its users")
        );
        assert_eq!(
            unmet(&rule, &caller("svc", serde_json::json!({"azp": "sdk"}))).as_deref(),
            Some("the token lacks the scope tokens:read")
        );
        assert_eq!(
            unmet(
                &rule,
                &caller("svc", serde_json::json!({"scope": "tokens:read", "azp": 7}))
            )
            .as_deref(),
            Some("the claim `azp` is not `sdk`")
        );
    }
}
