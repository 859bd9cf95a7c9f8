//! `oauth2_device_code`: per-user tokens from the device authorization
//! grant (RFC 8628), for headless agents and SSH sessions: the user opens
//! a URL on any device and types a short code, while authhost polls. The
//! host drives the polling ([`Capabilities::DEVICE_CODE`]); tokens are
//! stored, refreshed and revoked as for the authorization code flow, whose
//! refresh and revocation this provider reuses.

use authhost_plugin_api::{
    AuthContext, AuthOutcome, AuthProvider, AuthorizationRequest, Capabilities, CodeExchange,
    CreateContext, Error, ErrorKind, Host, Secret, TokenSet,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    auth_code::{AuthCodeConfig, AuthCodeFlow},
    common::{self, TokenEndpointAuthMethod},
    grant_request::{self, SecretClient},
};

/// The grant type of RFC 8628 §3.4.
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// OAuth2 device authorization grant, per user.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceCodeConfig {
    /// The client id.
    pub client_id: String,
    /// The client secret; most device clients are public and have none.
    pub client_secret: Option<Secret>,
    /// The device authorization endpoint (RFC 8628 §3.1).
    pub device_authorization_url: String,
    /// The token endpoint.
    pub token_url: String,
    /// The revocation endpoint (RFC 7009), if the server has one.
    pub revocation_url: Option<String>,
    /// Scopes to request.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// How a confidential client authenticates (`client_secret_basic` or
    /// `client_secret_post`).
    #[serde(default)]
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// Lifetime assumed, in seconds, when the server sends no `expires_in`.
    #[serde(default = "common::default_fallback_lifetime")]
    pub fallback_token_lifetime: u64,
}

/// The device authorization response (RFC 8628 §3.2), as handed to the host.
#[derive(Debug, Deserialize, Serialize)]
struct DeviceAuthorization {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    verification_uri_complete: Option<String>,
    expires_in: u64,
    /// Seconds between polls; 5 when the server says nothing (§3.2).
    #[serde(default = "default_interval")]
    interval: u64,
}

fn default_interval() -> u64 {
    5
}

/// The `oauth2_device_code` provider.
#[derive(Debug)]
pub struct DeviceCode {
    device_authorization_url: String,
    token_url: String,
    client_id: String,
    client: Option<SecretClient>,
    scopes: Vec<String>,
    fallback_token_lifetime: u64,
    /// Refresh and revocation, shared with the authorization code flow.
    grants: AuthCodeFlow,
    host: Option<Host>,
}

impl AuthProvider for DeviceCode {
    const NAME: &'static str = "oauth2_device_code";
    const DESCRIPTION: &'static str =
        "OAuth2 device authorization grant (RFC 8628): the user enters a code on any device; per-user tokens, stored encrypted and refreshed";
    const CAPABILITIES: Capabilities = Capabilities::INTERACTIVE
        .union(Capabilities::REFRESHABLE)
        .union(Capabilities::REVOCABLE)
        .union(Capabilities::DEVICE_CODE);
    type Config = DeviceCodeConfig;

    fn example_config() -> serde_json::Value {
        serde_json::json!({
            "client_id": "${GITHUB_CLIENT_ID}",
            "device_authorization_url": "https://github.com/login/device/code",
            "token_url": "https://github.com/login/oauth/access_token",
            "scopes": ["repo"]
        })
    }

