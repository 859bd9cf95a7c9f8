//! `ANY /v1/proxy/{provider}/{*path}`: the caller's request passed on to
//! the provider's `_base_url` with the caller's credentials (see
//! [`crate::proxy`]); bodies stream both ways.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, Method},
    response::{IntoResponse, Response},
};

use super::{routes, ApiError, ServerState};
use crate::{
    invoke::InvokeError,
    proxy::{forwardable, response_headers, ProxyBody, ProxyError, ProxyRequest, BASE_URL_HEADER},
};

/// Where proxied paths start.
pub(super) const PREFIX: &str = "/v1/proxy/";

/// The provider and the rest of the raw (still percent-encoded) path of a
/// proxy request.
fn split_path(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix(PREFIX)?;
    let (provider, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let provider = percent_encoding::percent_decode_str(provider)
        .decode_utf8()
        .ok()?
        .into_owned();
    (!provider.is_empty()).then(|| (provider, tail.to_owned()))
}

/// The request body: kept in memory when its declared length is within the
/// replay limit (or it has none and the method carries none), else
/// streamed.
async fn body_of(
    parts: &axum::http::request::Parts,
    body: Body,
    replay_limit: u64,
) -> Result<ProxyBody, ApiError> {
    let headers = &parts.headers;
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    let bodiless = length.is_none()
        && !chunked
        && matches!(
            parts.method,
            Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS
        );
    if bodiless {
        return Ok(ProxyBody::Buffered(bytes::Bytes::new()));
    }
    match length {
        Some(n) if n <= replay_limit => {
            let limit = usize::try_from(n).unwrap_or(usize::MAX);
            let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
                ApiError::BadRequest("the request body did not match its Content-Length".to_owned())
            })?;
            Ok(ProxyBody::Buffered(bytes))
        }
        _ => Ok(ProxyBody::Streaming(reqwest::Body::wrap_stream(
            body.into_data_stream(),
        ))),
    }
}

/// `ANY /v1/proxy/{provider}/{*path}`.
pub(super) async fn forward(
    State(state): State<Arc<ServerState>>,
    request: Request,
) -> Result<Response, ApiError> {
    let Some((provider, path)) = split_path(request.uri().path()) else {
        return Err(ApiError::NotFound(
            "use /v1/proxy/{provider}/{path}".to_owned(),
        ));
    };
    let result = forward_as_caller(&state, provider.clone(), path, request).await;
    let outcome = match &result {
        Ok(_) => super::Outcome::Upstream,
        Err(ApiError::AuthorizationRequired { .. } | ApiError::CredentialsRequired { .. }) => {
            super::Outcome::AuthorizationRequired
        }
        Err(ApiError::Unauthenticated(_) | ApiError::BadRequest(_) | ApiError::NotFound(_)) => {
            super::Outcome::ClientError
        }
        Err(_) => super::Outcome::Failed,
    };
    state.metrics.proxied(&provider, outcome);
    result
}

async fn forward_as_caller(
    state: &Arc<ServerState>,
    provider: String,
    path: String,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let caller = routes::caller(state, headers).await?;
    let config = &state.workflow.general.server.proxy;
    let body = body_of(&parts, body, config.replay_limit).await?;
    let chosen_base = headers
        .get(BASE_URL_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let proxied = ProxyRequest {
        method: parts.method.clone(),
        path,
        query: parts.uri.query().map(str::to_owned),
        headers: forwardable(headers, state.inbound.trusted_user_header()),
        body,
    };
    let response = match state
        .invoker
        .forward(&provider, &caller, chosen_base.as_deref(), proxied, config)
        .await
    {
        Ok(response) => response,
        Err(ProxyError::Invoke(InvokeError::AuthorizationRequired {
            provider,
            user,
            scopes,
            ..
        })) => {
            return Err(routes::authorization_needed(
                state, headers, provider, &user, &scopes,
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let mut answer = Response::builder().status(response.status());
    if let Some(out) = answer.headers_mut() {
        *out = response_headers(response.headers());
    }
    answer
        .body(Body::from_stream(response.bytes_stream()))
        .map_err(ApiError::internal)
        .map(IntoResponse::into_response)
}

impl From<ProxyError> for ApiError {
    fn from(e: ProxyError) -> Self {
        match e {
            e @ (ProxyError::UnknownProvider(_) | ProxyError::NoBaseUrl(_)) => {
                Self::NotFound(e.to_string())
            }
            e @ (ProxyError::BadRequest(_) | ProxyError::TooLargeToSign { .. }) => {
                Self::BadRequest(e.to_string())
            }
            ProxyError::Invoke(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provider_and_the_raw_rest_of_the_path() {
        assert_eq!(
            split_path("/v1/proxy/github/repos/a%2Fb/issues"),
            Some(("github".to_owned(), "repos/a%2Fb/issues".to_owned()))
        );
        assert_eq!(
            split_path("/v1/proxy/github"),
            Some(("github".to_owned(), String::new()))
        );
        assert_eq!(split_path("/v1/proxy/"), None);
        assert_eq!(split_path("/v1/tools/x"), None);
    }
}
