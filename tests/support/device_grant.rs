//! The test authorization server's device authorization grant (RFC 8628):
//! `/device_authorization` hands out a device code and a user code,
//! `/device?user_code=…&user=…` is the user approving on another device
//! (`&deny=1` refusing), and the token endpoint answers polls as §3.5
//! says — `authorization_pending` until approved, `slow_down` (and five
//! more seconds of interval) to a client polling faster than asked, or once
//! on request — recording every poll.

use std::{collections::HashMap, time::Instant};

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};

use super::oauth_server::{issue, oauth_error, AppState, Inner};

/// `grant_type` of RFC 8628 §3.4.
pub const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A device authorization in progress.
#[derive(Debug)]
pub(super) struct DeviceGrant {
    client_id: String,
    user_code: String,
    scope: String,
    /// Who approved it; `Some("")` when refused.
    approved_by: Option<String>,
    interval: u64,
    last_poll: Option<Instant>,
}

/// One poll: when, and what it was answered.
#[derive(Debug, Clone)]
pub struct Poll {
    /// When it arrived.
    pub at: Instant,
    /// `authorization_pending`, `slow_down`, `access_denied` or `token`.
    pub answer: String,
}

/// `POST /device_authorization`.
pub(super) async fn authorize(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut inner = state.inner.lock().expect("lock");
    let Some(client_id) = form.get("client_id").cloned() else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    inner.counter += 1;
    let device_code = format!("device-{}-{}", inner.counter, "x".repeat(16));
    let user_code = format!("WXYZ-{:04}", inner.counter);
    let interval = inner.device_interval;
    inner.device_grants.insert(
        device_code.clone(),
        DeviceGrant {
            client_id,
            user_code: user_code.clone(),
            scope: form.get("scope").cloned().unwrap_or_default(),
            approved_by: None,
            interval,
            last_poll: None,
        },
    );
    Json(serde_json::json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": format!("{}/device", state.base),
        "verification_uri_complete": format!("{}/device?user_code={user_code}", state.base),
        "expires_in": 600,
        "interval": interval,
    }))
    .into_response()
}

/// `GET /device?user_code=…&user=…[&deny=1]`: the user on another device.
pub(super) async fn approve(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut inner = state.inner.lock().expect("lock");
    let code = q.get("user_code").cloned().unwrap_or_default();
    let Some(grant) = inner
        .device_grants
        .values_mut()
        .find(|g| g.user_code == code)
    else {
        return (StatusCode::NOT_FOUND, "unknown code").into_response();
    };
    grant.approved_by = Some(if q.contains_key("deny") {
        String::new()
    } else {
        q.get("user")
            .cloned()
            .unwrap_or_else(|| "test-user".to_owned())
    });
    "approved".into_response()
}

/// A poll of the token endpoint by the authenticated `client`.
pub(super) fn poll(inner: &mut Inner, client: &str, form: &HashMap<String, String>) -> Response {
    let code = form.get("device_code").cloned().unwrap_or_default();
    let now = Instant::now();
    let slow_down_once = std::mem::take(&mut inner.slow_down_once);
    let Some(grant) = inner.device_grants.get_mut(&code) else {
        return oauth_error(StatusCode::BAD_REQUEST, "expired_token");
    };
    if grant.client_id != client {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let too_soon = grant
        .last_poll
        .is_some_and(|last| now.duration_since(last).as_secs_f64() < grant.interval as f64 - 0.05);
    grant.last_poll = Some(now);
    let answer = if too_soon || slow_down_once {
        grant.interval += 5;
        "slow_down"
    } else {
        match grant.approved_by.as_deref() {
            None => "authorization_pending",
            Some("") => "access_denied",
            Some(_) => "token",
        }
    };
    inner.device_polls.push(Poll {
        at: now,
        answer: answer.to_owned(),
    });
    if answer != "token" {
        return oauth_error(StatusCode::BAD_REQUEST, answer);
    }
    let grant = inner.device_grants.remove(&code).expect("present");
    let user = grant.approved_by.unwrap_or_default();
    Json(issue(inner, &user, None, &grant.scope)).into_response()
}
