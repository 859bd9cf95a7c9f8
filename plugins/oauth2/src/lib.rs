//! authhost's built-in OAuth2 providers, talking to authorization servers
//! through the host's HTTP client with the `oauth2` crate:
//!
//! - `oauth2_client_credentials`: one token for the service, shared by all
//!   users, cached and renewed by the host;
//! - `oauth2_auth_code_flow`: per-user tokens from the authorization code
//!   flow with PKCE, refreshed and revoked; the host stores them.

mod auth_code;
mod client_credentials;
mod common;
mod discovery;

pub use auth_code::{AuthCodeConfig, AuthCodeFlow};
pub use client_credentials::{ClientCredentials, ClientCredentialsConfig};
pub use common::{AssertionAlgorithm, TokenEndpointAuthMethod};

authhost_plugin_api::register_provider!(ClientCredentials);
authhost_plugin_api::register_provider!(AuthCodeFlow);
authhost_plugin_api::export_plugin!();
