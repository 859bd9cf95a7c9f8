use abi_stable::{
    std_types::{ROption, RString, RVec},
    StableAbi,
};

use super::RSecret;

/// One credential to apply to an outgoing request.
///
/// Versioning: frozen within a `0.y` series; new kinds are a `0.y+1` release.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone)]
pub enum Credential {
    /// `name: value` header.
    Header {
        /// Header name.
        name: RString,
        /// Header value.
        value: RSecret,
    },
    /// `?name=value` query parameter.
    Query {
        /// Parameter name.
        name: RString,
        /// Parameter value.
        value: RSecret,
    },
    /// `Cookie: name=value`.
    Cookie {
        /// Cookie name.
        name: RString,
        /// Cookie value.
        value: RSecret,
    },
    /// `header_name: scheme token` (by default `Authorization: Bearer token`).
    Bearer {
        /// The token.
        token: RSecret,
        /// The scheme before the token (`Bearer`, `Token`); empty for none.
        scheme: RString,
        /// The header carrying the token.
        header_name: RString,
    },
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        /// User name.
        username: RString,
        /// Password.
        password: RSecret,
    },
}

/// What `authenticate` returns.
///
/// Versioning: frozen within a `0.y` series.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone)]
pub enum AuthOutcome {
    /// Credentials to apply, valid until `expires_at` (Unix seconds) if set.
    Credentials {
        /// The credentials, applied in order.
        credentials: RVec<Credential>,
        /// When they stop being valid; `RNone` for static credentials.
        expires_at: ROption<i64>,
    },
    /// The user must authorize first (interactive providers).
    AuthorizationRequired {
        /// Why, in a short secret-free sentence.
        reason: RString,
    },
}
