//! authhost as an MCP client: talk to a remote MCP server over Streamable
//! HTTP (`authhost mcp tools|call`), and answer its `401`/`403` the way
//! MCP 2025-11-25's authorization section says: protected resource and
//! authorization server discovery, a client identity (pre-registered,
//! Client ID Metadata Document, or dynamic registration), PKCE S256,
//! resource indicators, `iss` checks and scope step-up.

pub mod authorization_code;
pub mod authorization_server;
pub mod authorizer;
pub mod challenge;
pub mod client;
pub mod discovery;
pub mod http;
pub mod remote;
pub mod saved;
pub mod token_endpoint;
pub mod transport;

pub use authorizer::{Authorizer, Grant, Settings};
pub use challenge::BearerChallenge;
pub use client::ClientSettings;
pub use discovery::ProtectedResource;
pub use transport::{RpcError, Transport, PROTOCOL_VERSION};
