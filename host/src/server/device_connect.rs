//! A connect link for a device-flow provider (RFC 8628): instead of a
//! redirect, the page shows where to go and the code to type, and the
//! server polls in the background, storing the grant and finishing the
//! flow when the user approves — agents waiting on the flow's status see
//! it as for any connect flow. In `app` verification the application must
//! confirm a browser-completed grant, which a device flow never has, so
//! the link refuses and says what to use instead.

use std::{sync::Arc, time::Instant};

use axum::{
    http::{header, StatusCode},
    response::{Html, IntoResponse, Response},
};

use super::{
    flows::{finish, refusal},
    ServerState,
};
use crate::{
    authorize::{self, escape_html},
    device_flow::{self, DeviceAuthorization},
    plugin::ProviderHandle,
    store::{Flow, FlowStatus},
    workflow::VerifyMode,
};

/// Starts the device authorization of `flow` (already recorded) and
/// answers the page that shows the code.
pub(super) async fn open(state: &Arc<ServerState>, flow: Flow, handle: ProviderHandle) -> Response {
    let Some(flows) = state.authorizations.clone() else {
        return refusal(
            StatusCode::NOT_FOUND,
            "no provider here uses browser authorization",
        );
    };
    if state.workflow.general.server.connect.verify == VerifyMode::App {
        let reason = "device-flow providers cannot be confirmed by the application (general.server.connect.verify: app)";
        let _ = finish(state, &flows, &flow, FlowStatus::Refused, Some(reason)).await;
        return refusal(
            StatusCode::BAD_REQUEST,
            &format!("{reason}; use `session` verification, or `authhost login --device`"),
        );
    }
    let authorization = match device_flow::start(&handle, &flow.user).await {
        Ok(authorization) => authorization,
        Err(e) => {
            tracing::warn!(error = %e, provider = %flow.provider, "starting a device authorization failed");
            let _ = finish(
                state,
                &flows,
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
    let page = page(&flow.provider, &authorization);
    let deadline = Instant::now()
        + std::time::Duration::from_secs(
            u64::try_from(flow.expires_at - crate::clock::now()).unwrap_or(0),
        );
    let state = state.clone();
    tokio::spawn(async move {
        let broker = state.invoker.broker().clone();
        let outcome =
            device_flow::finish(&handle, &broker, &flow.user, &authorization, deadline).await;
        let (status, reason) = match &outcome {
            Ok(_) => (FlowStatus::Completed, None),
            Err(e) => {
                tracing::info!(error = %e, provider = %flow.provider, "device authorization ended without a grant");
                (FlowStatus::Refused, Some(e.to_string()))
            }
        };
        if let Err(e) = finish(&state, &flows, &flow, status, reason.as_deref()).await {
            tracing::error!(error = %e, "recording the end of a device flow failed");
        }
    });
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Html(page),
    )
        .into_response()
}

/// The page: the verification link and the code, escaped.
fn page(provider: &str, authorization: &DeviceAuthorization) -> String {
    let link = authorization
        .verification_uri_complete
        .as_deref()
        .unwrap_or(&authorization.verification_uri);
    authorize::page(
        &format!("Connect {}", escape_html(provider)),
        &format!(
            "<p>Open <a href=\"{href}\" rel=\"noopener noreferrer\">{shown}</a> on any device and enter this code:</p><p><strong id=\"user-code\">{code}</strong></p><p>This page can be closed: the connection finishes when you approve (the code is valid {secs} s).</p>",
            href = escape_html(link),
            shown = escape_html(&authorization.verification_uri),
            code = escape_html(&authorization.user_code),
            secs = authorization.expires_in,
        ),
    )
}
