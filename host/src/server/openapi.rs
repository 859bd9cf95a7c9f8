//! The OpenAPI document at `/openapi.json`, generated from the route
//! annotations (utoipa), with the schemas of the JSON bodies.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi, ToSchema,
};

/// An installed component.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentInfo {
    /// Plugin name.
    pub plugin: String,
    /// Plugin version.
    pub version: String,
    /// `auth_provider` or `authenticator`.
    pub component_type: String,
    /// Type name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Capabilities (`interactive`, `refreshable`, …).
    pub capabilities: Vec<String>,
}

/// The upstream's answer to a tool call.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvokeResult {
    /// The upstream's status code.
    pub status: u16,
    /// Selected upstream headers (`content-type`).
    pub headers: HashMap<String, Option<String>>,
    /// The upstream body: JSON when it is JSON, else a string.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

/// An error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// `invalid_token`, `authorization_required`, `credentials_required`,
    /// `bad_request`, `forbidden`, `not_found`, `bad_gateway` or `internal`.
    pub error: String,
    /// What to fix.
    pub message: Option<String>,
    /// The provider needing authorization or credentials.
    pub provider: Option<String>,
    /// The connect link where the user authorizes (`authorization_required`).
    pub auth_url: Option<String>,
}

/// The caller's status with a provider (never a secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialStatus {
    /// The provider instance.
    pub provider: String,
    /// Its type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Whether credentials are per user.
    pub per_user: bool,
    /// Whether the caller has usable credentials.
    pub authorized: bool,
    /// When they expire (Unix seconds).
    pub expires_at: Option<i64>,
    /// Granted scopes (OAuth).
    pub scopes: Option<Vec<String>>,
    /// Where the user connects the account, when an interactive provider
    /// is not authorized yet (a connect link).
    pub connect_url: Option<String>,
}

/// An access token handed out by `POST /v1/credentials/{provider}/token`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HandedOutToken {
    /// The provider instance.
    pub provider: String,
    /// The caller's current access token for it.
    pub access_token: String,
    /// How it is sent (`Bearer`).
    pub token_type: String,
    /// When it expires (Unix seconds), when known.
    pub expires_at: Option<i64>,
    /// The scopes granted (OAuth), when known.
    pub scopes: Vec<String>,
}

/// What `POST /v1/auth/preflight` checks (both optional).
#[derive(Debug, Serialize, ToSchema)]
pub struct PreflightRequestBody {
    /// Tools whose providers to check.
    pub tools: Option<Vec<String>>,
    /// Providers to check.
    pub providers: Option<Vec<String>>,
}

/// The caller's status with the providers a session needs.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreflightBody {
    /// Whether every provider is authorized.
    pub ready: bool,
    /// Each provider's status (with `connect_url` where authorization is missing).
    pub providers: Vec<CredentialStatus>,
}

/// Where a connect flow stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowStatusBody {
    /// The provider instance.
    pub provider: String,
    /// `pending` (link not opened), `started`, `awaiting_confirmation`,
    /// `completed`, `refused` or `expired`.
    pub status: String,
    /// Why it was refused.
    pub reason: Option<String>,
    /// When the link (or the flow) expires (Unix seconds).
    pub expires_at: Option<i64>,
}

/// A credential the caller supplies (`kind` plus its fields).
#[derive(Debug, Serialize, ToSchema)]
pub struct SuppliedCredential {
    /// `bearer` (`token`, `scheme`?, `header_name`?), `basic` (`username`,
    /// `password`), `api_key` (`key`, `header`?) or `headers` (`headers`).
    pub kind: String,
}

/// Supplied credentials kept.
#[derive(Debug, Serialize, ToSchema)]
pub struct Supplied {
    /// The provider instance.
    pub provider: String,
    /// When they expire (Unix seconds).
    pub expires_at: i64,
    /// Whether they are kept encrypted in the store.
    pub persisted: bool,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "authhost", description = "Credentials for every tool call, per end user."),
    paths(
        super::routes::healthz,
        super::routes::readyz,
        super::routes::metrics,
        super::routes::components,
        super::routes::invoke,
        super::flows::start,
        super::flows::callback,
        super::flows::open_link,
        super::flows::confirm,
        super::routes::preflight,
        super::routes::credentials,
        super::routes::credential,
        super::routes::revoke,
        super::routes::supply,
        super::handout::token,
    ),
    components(schemas(ComponentInfo, InvokeResult, ErrorBody, CredentialStatus, FlowStatusBody, PreflightRequestBody, PreflightBody, SuppliedCredential, Supplied, HandedOutToken)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;
