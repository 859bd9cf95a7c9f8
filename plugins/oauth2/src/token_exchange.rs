//! `oauth2_token_exchange`: the caller's own token exchanged for a token
//! to a downstream API, acting on the caller's behalf — RFC 8693 token
//! exchange, or Microsoft Entra's on-behalf-of flow (the `jwt-bearer`
//! grant with `requested_token_use=on_behalf_of`). The host hands the
//! caller's token in and caches the result per (instance, caller token)
//! until shortly before it expires.

use std::collections::BTreeMap;

use authhost_plugin_api::{
    AuthContext, AuthOutcome, AuthProvider, Capabilities, CreateContext, Credential, Error,
    ErrorKind, Host, Secret,
};
use oauth2::TokenResponse as _;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::{
    common::{self, AssertionAlgorithm, ClientAssertion, TokenEndpointAuthMethod},
    grant_request::{self, SecretClient},
};

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Which exchange the server speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeStyle {
    /// RFC 8693 token exchange.
    #[default]
    Rfc8693,
    /// Microsoft Entra's on-behalf-of flow (`jwt-bearer` grant,
    /// `requested_token_use=on_behalf_of`); `scopes` are required.
    EntraOnBehalfOf,
}

/// The RFC 8693 token types authhost sends or asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenType {
    /// `urn:ietf:params:oauth:token-type:access_token`.
    #[default]
    AccessToken,
    /// `urn:ietf:params:oauth:token-type:jwt`.
    Jwt,
    /// `urn:ietf:params:oauth:token-type:id_token`.
    IdToken,
}

impl TokenType {
    fn urn(self) -> &'static str {
        match self {
            Self::AccessToken => "urn:ietf:params:oauth:token-type:access_token",
            Self::Jwt => "urn:ietf:params:oauth:token-type:jwt",
            Self::IdToken => "urn:ietf:params:oauth:token-type:id_token",
        }
    }
}

/// Token exchange (RFC 8693) or on-behalf-of.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenExchangeConfig {
    /// The token endpoint.
    pub token_url: String,
    /// `rfc8693` (default) or `entra_on_behalf_of`.
    #[serde(default)]
    pub style: ExchangeStyle,
    /// The client id authhost exchanges as.
    pub client_id: String,
    /// The client secret (not with `private_key_jwt`).
    pub client_secret: Option<Secret>,
    /// The client's private key, PEM, for `private_key_jwt`.
    pub private_key: Option<Secret>,
    /// The algorithm of `private_key`.
    #[serde(default)]
    pub private_key_algorithm: AssertionAlgorithm,
    /// How the client authenticates at the token endpoint.
    #[serde(default)]
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// What the caller's token is (`subject_token_type`).
    #[serde(default)]
    pub subject_token_type: TokenType,
    /// The kind of token wanted (`requested_token_type`), if the server
    /// must be told.
    pub requested_token_type: Option<TokenType>,
    /// The downstream service the token is for (`audience`).
    pub audience: Option<String>,
    /// The downstream resource the token is for (`resource`, RFC 8707).
    pub resource: Option<String>,
    /// Scopes to ask for.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Extra parameters of the exchange request.
    #[serde(default)]
    pub extra_params: BTreeMap<String, String>,
    /// Lifetime assumed, in seconds, when the server sends no `expires_in`.
    #[serde(default = "common::default_fallback_lifetime")]
    pub fallback_token_lifetime: u64,
}

/// How authhost authenticates at the token endpoint.
#[derive(Debug)]
enum ClientAuth {
    Secret(SecretClient),
    Assertion(ClientAssertion, String),
}

/// The `oauth2_token_exchange` provider.
#[derive(Debug)]
pub struct TokenExchange {
    config: TokenExchangeConfig,
    client: ClientAuth,
    host: Option<Host>,
}

impl AuthProvider for TokenExchange {
    const NAME: &'static str = "oauth2_token_exchange";
    const DESCRIPTION: &'static str =
        "OAuth2 token exchange (RFC 8693) or Entra on-behalf-of: the caller's own token exchanged for a downstream token";
    const CAPABILITIES: Capabilities = Capabilities::CALLER_TOKEN;
    type Config = TokenExchangeConfig;

    fn example_config() -> serde_json::Value {
        serde_json::json!({
            "token_url": "https://auth.example.com/oauth/token",
            "client_id": "agent-gateway",
            "client_secret": "${AGENT_GATEWAY_SECRET}",
            "audience": "https://orders.example.com",
            "scopes": ["orders.read"]
        })
    }

