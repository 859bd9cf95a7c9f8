//! [`ApiError`]: every error answer of the server, as JSON. Client errors
//! say what to fix; internal errors answer a generic body and log the detail.

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
    Internal(String),
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
            Self::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    serde_json::json!({"error": "internal", "message": "internal error; see the server log"}),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}
