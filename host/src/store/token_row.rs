//! One token row: its metadata (shown by `tokens list`, never a secret) and
//! the sealed token set.

use authhost_plugin_api::{Secret, TokenSet};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::StoreError;

pub(crate) const SELECT_ONE: &str = "SELECT provider, user_id, version, key_id, nonce, ciphertext, expires_at, scopes, created_at, updated_at, obtained_at, last_error, rotates, recheck_since FROM authhost_tokens WHERE provider = $1 AND user_id = $2";
pub(crate) const SELECT_META: &str = "SELECT provider, user_id, version, key_id, expires_at, scopes, created_at, updated_at, obtained_at, last_error, rotates, recheck_since FROM authhost_tokens WHERE ($1 = '' OR provider = $1) AND ($2 = '' OR user_id = $2) ORDER BY provider, user_id";
pub(crate) const UPDATE_CAS: &str = "UPDATE authhost_tokens SET version = $1, key_id = $2, nonce = $3, ciphertext = $4, expires_at = $5, scopes = $6, updated_at = $7, obtained_at = COALESCE($11, obtained_at), recheck_since = CASE WHEN $11 IS NULL THEN recheck_since ELSE NULL END, last_error = NULL WHERE provider = $8 AND user_id = $9 AND version = $10";
pub(crate) const UPSERT: &str = "INSERT INTO authhost_tokens (provider, user_id, version, key_id, nonce, ciphertext, expires_at, scopes, created_at, updated_at, obtained_at) VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $8, $8, $8) ON CONFLICT (provider, user_id) DO UPDATE SET version = authhost_tokens.version + 1, key_id = excluded.key_id, nonce = excluded.nonce, ciphertext = excluded.ciphertext, expires_at = excluded.expires_at, scopes = excluded.scopes, updated_at = excluded.updated_at, obtained_at = excluded.obtained_at, recheck_since = NULL, last_error = NULL RETURNING version";

/// A row's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRow {
    /// The provider instance.
    pub provider: String,
    /// The user.
    pub user: String,
    /// Incremented on every write.
    pub version: i64,
    /// The key that sealed it.
    pub key_id: String,
    /// Access token expiry, Unix seconds.
    pub expires_at: Option<i64>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// First stored.
    pub created_at: i64,
    /// Last written (a new token, a re-encryption, a recorded error).
    pub updated_at: i64,
    /// When the current tokens were obtained from the server: what refresh
    /// timing is computed from.
    pub obtained_at: i64,
    /// Why the last refresh failed, if it did.
    pub last_error: Option<String>,
    /// Whether the server rotates this grant's refresh token; `None` until
    /// a refresh showed it.
    pub rotates: Option<bool>,
    /// Since when the outcome of a refresh is unknown (sent, never
    /// answered): the refresh token may have been used up.
    pub recheck_since: Option<i64>,
}

impl TokenRow {
    pub(crate) fn from_row(row: &sqlx::any::AnyRow) -> Result<Self, StoreError> {
        let scopes: String = row.try_get("scopes")?;
        Ok(Self {
            provider: row.try_get("provider")?,
            user: row.try_get("user_id")?,
            version: row.try_get("version")?,
            key_id: row.try_get("key_id")?,
            expires_at: row.try_get("expires_at")?,
            scopes: scopes.split_whitespace().map(str::to_owned).collect(),
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            obtained_at: row.try_get("obtained_at")?,
            last_error: row.try_get("last_error")?,
            rotates: row.try_get::<Option<i64>, _>("rotates")?.map(|r| r != 0),
            recheck_since: row.try_get("recheck_since")?,
        })
    }
}

/// A row's metadata and its decrypted tokens.
#[derive(Debug, Clone)]
pub struct StoredTokens {
    /// Metadata.
    pub meta: TokenRow,
    /// The tokens.
    pub tokens: TokenSet,
}

/// The sealed plaintext.
#[derive(Serialize, Deserialize)]
struct Plain {
    access_token: String,
    token_type: String,
    refresh_token: Option<String>,
    id_token: Option<String>,
    expires_at: Option<i64>,
    scopes: Vec<String>,
    extra: serde_json::Map<String, serde_json::Value>,
}

impl Drop for Plain {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.access_token.zeroize();
        if let Some(r) = &mut self.refresh_token {
            r.zeroize();
        }
        if let Some(i) = &mut self.id_token {
            i.zeroize();
        }
    }
}

pub(crate) fn serialize(tokens: &TokenSet) -> zeroize::Zeroizing<String> {
    let plain = Plain {
        access_token: tokens.access_token.expose().to_owned(),
        token_type: tokens.token_type.clone(),
        refresh_token: tokens.refresh_token.as_ref().map(|s| s.expose().to_owned()),
        id_token: tokens.id_token.as_ref().map(|s| s.expose().to_owned()),
        expires_at: tokens.expires_at,
        scopes: tokens.scopes.clone(),
        extra: tokens.extra.clone(),
    };
    zeroize::Zeroizing::new(serde_json::to_string(&plain).unwrap_or_default())
}

pub(crate) fn deserialize(bytes: &[u8]) -> Option<TokenSet> {
    let bytes = zeroize::Zeroizing::new(bytes.to_vec());
    let plain: Plain = serde_json::from_slice(&bytes).ok()?;
    Some(TokenSet {
        access_token: Secret::new(plain.access_token.clone()),
        token_type: plain.token_type.clone(),
        refresh_token: plain.refresh_token.clone().map(Secret::new),
        id_token: plain.id_token.clone().map(Secret::new),
        expires_at: plain.expires_at,
        scopes: plain.scopes.clone(),
        extra: plain.extra.clone(),
    })
}
