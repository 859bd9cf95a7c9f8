//! What authhost's MCP client keeps beyond one session, in the encrypted
//! token store: each user's tokens for a server (provider `mcp:<server
//! URL>`), and the client registered dynamically at an authorization server
//! (provider `mcp-client:<issuer>`, user `*`: one registration serves every
//! user). Refreshes take the store's refresh lock and re-read first, so a
//! refresh token is spent once however many processes want it.

use std::sync::Arc;

use authhost_plugin_api::{Secret, TokenSet};
use serde_json::{json, Value};

use super::{
    client::{Client, ClientAuth, Origin},
    token_endpoint::Token,
};
use crate::store::TokenStore;

/// The store user under which registrations are kept.
const REGISTRATION_USER: &str = "*";

/// The store and the user a session's tokens belong to.
#[derive(Clone)]
pub struct Saved {
    store: Arc<TokenStore>,
    user: String,
}

impl std::fmt::Debug for Saved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Saved")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The store provider name of a server's tokens.
pub fn token_provider(server: &url::Url) -> String {
    format!("mcp:{server}")
}

/// Whether a token store provider name is one `authhost mcp` saves under
/// (a server's tokens or a registration), not a workflow provider.
pub fn is_saved_by_mcp_client(provider: &str) -> bool {
    provider.starts_with("mcp:") || provider.starts_with("mcp-client:")
}

fn registration_provider(issuer: &str) -> String {
    format!("mcp-client:{issuer}")
}

impl Saved {
    /// Tokens of `user` in `store`.
    pub fn new(store: Arc<TokenStore>, user: String) -> Self {
        Self { store, user }
    }

    /// The user's saved token for `server`, if any.
    ///
    /// # Errors
    ///
    /// The store failed.
    pub async fn token(&self, server: &url::Url) -> Result<Option<Token>, String> {
        let row = self
            .store
            .get(&token_provider(server), &self.user)
            .await
            .map_err(|e| e.to_string())?;
        Ok(row.map(|row| from_set(row.tokens)))
    }

    /// Saves the user's token for `server`.
    ///
    /// # Errors
    ///
    /// The store failed.
    pub async fn put_token(&self, server: &url::Url, token: &Token) -> Result<(), String> {
        self.store
            .put(
                &token_provider(server),
                &self.user,
                &to_set(token, Value::Null),
                None,
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Refreshes the user's token for `server` once across processes:
    /// under the refresh lock, a token another process already refreshed
    /// (the row no longer holds `current`) is taken as it is; else
    /// `refresh` runs and its result is saved.
    ///
    /// # Errors
    ///
    /// The store or `refresh` failed.
    pub async fn refresh_once<F, Fut>(
        &self,
        server: &url::Url,
        current: &Secret,
        refresh: F,
    ) -> Result<Token, String>
    where
        F: FnOnce(Token) -> Fut,
        Fut: std::future::Future<Output = Result<Token, String>>,
    {
        let provider = token_provider(server);
        let mut lock = self
            .store
            .lock(&provider, &self.user)
            .await
            .map_err(|e| e.to_string())?;
        let row = lock.get().await.map_err(|e| e.to_string())?;
        let result = match row {
            Some(row) if row.tokens.access_token.expose() != current.expose() => {
                Ok(from_set(row.tokens))
            }
            Some(row) => {
                let version = row.meta.version;
                match refresh(from_set(row.tokens)).await {
                    Ok(fresh) => lock
                        .put(&to_set(&fresh, Value::Null), version)
                        .await
                        .map(|_| fresh)
                        .map_err(|e| e.to_string()),
                    Err(why) => Err(why),
                }
            }
            None => Err("the saved token is gone (revoked with `authhost tokens`?)".to_owned()),
        };
        lock.release().await.map_err(|e| e.to_string())?;
        result
    }

    /// The client registered earlier at `issuer`, if any.
    ///
    /// # Errors
    ///
    /// The store failed.
    pub async fn registration(&self, issuer: &str) -> Result<Option<Client>, String> {
        let row = self
            .store
            .get(&registration_provider(issuer), REGISTRATION_USER)
            .await
            .map_err(|e| e.to_string())?;
        let Some(row) = row else { return Ok(None) };
        let extra = &row.tokens.extra;
        let (Some(id), Some(method)) = (
            extra.get("client_id").and_then(Value::as_str),
            extra.get("auth_method").and_then(Value::as_str),
        ) else {
            return Ok(None);
        };
        let secret = row.tokens.access_token;
        let auth = match method {
            "client_secret_basic" => ClientAuth::Basic(secret),
            "client_secret_post" => ClientAuth::Post(secret),
            _ => ClientAuth::None,
        };
        Ok(Some(Client {
            id: id.to_owned(),
            auth,
            origin: Origin::Registered,
        }))
    }

    /// Saves a client registered at `issuer` (its secret sealed like a token).
    ///
    /// # Errors
    ///
    /// The store failed.
    pub async fn put_registration(&self, issuer: &str, client: &Client) -> Result<(), String> {
        let (method, secret) = match &client.auth {
            ClientAuth::Basic(s) => ("client_secret_basic", s.clone()),
            ClientAuth::Post(s) => ("client_secret_post", s.clone()),
            _ => ("none", Secret::new(String::new())),
        };
        let token = Token {
            access: secret,
            refresh: None,
            expires_at: None,
            scopes: Vec::new(),
        };
        let extra = json!({ "client_id": client.id, "auth_method": method });
        self.store
            .put(
                &registration_provider(issuer),
                REGISTRATION_USER,
                &to_set(&token, extra),
                None,
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

fn to_set(token: &Token, extra: Value) -> TokenSet {
    TokenSet {
        access_token: token.access.clone(),
        token_type: "Bearer".to_owned(),
        refresh_token: token.refresh.clone(),
        id_token: None,
        expires_at: token.expires_at,
        scopes: token.scopes.clone(),
        extra: match extra {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        },
    }
}

fn from_set(set: TokenSet) -> Token {
    Token {
        access: set.access_token.clone(),
        refresh: set.refresh_token.clone(),
        expires_at: set.expires_at,
        scopes: set.scopes.clone(),
    }
}