    fn create(config: DeviceCodeConfig, ctx: &CreateContext) -> Result<Self, Error> {
        common::check_url("device_authorization_url", &config.device_authorization_url)?;
        common::check_url("token_url", &config.token_url)?;
        let client = match (&config.client_secret, config.token_endpoint_auth_method) {
            (None, _) => None,
            (Some(secret), method @ (TokenEndpointAuthMethod::ClientSecretBasic | TokenEndpointAuthMethod::ClientSecretPost)) => {
                Some(SecretClient {
                    id: config.client_id.clone(),
                    secret: secret.clone(),
                    method,
                })
            }
            (Some(_), _) => {
                return Err(Error::config(
                    "token_endpoint_auth_method: only client_secret_basic or client_secret_post with a client_secret",
                ))
            }
        };
        let grants = AuthCodeFlow::create(
            AuthCodeConfig {
                preset: None,
                tenant: None,
                subdomain: None,
                client_id: config.client_id.clone(),
                client_secret: config.client_secret.clone(),
                authorization_url: Some(config.device_authorization_url.clone()),
                token_url: Some(config.token_url.clone()),
                revocation_url: config.revocation_url.clone(),
                issuer: None,
                discovery_url: None,
                // Never visited: the device flow has no redirect.
                redirect_uri: "http://127.0.0.1/device-flow".to_owned(),
                scopes: config.scopes.clone(),
                use_pkce: true,
                authorization_kwargs: Default::default(),
                resource: None,
                token_endpoint_auth_method: Some(if config.client_secret.is_some() {
                    config.token_endpoint_auth_method
                } else {
                    TokenEndpointAuthMethod::None
                }),
                private_key: None,
                private_key_algorithm: Default::default(),
                fallback_token_lifetime: config.fallback_token_lifetime,
                tokens_expire: None,
                scope_separator: None,
                scope_parameter: None,
                token_response_pointer: None,
            },
            ctx,
        )?;
        Ok(Self {
            device_authorization_url: config.device_authorization_url,
            token_url: config.token_url,
            client_id: config.client_id,
            client,
            scopes: config.scopes,
            fallback_token_lifetime: config.fallback_token_lifetime,
            grants,
            host: ctx.host.clone(),
        })
    }

    async fn authenticate(&self, ctx: AuthContext) -> Result<AuthOutcome, Error> {
        self.grants.authenticate(ctx).await
    }

    /// Starts a device authorization: the response, as JSON.
    async fn authorization_url(&self, _: AuthorizationRequest) -> Result<String, Error> {
        let host = common::require_host(&self.host)?;
        let mut form = Vec::new();
        if !self.scopes.is_empty() {
            form.push(("scope", self.scopes.join(" ")));
        }
        let body = grant_request::post_form(
            host,
            "the device authorization request",
            &self.device_authorization_url,
            self.with_client_id(form),
            self.client.as_ref(),
        )
        .await?;
        let answer: DeviceAuthorization = serde_json::from_slice(&body).map_err(|_| {
            Error::new(
                ErrorKind::Upstream,
                "the device authorization endpoint's answer is not a device authorization (RFC 8628 §3.2)",
            )
        })?;
        for (key, url) in [
            ("verification_uri", Some(&answer.verification_uri)),
            (
                "verification_uri_complete",
                answer.verification_uri_complete.as_ref(),
            ),
        ] {
            if let Some(url) = url {
                common::check_url(key, url).map_err(|_| {
                    Error::new(
                        ErrorKind::Upstream,
                        format!("the device authorization's {key} is not an http(s) URL"),
                    )
                })?;
            }
        }
        serde_json::to_string(&answer)
            .map_err(|_| Error::internal("encoding the device authorization failed"))
    }

    /// Polls the token endpoint once with the device code.
    async fn exchange_code(&self, exchange: CodeExchange) -> Result<TokenSet, Error> {
        let host = common::require_host(&self.host)?;
        let form = vec![
            ("grant_type", GRANT_TYPE.to_owned()),
            ("device_code", exchange.code.expose().to_owned()),
        ];
        let (response, _) = grant_request::post(
            host,
            "the device code poll",
            &self.token_url,
            self.with_client_id(form),
            self.client.as_ref(),
        )
        .await?;
        Ok(common::token_set(
            &response,
            common::now_secs(Some(host)),
            self.fallback_token_lifetime,
            &self.scopes,
            None,
        ))
    }

    async fn refresh(&self, tokens: TokenSet) -> Result<TokenSet, Error> {
        self.grants.refresh(tokens).await
    }

    async fn revoke(&self, tokens: TokenSet) -> Result<(), Error> {
        self.grants.revoke(tokens).await
    }
}

impl DeviceCode {
    /// `form` with `client_id`, for a public client (a confidential one
    /// authenticates instead).
    fn with_client_id<'f>(&self, mut form: Vec<(&'f str, String)>) -> Vec<(&'f str, String)> {
        if self.client.is_none() {
            form.push(("client_id", self.client_id.clone()));
        }
        form
    }
}
