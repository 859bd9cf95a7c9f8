//! `oauth2_client_credentials`: a token for the service itself (RFC 6749
//! §4.4), shared by every user. The host caches it and asks again at about
//! 90% of its lifetime.

use std::collections::BTreeMap;

use authhost_plugin_api::{
    AuthContext, AuthOutcome, AuthProvider, Capabilities, CreateContext, Credential, Error, Host,
    OAuth2HttpClient, Secret,
};
use oauth2::{basic::BasicClient, ClientId, ClientSecret, Scope, TokenUrl};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::{
    common::{self, AssertionAlgorithm, ClientAssertion, TokenEndpointAuthMethod},
    discovery::Discovery,
};

/// OAuth2 client credentials grant.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentialsConfig {
    /// The client id.
    pub client_id: String,
    /// The client secret (not with `private_key_jwt`).
    pub client_secret: Option<Secret>,
    /// The client's private key, PEM, for `private_key_jwt`.
    pub private_key: Option<Secret>,
    /// The algorithm of `private_key`.
    #[serde(default)]
    pub private_key_algorithm: AssertionAlgorithm,
    /// The token endpoint.
    pub token_url: String,
    /// Scopes to request.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `audience` parameter (Auth0, Okta and others).
    pub audience: Option<String>,
    /// `resource` indicator (RFC 8707).
    pub resource: Option<String>,
    /// How the client authenticates at the token endpoint.
    #[serde(default)]
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// Extra parameters of the token request.
    #[serde(default)]
    pub extra_params: BTreeMap<String, String>,
    /// Lifetime assumed, in seconds, when the server sends no `expires_in`.
    #[serde(default = "common::default_fallback_lifetime")]
    pub fallback_token_lifetime: u64,
}

/// Where the token is asked for.
#[derive(Debug)]
pub(crate) enum TokenEndpoint {
    /// `token_url`.
    Configured(TokenUrl),
    /// Found from an MCP server's protected resource metadata; its
    /// `scopes_supported` are asked for when no scope is configured.
    Discovered(Box<Discovery>),
}

/// The `oauth2_client_credentials` provider.
#[derive(Debug)]
pub struct ClientCredentials {
    config: ClientCredentialsConfig,
    assertion: Option<ClientAssertion>,
    token_endpoint: TokenEndpoint,
    host: Option<Host>,
}

impl AuthProvider for ClientCredentials {
    const NAME: &'static str = "oauth2_client_credentials";
    const DESCRIPTION: &'static str =
        "OAuth2 client credentials: one service token shared by all users, renewed before expiry";
    const CAPABILITIES: Capabilities = Capabilities::SHARED;
    type Config = ClientCredentialsConfig;

    fn example_config() -> serde_json::Value {
        serde_json::json!({
            "client_id": "reporting-service",
            "client_secret": "${REPORTING_CLIENT_SECRET}",
            "token_url": "https://auth.example.com/oauth/token",
            "scopes": ["reports:read"],
            "audience": "https://api.example.com"
        })
    }

    fn create(config: ClientCredentialsConfig, ctx: &CreateContext) -> Result<Self, Error> {
        let url = common::check_url("token_url", &config.token_url)?;
        Self::with_endpoint(
            config,
            TokenEndpoint::Configured(TokenUrl::from_url(url)),
            ctx,
        )
    }

    async fn authenticate(&self, _: AuthContext) -> Result<AuthOutcome, Error> {
        let host = common::require_host(&self.host)?;
        let (token_url, discovered_scopes) = match &self.token_endpoint {
            TokenEndpoint::Configured(url) => (url.clone(), Vec::new()),
            TokenEndpoint::Discovered(discovery) => {
                let endpoints = discovery.endpoints(Some(host)).await?;
                (
                    TokenUrl::from_url(endpoints.token),
                    endpoints.resource_scopes,
                )
            }
        };
        let scopes = if self.config.scopes.is_empty() {
            &discovered_scopes
        } else {
            &self.config.scopes
        };
        self.request_token(host, &token_url, scopes).await
    }
}

impl ClientCredentials {
    /// Checks `config` (all but `token_url`) and builds an instance that
    /// asks `token_endpoint`.
    pub(crate) fn with_endpoint(
        config: ClientCredentialsConfig,
        token_endpoint: TokenEndpoint,
        ctx: &CreateContext,
    ) -> Result<Self, Error> {
        let assertion = match config.token_endpoint_auth_method {
            TokenEndpointAuthMethod::None => {
                return Err(Error::config(
                    "token_endpoint_auth_method: `none` cannot be used with client credentials; use client_secret_basic, client_secret_post or private_key_jwt",
                ))
            }
            TokenEndpointAuthMethod::PrivateKeyJwt => {
                if config.client_secret.is_some() {
                    return Err(Error::config("client_secret: not used with private_key_jwt; remove it"));
                }
                let key = config
                    .private_key
                    .as_ref()
                    .ok_or_else(|| Error::config("private_key: required with private_key_jwt (the PEM private key)"))?;
                Some(ClientAssertion::new(key, config.private_key_algorithm, &config.client_id)?)
            }
            _ => {
                if config.client_secret.as_ref().is_none_or(|s| s.expose().is_empty()) {
                    return Err(Error::config("client_secret: required (and not empty) with client_secret_basic and client_secret_post"));
                }
                None
            }
        };
        common::check_extra_params(
            "extra_params",
            &config.extra_params,
            &[
                "grant_type",
                "client_id",
                "client_secret",
                "scope",
                "audience",
                "resource",
                "client_assertion",
                "client_assertion_type",
            ],
        )?;
        Ok(Self {
            assertion,
            token_endpoint,
            host: ctx.host.clone(),
            config,
        })
    }

    /// One client credentials request to `token_url` for `scopes`.
    async fn request_token(
        &self,
        host: &Host,
        token_url: &TokenUrl,
        scopes: &[String],
    ) -> Result<AuthOutcome, Error> {
        let mut client = BasicClient::new(ClientId::new(self.config.client_id.clone()))
            .set_token_uri(token_url.clone())
            .set_auth_type(self.config.token_endpoint_auth_method.auth_type());
        if let Some(secret) = &self.config.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
        }
        let mut request = client.exchange_client_credentials();
        if let Some(assertion) = &self.assertion {
            let jwt = assertion.sign(token_url.as_str(), common::now_secs(Some(host)))?;
            request = request
                .add_extra_param("client_assertion_type", common::ASSERTION_TYPE)
                .add_extra_param("client_assertion", jwt);
        }
        for scope in scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if let Some(audience) = &self.config.audience {
            request = request.add_extra_param("audience", audience.clone());
        }
        if let Some(resource) = &self.config.resource {
            request = request.add_extra_param("resource", resource.clone());
        }
        for (name, value) in &self.config.extra_params {
            request = request.add_extra_param(name.clone(), value.clone());
        }
        let http = common::TokenHttp::new(OAuth2HttpClient::new(host.clone()));
        let response = request
            .request_async(&http)
            .await
            .map_err(|e| common::token_error("the client credentials request", e))?;
        let tokens = common::token_set(
            &response,
            common::now_secs(Some(host)),
            self.config.fallback_token_lifetime,
            scopes,
            None,
        );
        tracing::debug!(expires_at = ?tokens.expires_at, "client credentials token obtained");
        Ok(AuthOutcome::Credentials {
            credentials: vec![Credential::bearer(tokens.access_token)],
            expires_at: tokens.expires_at,
        })
    }
}
