use abi_stable::{
    sabi_trait,
    std_types::{RBox, ROption, RResult, RString},
    StableAbi,
};
use async_ffi::FfiFuture;

use super::{AuthOutcome, PluginError, RSecret, TokenSet};

/// The request credentials are for, given to signing providers.
///
/// Versioning: frozen within a `0.y` series.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct OutgoingRequest {
    /// HTTP method. Frozen within `0.y`.
    pub method: RString,
    /// Full URL, before credentials are applied. Frozen within `0.y`.
    pub url: RString,
    /// Hex SHA-256 of the body, if there is one. Frozen within `0.y`.
    pub body_sha256: ROption<RString>,
}

/// Input to [`ProviderInstance::authenticate`].
///
/// Versioning: frozen within a `0.y` series.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct AuthContext {
    /// The end user the call is made for. Frozen within `0.y`.
    pub user_id: RString,
    /// The user's stored token set, if the host has one; boxed to keep the
    /// context small for static providers. Frozen within `0.y`.
    pub tokens: ROption<RBox<TokenSet>>,
    /// The outgoing request, when the host knows it. Frozen within `0.y`.
    pub request: ROption<OutgoingRequest>,
}

/// Input to [`ProviderInstance::authorization_url`].
///
/// Versioning: frozen within a `0.y` series.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct AuthorizationRequest {
    /// The user who starts the flow. Frozen within `0.y`.
    pub user_id: RString,
    /// The opaque `state` value the host generated and will check. Frozen within `0.y`.
    pub state: RSecret,
    /// The PKCE S256 code challenge, if the host uses PKCE. Frozen within `0.y`.
    pub pkce_challenge: ROption<RString>,
}

/// Input to [`ProviderInstance::exchange_code`].
///
/// Versioning: frozen within a `0.y` series.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct CodeExchange {
    /// The user who started the flow. Frozen within `0.y`.
    pub user_id: RString,
    /// The authorization code from the redirect. Frozen within `0.y`.
    pub code: RSecret,
    /// The PKCE verifier kept by the host. Frozen within `0.y`.
    pub pkce_verifier: ROption<RSecret>,
    /// The `iss` parameter of the redirect (RFC 9207), if the server sent one.
    /// Frozen within `0.y`.
    pub issuer: ROption<RString>,
}

/// What the host must know about one configured instance beyond its
/// component's capabilities, so it never reads keys inside the plugin's
/// configuration (the configuration is the plugin's contract).
///
/// Interactive instances always keep per-user tokens in the host's store;
/// the fields here are for the others.
///
/// Versioning: frozen within a `0.y` series.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InstanceInfo {
    /// The host keeps each user's credentials for this instance encrypted
    /// in its token store (they survive restarts and are shared by
    /// replicas), not only in the process's memory. Frozen within `0.y`.
    pub stores_user_credentials: bool,
    /// How long the host keeps credentials a user supplies (`user_supplied`
    /// instances), in seconds; `0` means the host's default of one hour.
    /// Frozen within `0.y`.
    pub supplied_ttl_secs: u64,
}

/// A configured provider instance, as the host sees it.
///
/// Versioning: frozen within a `0.y` series (see the module's versioning
/// rule: a method appended here would make older plugins unloadable).
#[sabi_trait]
pub trait ProviderInstance: Send + Sync + 'static {
    /// Credentials for one call.
    fn authenticate(&self, ctx: AuthContext) -> FfiFuture<RResult<AuthOutcome, PluginError>>;

    /// The URL where the user authorizes (interactive providers).
    fn authorization_url(
        &self,
        request: AuthorizationRequest,
    ) -> FfiFuture<RResult<RString, PluginError>>;

    /// Exchanges an authorization code for tokens.
    fn exchange_code(&self, exchange: CodeExchange) -> FfiFuture<RResult<TokenSet, PluginError>>;

    /// Refreshes a token set.
    fn refresh(&self, tokens: TokenSet) -> FfiFuture<RResult<TokenSet, PluginError>>;

    /// Revokes a token set at the server.
    #[sabi(last_prefix_field)]
    fn revoke(&self, tokens: TokenSet) -> FfiFuture<RResult<(), PluginError>>;

    /// What the host must know about this instance. Appended in 0.1: a
    /// plugin built before it answers the default (nothing stored beyond
    /// what the capabilities imply, the default TTL).
    fn info(&self) -> InstanceInfo {
        InstanceInfo::default()
    }
}

/// An owned provider instance trait object.
pub type ProviderBox = ProviderInstance_TO<RBox<()>>;
