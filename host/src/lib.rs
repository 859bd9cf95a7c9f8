//! authhost: a plugin-host runtime for auth providers.
//!
//! The host loads provider plugins (`libauthhost_*.so`, built against
//! [`authhost_plugin_api`]), describes what they offer, and hands each tool
//! call the credentials its provider produces.
//!
//! - [`plugin`]: discovery, loading, the registry and host-side handles to
//!   provider instances.
//! - [`cli`]: the `authhost` command line.

pub mod authorize;
pub mod broker;
pub mod cli;
pub mod connect;
pub mod credentials;
pub mod egress;
pub mod invoke;
pub mod logging;
pub mod outbound;
pub mod plugin;
pub mod server;
pub mod store;
pub mod suggest;
pub mod tools;
pub mod workflow;

/// `authhost --version`: the host's version and the plugin-api it loads.
pub fn version_line() -> String {
    format!(
        "{} (plugin-api {})",
        env!("CARGO_PKG_VERSION"),
        authhost_plugin_api::abi::API_VERSION
    )
}
