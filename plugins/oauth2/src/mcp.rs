//! `mcp_oauth2`: per-user tokens for a remote MCP server, configured by the
//! server's URL alone. Its protected resource metadata (RFC 9728) names the
//! authorization server, whose metadata gives the endpoints (the issuer
//! checked, PKCE S256 required); the tokens are asked for the server as
//! the resource (RFC 8707), with the scopes the server lists unless
//! configured. The client is pre-registered (`client_id`, with a secret,
//! a `private_key_jwt` key, or neither for a public client); else a Client
//! ID Metadata Document URL (`client_metadata_url`) where the authorization
//! server accepts those; else registered dynamically (RFC 7591) and kept in
//! the host's store. Everything else is `oauth2_auth_code_flow`.

use authhost_plugin_api::{
    AuthContext, AuthOutcome, AuthProvider, AuthorizationRequest, Capabilities, CodeExchange,
    CreateContext, Error, Secret, TokenSet,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::{
    auth_code::{AuthCodeConfig, AuthCodeFlow},
    client_identity::ClientSource,
    common::{self, AssertionAlgorithm, TokenEndpointAuthMethod},
};

/// Per-user OAuth for a remote MCP server (MCP 2025-11-25 authorization).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpOAuth2Config {
    /// The MCP server's endpoint (`https://mcp.example.com/mcp`): its
    /// metadata names the authorization server, and tokens are asked for it.
    pub server_url: String,
    /// A client id registered with the server's authorization server.
    /// Without it (and without `client_metadata_url`, or where the server
    /// does not accept those), authhost registers itself there (RFC 7591)
    /// on first use and keeps the registration in its token store.
    pub client_id: Option<String>,
    /// Its secret, for a confidential client (with `client_id` only).
    pub client_secret: Option<Secret>,
    /// The HTTPS URL where authhost's Client ID Metadata Document is
    /// published: the client id where no `client_id` is set.
    pub client_metadata_url: Option<String>,
    /// Where the authorization server sends the browser back (the server's
    /// `/auth/callback`, or a loopback address for `authhost login`).
    pub redirect_uri: String,
    /// Scopes to ask for; the server's `scopes_supported` when empty.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// How the `client_id` authenticates at the token endpoint (a
    /// registered client uses what the server registered it for).
    #[serde(default)]
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// The client's private key, PEM, for `private_key_jwt` (with
    /// `client_id` only).
    pub private_key: Option<Secret>,
    /// The algorithm of `private_key`.
    #[serde(default)]
    pub private_key_algorithm: AssertionAlgorithm,
    /// Lifetime assumed, in seconds, when the server sends no `expires_in`.
    #[serde(default = "common::default_fallback_lifetime")]
    pub fallback_token_lifetime: u64,
}

/// The `mcp_oauth2` provider.
#[derive(Debug)]
pub struct McpOAuth2(AuthCodeFlow);

impl AuthProvider for McpOAuth2 {
    const NAME: &'static str = "mcp_oauth2";
    const DESCRIPTION: &'static str =
        "Per-user OAuth for a remote MCP server, discovered from its URL (RFC 9728, RFC 8414, RFC 8707)";
    const CAPABILITIES: Capabilities = Capabilities::INTERACTIVE
        .union(Capabilities::REFRESHABLE)
        .union(Capabilities::REVOCABLE);
    type Config = McpOAuth2Config;

    fn example_config() -> serde_json::Value {
        serde_json::json!({
            "server_url": "https://mcp.example.com/mcp",
            "client_id": "${MCP_CLIENT_ID}",
            "redirect_uri": "http://127.0.0.1:8080/auth/callback"
        })
    }

    fn create(config: McpOAuth2Config, ctx: &CreateContext) -> Result<Self, Error> {
        let server = common::check_url("server_url", &config.server_url)?;
        if server.fragment().is_some() {
            return Err(Error::config(
                "server_url: must not have a fragment (RFC 8707)",
            ));
        }
        if let Some(url) = &config.client_metadata_url {
            let parsed = common::check_url("client_metadata_url", url)?;
            if parsed.scheme() != "https" || parsed.path() == "/" {
                return Err(Error::config(
                    "client_metadata_url: must be an https URL with a path (a Client ID Metadata Document URL)",
                ));
            }
        }
        let (client_id, discovered) =
            match config.client_id {
                Some(id) => (id, None),
                None if config.client_secret.is_some() => return Err(Error::config(
                    "client_secret: only used with client_id (a registered client gets its own)",
                )),
                None if config.private_key.is_some() => return Err(Error::config(
                    "private_key: only used with client_id (a registered client gets its own credentials)",
                )),
                None => (
                    String::new(),
                    Some(ClientSource::discovered(config.client_metadata_url)),
                ),
            };
        let token_endpoint_auth_method = match discovered {
            Some(_) => TokenEndpointAuthMethod::None,
            None => config.token_endpoint_auth_method,
        };
        let flow = AuthCodeFlow::for_mcp_server(
            AuthCodeConfig {
                preset: None,
                tenant: None,
                subdomain: None,
                tokens_expire: None,
                scope_separator: None,
                scope_parameter: None,
                token_response_pointer: None,
                client_id,
                client_secret: config.client_secret,
                authorization_url: None,
                token_url: None,
                revocation_url: None,
                issuer: None,
                discovery_url: None,
                redirect_uri: config.redirect_uri,
                scopes: config.scopes,
                use_pkce: true,
                authorization_kwargs: Default::default(),
                resource: Some(server.to_string()),
                token_endpoint_auth_method: Some(token_endpoint_auth_method),
                private_key: config.private_key,
                private_key_algorithm: config.private_key_algorithm,
                fallback_token_lifetime: config.fallback_token_lifetime,
            },
            ctx,
            server,
            discovered,
        )?;
        Ok(Self(flow))
    }

    async fn authenticate(&self, ctx: AuthContext) -> Result<AuthOutcome, Error> {
        self.0.authenticate(ctx).await
    }

    async fn authorization_url(&self, request: AuthorizationRequest) -> Result<String, Error> {
        self.0.authorization_url(request).await
    }

    async fn exchange_code(&self, exchange: CodeExchange) -> Result<TokenSet, Error> {
        self.0.exchange_code(exchange).await
    }

    async fn refresh(&self, tokens: TokenSet) -> Result<TokenSet, Error> {
        self.0.refresh(tokens).await
    }

    async fn revoke(&self, tokens: TokenSet) -> Result<(), Error> {
        self.0.revoke(tokens).await
    }
}
