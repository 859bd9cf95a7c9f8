//! authhost as an MCP client: talk to a remote MCP server over Streamable
//! HTTP (`authhost mcp tools|call`). Authorization here is a bearer token
//! the caller supplies; a server's `401`/`403` challenge is reported with
//! the scope it names and the authorization servers its protected resource
//! metadata lists.

pub mod challenge;
pub mod discovery;
pub mod transport;

pub use challenge::BearerChallenge;
pub use discovery::ProtectedResource;
pub use transport::{RpcError, Transport, PROTOCOL_VERSION};
