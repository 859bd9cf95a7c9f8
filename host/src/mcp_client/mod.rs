//! authhost as an MCP client: talk to a remote MCP server over Streamable
//! HTTP (`authhost mcp tools|call`). Authorization here is a bearer token
//! the caller supplies; a server's `401`/`403` challenge is reported with
//! the scope and metadata URL it names.

pub mod challenge;
pub mod transport;

pub use challenge::BearerChallenge;
pub use transport::{RpcError, Transport, PROTOCOL_VERSION};
