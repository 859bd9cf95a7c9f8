//! authhost: a plugin-host runtime for auth providers.
//!
//! The host loads provider plugins (`libauthhost_*.so`, built against
//! [`authhost_plugin_api`]), describes what they offer, and hands each tool
//! call the credentials its provider produces.
//!
//! Modules, in the order a call goes through them (see `docs/architecture.md`):
//!
//! - [`workflow`]: workflow files to a checked [`workflow::Workflow`].
//! - [`plugin`]: discovery, loading, the registry and host-side handles to
//!   provider instances.
//! - [`outbound`] and [`egress`]: the one outbound HTTP client and its policy.
//! - [`tools`] and [`credentials`]: a tool's request, and credentials put on it.
//! - [`invoke`]: a tool call end to end; [`proxy`]: any request passed on to
//!   a provider's API with the same credentials, streamed.
//! - [`broker`]: credentials for (provider, user): cache, refresh, retry.
//! - [`store`]: the encrypted token store, flows, key ring, migrations.
//! - [`authorize`] and [`connect`]: the authorization flow and connect links.
//! - [`inbound`]: who is calling the server (JWT, JWKS, authenticator plugins).
//! - [`server`]: `authhost serve` (HTTP API, connect page, webhooks).
//! - [`cli`]: the `authhost` command line; [`clock`], [`duration`],
//!   [`json_pointer`], [`logging`], [`paths`], [`suggest`]: small shared pieces;
//!   [`telemetry`]: traces over OTLP.
//!
//! Modules depend on each other in one direction (no cycle); `cargo test
//! --test module_graph` checks it.

pub mod authorize;
pub mod broker;
pub mod cli;
pub mod clock;
pub mod connect;
pub mod credentials;
pub mod device_flow;
pub mod duration;
pub mod egress;
pub mod inbound;
pub mod invoke;
pub mod json_pointer;
pub mod logging;
pub mod mcp_client;
pub mod outbound;
pub mod paths;
pub mod plugin;
pub mod printable;
pub mod proxy;
pub mod server;
pub mod store;
pub mod suggest;
pub mod telemetry;
pub mod tools;
pub mod upstream;
pub mod workflow;

/// `authhost --version`: the host's version and the plugin-api it loads.
pub fn version_line() -> String {
    format!(
        "{} (plugin-api {})",
        env!("CARGO_PKG_VERSION"),
        authhost_plugin_api::abi::API_VERSION
    )
}
