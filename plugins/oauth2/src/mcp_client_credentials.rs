//! `mcp_oauth2_client_credentials`: one token for authhost itself at a
//! machine-to-machine MCP server (the client credentials extension of MCP
//! authorization), shared by every user. As for `mcp_oauth2`, the server's
//! protected resource metadata (RFC 9728) names the authorization server,
//! whose metadata (its `issuer` checked) gives the token endpoint; the token
//! is asked for the server as the resource (RFC 8707), with the scopes the
//! server lists unless configured. Everything else is
//! `oauth2_client_credentials`.

use authhost_plugin_api::{
    AuthContext, AuthOutcome, AuthProvider, Capabilities, CreateContext, Error, Secret,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::{
    client_credentials::{ClientCredentials, ClientCredentialsConfig, TokenEndpoint},
    common::{self, AssertionAlgorithm, TokenEndpointAuthMethod},
    discovery::Discovery,
};

/// Client credentials for a remote MCP server, discovered from its URL.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpClientCredentialsConfig {
    /// The MCP server's endpoint (`https://mcp.example.com/mcp`): its
    /// metadata names the authorization server, and the token is asked for
    /// it.
    pub server_url: String,
    /// The client id registered with the server's authorization server.
    pub client_id: String,
    /// The client secret (not with `private_key_jwt`).
    pub client_secret: Option<Secret>,
    /// The client's private key, PEM, for `private_key_jwt`.
    pub private_key: Option<Secret>,
    /// The algorithm of `private_key`.
    #[serde(default)]
    pub private_key_algorithm: AssertionAlgorithm,
    /// Scopes to ask for; the server's `scopes_supported` when empty.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// How the client authenticates at the token endpoint.
    #[serde(default)]
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// Lifetime assumed, in seconds, when the server sends no `expires_in`.
    #[serde(default = "common::default_fallback_lifetime")]
    pub fallback_token_lifetime: u64,
}

/// The `mcp_oauth2_client_credentials` provider.
#[derive(Debug)]
pub struct McpClientCredentials(ClientCredentials);

impl AuthProvider for McpClientCredentials {
    const NAME: &'static str = "mcp_oauth2_client_credentials";
    const DESCRIPTION: &'static str =
        "OAuth2 client credentials for a machine-to-machine MCP server, discovered from its URL (RFC 9728, RFC 8414, RFC 8707)";
    const CAPABILITIES: Capabilities = Capabilities::SHARED;
    type Config = McpClientCredentialsConfig;

    fn example_config() -> serde_json::Value {
        serde_json::json!({
            "server_url": "https://mcp.example.com/mcp",
            "client_id": "reporting-agent",
            "client_secret": "${MCP_CLIENT_SECRET}"
        })
    }

    fn create(config: McpClientCredentialsConfig, ctx: &CreateContext) -> Result<Self, Error> {
        let server = common::check_url("server_url", &config.server_url)?;
        if server.fragment().is_some() {
            return Err(Error::config(
                "server_url: must not have a fragment (RFC 8707)",
            ));
        }
        let resource = server.to_string();
        let inner = ClientCredentials::with_endpoint(
            ClientCredentialsConfig {
                client_id: config.client_id,
                client_secret: config.client_secret,
                private_key: config.private_key,
                private_key_algorithm: config.private_key_algorithm,
                // Never read: the endpoint below is discovered.
                token_url: String::new(),
                scopes: config.scopes,
                audience: None,
                resource: Some(resource),
                token_endpoint_auth_method: config.token_endpoint_auth_method,
                extra_params: Default::default(),
                fallback_token_lifetime: config.fallback_token_lifetime,
            },
            TokenEndpoint::Discovered(Box::new(Discovery::for_protected_resource(server, false))),
            ctx,
        )?;
        Ok(Self(inner))
    }

    async fn authenticate(&self, ctx: AuthContext) -> Result<AuthOutcome, Error> {
        self.0.authenticate(ctx).await
    }
}
