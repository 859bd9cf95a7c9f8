use abi_stable::{
    sabi_trait,
    std_types::{RBox, ROption, RResult, RString, RVec},
    StableAbi,
};
use async_ffi::FfiFuture;

use super::{HttpHeader, PluginError, RSecret};

/// An inbound caller's credential, as received by the host.
///
/// Versioning: frozen within a `0.y` series.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct InboundCredential {
    /// The scheme of the `Authorization` header (`Bearer`, `Basic`), or empty.
    /// Frozen within `0.y`.
    pub scheme: RString,
    /// The credential after the scheme. Frozen within `0.y`.
    pub credential: RSecret,
    /// All request headers. Frozen within `0.y`.
    pub headers: RVec<HttpHeader>,
    /// The peer address, if known. Frozen within `0.y`.
    pub remote_addr: ROption<RString>,
}

/// Who the caller is, as established by an authenticator.
///
/// Versioning: frozen within a `0.y` series.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct Claims {
    /// The user id tokens are stored under. Frozen within `0.y`.
    pub user_id: RString,
    /// Scopes granted to the caller. Frozen within `0.y`.
    pub scopes: RVec<RString>,
    /// All claims, as a JSON object. Frozen within `0.y`.
    pub claims_json: RString,
}

/// A configured authenticator instance.
///
/// Versioning: frozen within a `0.y` series (see the module's versioning
/// rule: a method appended here would make older plugins unloadable).
#[sabi_trait]
pub trait AuthenticatorInstance: Send + Sync + 'static {
    /// Checks an inbound credential; `Unauthenticated` when it is refused.
    #[sabi(last_prefix_field)]
    fn authenticate(
        &self,
        credential: InboundCredential,
    ) -> FfiFuture<RResult<Claims, PluginError>>;
}

/// An owned authenticator trait object.
pub type AuthenticatorBox = AuthenticatorInstance_TO<RBox<()>>;
