//! The stable ABI between the authhost host and its plugins.
//!
//! Everything in this module is `#[repr(C)]` and derives [`StableAbi`], so the
//! host checks at load time that a plugin was built against a compatible
//! layout. Plugin authors rarely touch these types: the SDK at the crate root
//! converts them to and from ordinary Rust types.
//!
//! # Versioning rule
//!
//! `authhost-plugin-api` is `0.y.z`; the host loads plugins built against
//! any `0.y.z` of its own `0.y`, older or newer. Within one `0.y` series
//! **every type here is frozen**, including the root module ([`PluginMod`])
//! and the trait objects' vtables ([`ProviderInstance`],
//! [`AuthenticatorInstance`], [`HostServices`]): abi_stable refuses a
//! library whose prefix types have *fewer* fields than the host's, so
//! appending a field or a method (although abi_stable's prefix types allow
//! it in the other direction) would make every plugin built against an
//! older `0.y.z` unloadable in the newer host.
//!
//! What a plugin tells the host beyond the frozen types travels through
//! separate, versioned symbols that an older plugin lacks
//! ([`ABOUT_SYMBOL`] since 0.1.1), and what the host offers beyond
//! [`HostServices`] through symbols the host calls ([`KEPT_STORE_SYMBOL`]
//! since 0.1.2). Anything else — a new method, field or
//! variant — is a `0.y+1` release, and plugins rebuild.
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
mod kept;
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
pub use kept::{KeptStore, KeptStoreBox, KeptStoreFn, KeptStore_TO, KEPT_STORE_SYMBOL};
pub use provider::{
    AuthContext, AuthorizationRequest, CodeExchange, InstanceInfo, OutgoingRequest, ProviderBox,
    ProviderInstance, ProviderInstance_TO,
};
pub use root::{
    AboutFn, PluginMod, PluginModRef, ABOUT_SYMBOL, API_VERSION, ROOT_MODULE_BASE_NAME,
};
pub use secret::RSecret;
pub use token::TokenSet;
