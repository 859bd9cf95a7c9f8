//! [`TokenSet`]: OAuth tokens the host stores for one (provider, user).

use abi_stable::std_types::{RString, RVec};

use crate::{
    abi,
    convert::{opt, ropt, rsecret, secret, string},
    Secret,
};

/// The longest lifetime a token or credential is given, in seconds (one
/// year): a larger `expires_in` (or one that would overflow) is clamped to
/// it, by the host for every value a plugin returns and by
/// [`expires_after`] in plugins.
pub const MAX_LIFETIME_SECS: i64 = 365 * 24 * 3600;

/// The expiry `lifetime_secs` after `now` (Unix seconds), never more than
/// [`MAX_LIFETIME_SECS`] away and never overflowing, whatever a server sent.
///
/// # Example
///
/// ```
/// use authhost_plugin_api::{expires_after, MAX_LIFETIME_SECS};
/// assert_eq!(expires_after(1_000, 3_600), 4_600);
/// assert_eq!(expires_after(1_000, u64::MAX), 1_000 + MAX_LIFETIME_SECS);
/// ```
pub fn expires_after(now: i64, lifetime_secs: u64) -> i64 {
    let lifetime =
        i64::try_from(lifetime_secs).map_or(MAX_LIFETIME_SECS, |l| l.min(MAX_LIFETIME_SECS));
    now.saturating_add(lifetime)
}

/// `expires_at` brought within [`MAX_LIFETIME_SECS`] of `now`.
pub fn clamp_expiry(expires_at: Option<i64>, now: i64) -> Option<i64> {
    expires_at.map(|at| at.min(now.saturating_add(MAX_LIFETIME_SECS)))
}

/// OAuth tokens for one (provider, user).
#[derive(Debug, Clone)]
pub struct TokenSet {
    /// The access token.
    pub access_token: Secret,
    /// The token type, usually `Bearer`.
    pub token_type: String,
    /// The refresh token, if any.
    pub refresh_token: Option<Secret>,
    /// The OpenID Connect ID token, if any.
    pub id_token: Option<Secret>,
    /// Expiry of the access token, Unix seconds.
    pub expires_at: Option<i64>,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// Other fields of the token response (never tokens).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl From<&TokenSet> for abi::TokenSet {
    fn from(t: &TokenSet) -> Self {
        abi::TokenSet {
            access_token: rsecret(&t.access_token),
            token_type: RString::from(t.token_type.as_str()),
            refresh_token: ropt(t.refresh_token.as_ref(), rsecret),
            id_token: ropt(t.id_token.as_ref(), rsecret),
            expires_at: ropt(t.expires_at, |v| v),
            scopes: t
                .scopes
                .iter()
                .map(|s| RString::from(s.as_str()))
                .collect::<RVec<_>>(),
            extra_json: RString::from(serde_json::Value::Object(t.extra.clone()).to_string()),
        }
    }
}

impl From<abi::TokenSet> for TokenSet {
    fn from(t: abi::TokenSet) -> Self {
        let extra = match serde_json::from_str::<serde_json::Value>(t.extra_json.as_str()) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        TokenSet {
            access_token: secret(&t.access_token),
            token_type: string(t.token_type),
            refresh_token: opt(t.refresh_token, |s| secret(&s)),
            id_token: opt(t.id_token, |s| secret(&s)),
            expires_at: opt(t.expires_at, |v| v),
            scopes: t.scopes.into_iter().map(string).collect(),
            extra,
        }
    }
}
