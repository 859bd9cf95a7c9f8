//! [`ApiError`]: every error answer of the server, as JSON. Client errors
//! say what to fix; internal errors answer a generic body, and their detail
//! travels in a response extension to [`log_server_errors`], the one place
//! server errors are logged. The `From` impls below are the one table that
//! maps the runtime's typed errors to answers.

use axum::{
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};

/// An error answer.
#[derive(Debug)]
pub enum ApiError {
    /// 401: the caller is not authenticated.
    Unauthenticated(String),
    /// 401: the user must authorize a provider first.
    AuthorizationRequired {
        /// The provider instance.
        provider: String,
        /// Where the user authorizes.
        auth_url: String,
    },
    /// 401: the user must supply credentials for a provider first.
    CredentialsRequired {
        /// The provider instance.
        provider: String,
    },
    /// 403: authenticated, but not allowed to do this.
    Forbidden(String),
    /// 404.
    NotFound(String),
    /// 400.
    BadRequest(String),
    /// 502: a plugin or the upstream failed.
    BadGateway(String),
    /// 500: logged, not shown.
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// A 500 for `error`.
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(error.into())
    }
}

/// The detail of a 500, for [`log_server_errors`]; never in the body.
#[derive(Debug, Clone)]
struct InternalDetail(std::sync::Arc<str>);

/// Logs every 5xx answer once, with the request's method and path: the
/// detail of a 500 (from the response extension), the message of a 502.
pub async fn log_server_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    if let Some(InternalDetail(detail)) = response.extensions().get::<InternalDetail>() {
        tracing::error!(%method, %path, %detail, "internal error");
    } else if response.status() == StatusCode::BAD_GATEWAY {
        tracing::warn!(%method, %path, "answered 502");
    }
    response
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::internal(e)
    }
}

impl From<crate::broker::BrokerError> for ApiError {
    fn from(e: crate::broker::BrokerError) -> Self {
        use crate::broker::BrokerError;
        match e {
            BrokerError::Store(e) => e.into(),
            e @ BrokerError::NoStore(_) => Self::internal(e),
            e @ BrokerError::NoCallerToken(_) => Self::Unauthenticated(e.to_string()),
            e @ (BrokerError::Provider(_) | BrokerError::RefreshFailed { .. }) => {
                Self::BadGateway(e.to_string())
            }
        }
    }
}

impl From<crate::plugin::CreateError> for ApiError {
    fn from(e: crate::plugin::CreateError) -> Self {
        match e {
            e @ crate::plugin::CreateError::UnknownInstance(_) => Self::NotFound(e.to_string()),
            e => Self::BadGateway(e.to_string()),
        }
    }
}

impl From<crate::outbound::OutboundError> for ApiError {
    fn from(e: crate::outbound::OutboundError) -> Self {
        match e {
            crate::outbound::OutboundError::Timeout(url, after) => {
                Self::BadGateway(format!("{url} did not answer within {after:?}"))
            }
            e => Self::BadGateway(e.to_string()),
        }
    }
}

/// Every invoke error but `AuthorizationRequired`, which needs the
/// server's state to build the connect link (the route answers it first).
impl From<crate::invoke::InvokeError> for ApiError {
    fn from(e: crate::invoke::InvokeError) -> Self {
        use crate::invoke::InvokeError;
        match e {
            e @ InvokeError::UnknownTool { .. } => Self::NotFound(e.to_string()),
            e @ InvokeError::Arguments { .. } => Self::BadRequest(e.to_string()),
            InvokeError::Credentials(e) => e.into(),
            InvokeError::Provider(e) => e.into(),
            InvokeError::Outbound(e) => e.into(),
            e @ InvokeError::Remote { .. } => Self::BadGateway(e.to_string()),
            e @ (InvokeError::AuthorizationRequired { .. } | InvokeError::Apply { .. }) => {
                Self::BadGateway(e.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Self::Unauthenticated(reason) => {
                let mut response = (
                    StatusCode::UNAUTHORIZED,
                    Json(serde_json::json!({"error": "invalid_token", "message": reason})),
                )
                    .into_response();
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
                return response;
            }
            Self::AuthorizationRequired { provider, auth_url } => (
                StatusCode::UNAUTHORIZED,
                serde_json::json!({"error": "authorization_required", "provider": provider, "auth_url": auth_url}),
            ),
            Self::CredentialsRequired { provider } => (
                StatusCode::UNAUTHORIZED,
                serde_json::json!({
                    "error": "credentials_required",
                    "provider": provider,
                    "message": format!("supply them with PUT /v1/credentials/{provider}"),
                }),
            ),
            Self::Forbidden(message) => (
                StatusCode::FORBIDDEN,
                serde_json::json!({"error": "forbidden", "message": message}),
            ),
            Self::NotFound(message) => (
                StatusCode::NOT_FOUND,
                serde_json::json!({"error": "not_found", "message": message}),
            ),
            Self::BadRequest(message) => (
                StatusCode::BAD_REQUEST,
                serde_json::json!({"error": "bad_request", "message": message}),
            ),
            Self::BadGateway(message) => (
                StatusCode::BAD_GATEWAY,
                serde_json::json!({"error": "bad_gateway", "message": message}),
            ),
            Self::Internal(error) => {
                let mut response = (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(serde_json::json!({"error": "internal", "message": "internal error; see the server log"})),
                )
                    .into_response();
                let detail = crate::logging::chain(&*error);
                response
                    .extensions_mut()
                    .insert(InternalDetail(detail.into()));
                return response;
            }
        };
        (status, Json(body)).into_response()
    }
}
