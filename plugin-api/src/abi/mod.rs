//! The stable ABI between the authhost host and its plugins.
//!
//! Everything in this module is `#[repr(C)]` and derives [`StableAbi`], so the
//! host checks at load time that a plugin was built against a compatible
//! layout. Plugin authors rarely touch these types: the SDK at the crate root
//! converts them to and from ordinary Rust types.
//!
//! # Versioning rule
//!
//! `authhost-plugin-api` is `0.y.z`; the host loads plugins built against the
//! same `0.y`. Within one `0.y` series:
//!
//! - the root module ([`PluginMod`]) and the trait objects
//!   ([`ProviderInstance`], [`AuthenticatorInstance`], [`HostServices`]) may
//!   grow, but only by appending after their `#[sabi(last_prefix_field)]`;
//! - every other struct and enum here is frozen: adding a field or a variant
//!   is a `0.y+1` release.
//!
//! Each field's documentation repeats the rule that applies to it.
//!
//! [`StableAbi`]: abi_stable::StableAbi

// abi_stable's derives and `#[sabi_trait]` expand to unsafe code and items
// that trip these lints; they are allowed here and nowhere else.
#![allow(unsafe_code, non_local_definitions, non_camel_case_types)]

mod authenticator;
mod credential;
mod descriptor;
mod error;
mod host;
mod http;
mod provider;
mod root;
mod secret;
mod token;

pub use authenticator::{
    AuthenticatorBox, AuthenticatorInstance, AuthenticatorInstance_TO, Claims, InboundCredential,
};
pub use credential::{AuthOutcome, Credential};
pub use descriptor::{Capabilities, ComponentDescriptor};
pub use error::{ErrorKind, PluginError};
pub use host::{HostServices, HostServicesBox, HostServices_TO, LogLevel};
pub use http::{HttpHeader, HttpRequest, HttpResponse};
pub use provider::{
    AuthContext, AuthorizationRequest, CodeExchange, InstanceInfo, OutgoingRequest, ProviderBox,
    ProviderInstance, ProviderInstance_TO,
};
pub use root::{PluginMod, PluginModRef, API_VERSION, ROOT_MODULE_BASE_NAME};
pub use secret::RSecret;
pub use token::TokenSet;