    fn create(config: TokenExchangeConfig, ctx: &CreateContext) -> Result<Self, Error> {
        common::check_url("token_url", &config.token_url)?;
        let client = match config.token_endpoint_auth_method {
            TokenEndpointAuthMethod::None => {
                return Err(Error::config(
                    "token_endpoint_auth_method: `none` cannot exchange tokens; use client_secret_basic, client_secret_post or private_key_jwt",
                ))
            }
            TokenEndpointAuthMethod::PrivateKeyJwt => {
                let key = config.private_key.as_ref().ok_or_else(|| {
                    Error::config("private_key: required with private_key_jwt (the PEM private key)")
                })?;
                if config.client_secret.is_some() {
                    return Err(Error::config(
                        "client_secret: not used with private_key_jwt; remove it",
                    ));
                }
                ClientAuth::Assertion(
                    ClientAssertion::new(key, config.private_key_algorithm, &config.client_id)?,
                    config.client_id.clone(),
                )
            }
            method => {
                let secret = config
                    .client_secret
                    .clone()
                    .filter(|s| !s.expose().is_empty())
                    .ok_or_else(|| {
                        Error::config("client_secret: required (and not empty) with client_secret_basic and client_secret_post")
                    })?;
                ClientAuth::Secret(SecretClient {
                    id: config.client_id.clone(),
                    secret,
                    method,
                })
            }
        };
        if config.style == ExchangeStyle::EntraOnBehalfOf && config.scopes.is_empty() {
            return Err(Error::config(
                "scopes: required with entra_on_behalf_of (e.g. [\"https://graph.microsoft.com/.default\"])",
            ));
        }
        common::check_extra_params(
            "extra_params",
            &config.extra_params,
            &[
                "grant_type",
                "subject_token",
                "subject_token_type",
                "assertion",
                "requested_token_use",
                "requested_token_type",
                "client_id",
                "client_secret",
                "client_assertion",
                "client_assertion_type",
                "scope",
                "audience",
                "resource",
            ],
        )?;
        Ok(Self {
            config,
            client,
            host: ctx.host.clone(),
        })
    }

    async fn authenticate(&self, ctx: AuthContext) -> Result<AuthOutcome, Error> {
        let host = common::require_host(&self.host)?;
        let subject = ctx.tokens.map(|t| t.access_token).ok_or_else(|| {
            Error::new(
                ErrorKind::Unauthenticated,
                "no caller token to exchange (this host passes none: it is older than the provider, or the caller presented none)",
            )
        })?;
        let now = common::now_secs(Some(host));
        let config = &self.config;
        let mut form = match config.style {
            ExchangeStyle::Rfc8693 => vec![
                ("grant_type", TOKEN_EXCHANGE.to_owned()),
                ("subject_token", subject.expose().to_owned()),
                (
                    "subject_token_type",
                    config.subject_token_type.urn().to_owned(),
                ),
            ],
            ExchangeStyle::EntraOnBehalfOf => vec![
                ("grant_type", JWT_BEARER.to_owned()),
                ("assertion", subject.expose().to_owned()),
                ("requested_token_use", "on_behalf_of".to_owned()),
            ],
        };
        if let Some(wanted) = config.requested_token_type {
            form.push(("requested_token_type", wanted.urn().to_owned()));
        }
        if !config.scopes.is_empty() {
            form.push(("scope", config.scopes.join(" ")));
        }
        if let Some(audience) = &config.audience {
            form.push(("audience", audience.clone()));
        }
        if let Some(resource) = &config.resource {
            form.push(("resource", resource.clone()));
        }
        for (name, value) in &config.extra_params {
            form.push((name.as_str(), value.clone()));
        }
        let secret_client = match &self.client {
            ClientAuth::Secret(client) => Some(client),
            ClientAuth::Assertion(assertion, id) => {
                form.push(("client_id", id.clone()));
                form.push(("client_assertion_type", common::ASSERTION_TYPE.to_owned()));
                form.push(("client_assertion", assertion.sign(&config.token_url, now)?));
                None
            }
        };
        let what = match config.style {
            ExchangeStyle::Rfc8693 => "the token exchange",
            ExchangeStyle::EntraOnBehalfOf => "the on-behalf-of request",
        };
        let (response, issued) =
            grant_request::post(host, what, &config.token_url, form, secret_client).await?;
        // RFC 8693 §2.2.1: `N_A` says the issued token is not an access token.
        if response.token_type().as_ref().eq_ignore_ascii_case("n_a") {
            return Err(Error::new(
                ErrorKind::Upstream,
                format!(
                    "{what}: the server issued a token that is not an access token ({})",
                    issued
                        .issued_token_type
                        .as_deref()
                        .unwrap_or("no issued_token_type")
                ),
            ));
        }
        let tokens = common::token_set(
            &response,
            now,
            config.fallback_token_lifetime,
            &config.scopes,
            None,
        );
        tracing::debug!(expires_at = ?tokens.expires_at, "caller token exchanged");
        Ok(AuthOutcome::Credentials {
            credentials: vec![Credential::bearer(tokens.access_token)],
            expires_at: tokens.expires_at,
        })
    }
}
