//! authhost's built-in OAuth2 providers, talking to authorization servers
//! through the host's HTTP client with the `oauth2` crate:
//!
//! - `oauth2_client_credentials`: one token for the service, shared by all
//!   users, cached and renewed by the host;
//! - `oauth2_auth_code_flow`: per-user tokens from the authorization code
//!   flow with PKCE, refreshed and revoked; the host stores them;
//! - `mcp_oauth2`: the same for a remote MCP server, its authorization
//!   server discovered from the server's URL;
//! - `mcp_oauth2_client_credentials`: one shared token for a
//!   machine-to-machine MCP server, discovered the same way;
//! - `oauth2_jwt_bearer`: a service account's signed assertion exchanged
//!   for a token (RFC 7523), kept per subject;
//! - `oauth2_token_exchange`: the caller's own token exchanged for a
//!   downstream one (RFC 8693, or Entra's on-behalf-of);
//! - `oauth2_device_code`: per-user tokens from the device flow (RFC 8628),
//!   the host polling.

mod auth_code;
mod client_credentials;
mod client_identity;
mod common;
mod device_code;
mod discovery;
mod grant_request;
mod jwt_bearer;
mod mcp;
mod mcp_client_credentials;
mod presets;
mod token_exchange;

pub use auth_code::{AuthCodeConfig, AuthCodeFlow};
pub use client_credentials::{ClientCredentials, ClientCredentialsConfig};
pub use common::{AssertionAlgorithm, TokenEndpointAuthMethod};
pub use device_code::{DeviceCode, DeviceCodeConfig};
pub use jwt_bearer::{JwtBearer, JwtBearerConfig, ScopesIn};
pub use mcp::{McpOAuth2, McpOAuth2Config};
pub use mcp_client_credentials::{McpClientCredentials, McpClientCredentialsConfig};
pub use token_exchange::{ExchangeStyle, TokenExchange, TokenExchangeConfig, TokenType};

authhost_plugin_api::register_provider!(ClientCredentials);
authhost_plugin_api::register_provider!(AuthCodeFlow);
authhost_plugin_api::register_provider!(McpOAuth2);
authhost_plugin_api::register_provider!(McpClientCredentials);
authhost_plugin_api::register_provider!(JwtBearer);
authhost_plugin_api::register_provider!(TokenExchange);
authhost_plugin_api::register_provider!(DeviceCode);
authhost_plugin_api::export_plugin!();
