use abi_stable::{
    std_types::{ROption, RString, RVec},
    StableAbi,
};

use super::RSecret;

/// An OAuth token set as stored by the host for one (provider, user).
///
/// Versioning: frozen within a `0.y` series.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct TokenSet {
    /// The access token. Frozen within `0.y`.
    pub access_token: RSecret,
    /// The token type the server returned, usually `Bearer`. Frozen within `0.y`.
    pub token_type: RString,
    /// The refresh token, if the server issued one. Frozen within `0.y`.
    pub refresh_token: ROption<RSecret>,
    /// The OpenID Connect ID token, if any. Frozen within `0.y`.
    pub id_token: ROption<RSecret>,
    /// Expiry of the access token, Unix time in seconds. Frozen within `0.y`.
    pub expires_at: ROption<i64>,
    /// Scopes granted. Frozen within `0.y`.
    pub scopes: RVec<RString>,
    /// Other fields of the token response, as a JSON object (no tokens).
    /// Frozen within `0.y`.
    pub extra_json: RString,
}
