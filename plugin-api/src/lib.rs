//! # authhost-plugin-api: write an auth provider for authhost
//!
//! A provider plugin is a `cdylib` crate. It declares a configuration type
//! (serde + schemars: the host publishes its JSON Schema and validates
//! workflows against it) and implements [`AuthProvider`]. Two macros do the
//! rest: [`register_provider!`] adds the type to the plugin and
//! [`export_plugin!`] exports the root module the host loads.
//!
//! A complete provider that sends a fixed token in a header of your choice:
//!
//! ```
//! use authhost_plugin_api::{
//!     AuthContext, AuthOutcome, AuthProvider, CreateContext, Credential, Error, Secret,
//! };
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! /// Sends a fixed token in a header.
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! pub struct Config {
//!     /// The token.
//!     token: Secret,
//!     /// The header that carries it.
//!     #[serde(default = "default_header")]
//!     header: String,
//! }
//! fn default_header() -> String { "X-Token".into() }
//!
//! pub struct FixedToken(Config);
//!
//! impl AuthProvider for FixedToken {
//!     const NAME: &'static str = "fixed_token";
//!     const DESCRIPTION: &'static str = "A fixed token in a header";
//!     type Config = Config;
//!
//!     fn example_config() -> serde_json::Value {
//!         serde_json::json!({ "token": "${MY_TOKEN}", "header": "X-Token" })
//!     }
//!     fn create(config: Config, _: &CreateContext) -> Result<Self, Error> {
//!         Ok(Self(config))
//!     }
//!     async fn authenticate(&self, _: AuthContext) -> Result<AuthOutcome, Error> {
//!         let header = Credential::Header { name: self.0.header.clone(), value: self.0.token.clone() };
//!         Ok(AuthOutcome::credentials(vec![header]))
//!     }
//! }
//!
//! authhost_plugin_api::register_provider!(FixedToken);
//! authhost_plugin_api::export_plugin!();
//! # fn main() {}
//! ```
//!
//! In `Cargo.toml`:
//!
//! ```toml
//! [lib]
//! name = "authhost_fixed_token"          # the file is libauthhost_fixed_token.so
//! crate-type = ["cdylib", "rlib"]       # rlib: test the provider in-process
//!
//! [dependencies]
//! authhost-plugin-api = "0.1"
//! schemars = "1"
//! serde = { version = "1", features = ["derive"] }
//! serde_json = "1"
//! ```
//!
//! `cargo build --release`, copy the library into a plugin folder
//! (`$XDG_DATA_HOME/authhost/plugins`, or pass `--plugin-path`), and
//! `authhost info components -t auth_provider` lists `fixed_token`.
//!
//! ## Rules of the road
//!
//! - **The host owns all I/O.** Do not start a tokio runtime, open sockets or
//!   call `std::thread::sleep` inside a plugin: use [`Host`] (`http`, `sleep`,
//!   `now`, `spawn`). With the `oauth2` feature, `OAuth2HttpClient` lets the
//!   `oauth2` crate send through the host.
//! - **Panics are caught.** Every entry point and every future runs inside
//!   `catch_unwind`; a panic becomes an [`ErrorKind::Panicked`] error naming
//!   the plugin and provider, and the host keeps running. Keep
//!   `panic = "unwind"` in your release profile.
//! - **Logs reach the host.** `tracing` events inside the plugin are
//!   forwarded to the host's subscriber with a `plugin` field.
//! - **Secrets.** Use [`Secret`] for secret config fields: the schema marks
//!   them `writeOnly` and `x-secret`, `Debug` prints `[redacted]`. Never put
//!   a secret or a server's response body in an [`Error`] message.
//! - **Versioning.** This crate is `0.y.z`; the host loads plugins built with
//!   the same `0.y`. See [`abi`] for what may change within a series.
#![deny(missing_docs)]

pub mod abi;
mod authenticator;
#[cfg(authhost_guide)]
#[doc = include_str!("../../docs/plugin-authors.md")]
pub mod guide {}
#[cfg(feature = "protected-resource")]
pub mod client_registration;
mod config;
mod context;
mod convert;
mod credential;
mod error;
mod guard;
mod host;
mod log_bridge;
mod macros;
#[cfg(feature = "oauth2")]
mod oauth2_http;
#[cfg(feature = "protected-resource")]
pub mod protected_resource;
mod provider;
mod registry;
mod secret;
#[cfg(feature = "testing")]
pub mod testing;
mod token;
#[cfg(feature = "token-request")]
pub mod token_request;

pub use abi::{Capabilities, InstanceInfo};
pub use authenticator::{Authenticator, Claims, InboundCredential};
pub use config::parse_config;
pub use context::{AuthContext, AuthorizationRequest, CodeExchange, OutgoingRequest};
pub use credential::{AuthOutcome, Credential};
pub use error::{Error, ErrorKind};
pub use host::{Host, HttpRequest, HttpResponse};
#[cfg(feature = "oauth2")]
pub use oauth2_http::OAuth2HttpClient;
pub use provider::{instantiate, AuthProvider, CreateContext};
pub use registry::{config_schema, AUTHENTICATOR, AUTH_PROVIDER};
pub use secret::Secret;
pub use token::{clamp_expiry, expires_after, TokenSet, MAX_LIFETIME_SECS};

/// Re-exports used by the macros. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use abi_stable;
    pub use inventory;

    pub use crate::registry::{entry, Registration};

    /// The default `init` hook: nothing to do.
    pub fn no_init(_: &crate::Host) -> Result<(), crate::Error> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_module_symbol_matches_abi_stable() {
        assert_eq!(
            abi_stable::library::ROOT_MODULE_LOADER_NAME,
            "_1as_0lib_1header_0root_bmodule_bloader"
        );
    }

    #[test]
    fn about_symbol_matches_the_name_the_macro_exports() {
        let exported = include_str!("macros.rs")
            .split("export_name = \"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the macro exports the about symbol first");
        assert_eq!(crate::abi::ABOUT_SYMBOL, format!("{exported}\0").as_bytes());
    }

    #[test]
    fn kept_store_symbol_matches_the_name_the_macro_exports() {
        let exported = include_str!("macros.rs")
            .split("export_name = \"")
            .nth(2)
            .and_then(|rest| rest.split('"').next())
            .expect("the macro exports the kept store symbol second");
        assert_eq!(
            crate::abi::KEPT_STORE_SYMBOL,
            format!("{exported}\0").as_bytes()
        );
    }
}
