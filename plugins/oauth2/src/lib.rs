//! authhost's built-in OAuth2 providers, talking to authorization servers
//! through the host's HTTP client with the `oauth2` crate:
//!
//! - `oauth2_client_credentials`: one token for the service, shared by all
//!   users, cached and renewed by the host;
//! - `oauth2_auth_code_flow`: per-user tokens from the authorization code
//!   flow with PKCE, refreshed and revoked; the host stores them;
//! - `mcp_oauth2`: the same for a remote MCP server, its authorization
//!   server discovered from the server's URL.

mod auth_code;
mod client_credentials;
mod client_identity;
mod common;
mod discovery;
mod mcp;

pub use auth_code::{AuthCodeConfig, AuthCodeFlow};
pub use client_credentials::{ClientCredentials, ClientCredentialsConfig};
pub use common::{AssertionAlgorithm, TokenEndpointAuthMethod};
pub use mcp::{McpOAuth2, McpOAuth2Config};

authhost_plugin_api::register_provider!(ClientCredentials);
authhost_plugin_api::register_provider!(AuthCodeFlow);
authhost_plugin_api::register_provider!(McpOAuth2);
authhost_plugin_api::export_plugin!();
