//! JWKS: the inbound JWT keys published by an identity provider, fetched
//! through the outbound client, cached by `kid`, re-fetched when a token
//! names an unknown `kid` — at most once per [`MIN_REFRESH`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use jsonwebtoken::{jwk::JwkSet, DecodingKey};

use crate::outbound::Outbound;

/// Least time between two fetches (unknown `kid`s cannot hammer the IdP).
pub const MIN_REFRESH: Duration = Duration::from_secs(30);

/// A cached JWKS.
pub struct Jwks {
    url: url::Url,
    outbound: Arc<Outbound>,
    keys: RwLock<HashMap<String, DecodingKey>>,
    last_fetch: Mutex<Option<Instant>>,
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks")
            .field("url", &self.url.as_str())
            .finish()
    }
}

impl Jwks {
    /// A JWKS at `url`, fetched on first use through `outbound`.
    pub fn new(url: url::Url, outbound: Arc<Outbound>) -> Self {
        Self {
            url,
            outbound,
            keys: RwLock::new(HashMap::new()),
            last_fetch: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self, kid: &str) -> Option<DecodingKey> {
        self.keys.read().ok()?.get(kid).cloned()
    }

    /// The key `kid`, fetching the set when it is unknown and the last
    /// fetch is old enough.
    pub async fn key(&self, kid: &str) -> Option<DecodingKey> {
        if let Some(key) = self.cached(kid) {
            return Some(key);
        }
        let _one_fetch = self.fetching.lock().await;
        if let Some(key) = self.cached(kid) {
            return Some(key);
        }
        let due = self
            .last_fetch
            .lock()
            .map(|l| l.is_none_or(|at| at.elapsed() >= MIN_REFRESH))
            .unwrap_or(true);
        if !due {
            return None;
        }
        if let Ok(mut last) = self.last_fetch.lock() {
            *last = Some(Instant::now());
        }
        match self.fetch().await {
            Ok(keys) => {
                tracing::debug!(url = %self.url, keys = keys.len(), "JWKS fetched");
                if let Ok(mut cache) = self.keys.write() {
                    *cache = keys;
                }
            }
            Err(e) => tracing::warn!(url = %self.url, error = %e, "JWKS fetch failed"),
        }
        self.cached(kid)
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, String> {
        self.outbound
            .check_url(&self.url)
            .map_err(|e| e.to_string())?;
        let client = self.outbound.client().map_err(|e| e.to_string())?;
        let response = client
            .get(self.url.clone())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        let set: JwkSet = serde_json::from_slice(&body).map_err(|_| "not a JWK set".to_owned())?;
        Ok(set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
            .collect())
    }
}
