//! The store the host keeps for each plugin ([`abi::KeptStore`]): a few
//! values sealed in the workflow's token store as rows of provider
//! `plugin:<plugin name>`, user the plugin's key, so they survive restarts
//! and replicas agree on them (a client a plugin registered dynamically).
//!
//! Plugins are loaded before a command knows whether it opens a token
//! store, so the store is bound late, once per process ([`bind`]); until
//! then every call says no store is open.

use std::sync::{Arc, RwLock};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RArc, ROption, RResult, RString},
};
use async_ffi::{FfiFuture, FutureExt};
use authhost_plugin_api::{
    abi::{self, KeptStoreBox, KeptStore_TO, PluginError, RSecret},
    ErrorKind, Secret, TokenSet,
};

use crate::store::TokenStore;

/// The token store of the command running in this process.
static BOUND: RwLock<Option<Arc<TokenStore>>> = RwLock::new(None);

/// The store provider name under which `plugin` keeps its values.
pub fn kept_provider(plugin: &str) -> String {
    format!("plugin:{plugin}")
}

/// Whether a token store provider name holds values a plugin keeps (not
/// a workflow provider's grants).
pub fn is_kept_by_a_plugin(provider: &str) -> bool {
    provider.starts_with("plugin:")
}

/// Makes `store` the one plugins keep their values in, from now on.
pub fn bind(store: Arc<TokenStore>) {
    *BOUND
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(store);
}

fn bound() -> Result<Arc<TokenStore>, PluginError> {
    BOUND
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
        .ok_or_else(|| {
            error(
                ErrorKind::Unsupported,
                "this command opens no token store to keep plugin values in".to_owned(),
            )
        })
}

fn error(kind: ErrorKind, message: String) -> PluginError {
    PluginError {
        kind,
        message: RString::from(message),
        oauth_error: ROption::RNone,
    }
}

fn store_error(e: &crate::store::StoreError) -> PluginError {
    error(ErrorKind::Internal, format!("the token store failed: {e}"))
}

fn as_row(value: &RSecret) -> TokenSet {
    TokenSet {
        access_token: Secret::new(value.expose()),
        token_type: "kept".to_owned(),
        refresh_token: None,
        id_token: None,
        expires_at: None,
        scopes: Vec::new(),
        extra: serde_json::Map::new(),
    }
}

/// The host side of [`abi::KeptStore`] for one plugin.
#[derive(Clone, Debug)]
pub struct KeptStoreImpl {
    provider: Arc<str>,
}

impl KeptStoreImpl {
    /// The store of the plugin named `plugin`.
    pub fn new(plugin: &str) -> Self {
        Self {
            provider: Arc::from(kept_provider(plugin)),
        }
    }

    /// The ABI trait object handed to the plugin.
    pub fn into_abi(self) -> KeptStoreBox {
        KeptStore_TO::from_ptr(RArc::new(self), TD_Opaque)
    }
}

async fn get(provider: &str, key: &str) -> Result<Option<RSecret>, PluginError> {
    let row = bound()?
        .get(provider, key)
        .await
        .map_err(|e| store_error(&e))?;
    Ok(row.map(|row| RSecret::new(row.tokens.access_token.expose())))
}

/// Inserts unless a row exists, under the store's cross-process lock of
/// the row, so two replicas keeping a value at once agree on the first.
async fn put_first(provider: &str, key: &str, value: RSecret) -> Result<RSecret, PluginError> {
    let store = bound()?;
    let mut lock = store
        .lock(provider, key)
        .await
        .map_err(|e| store_error(&e))?;
    let result = match lock.get().await {
        Ok(Some(row)) => Ok(RSecret::new(row.tokens.access_token.expose())),
        Ok(None) => store
            .put(provider, key, &as_row(&value), None)
            .await
            .map(|_| value)
            .map_err(|e| store_error(&e)),
        Err(e) => Err(store_error(&e)),
    };
    lock.release().await.map_err(|e| store_error(&e))?;
    result
}

async fn remove(provider: &str, key: &str) -> Result<(), PluginError> {
    bound()?
        .delete(provider, key)
        .await
        .map(|_| ())
        .map_err(|e| store_error(&e))
}

impl abi::KeptStore for KeptStoreImpl {
    fn get(&self, key: RString) -> FfiFuture<RResult<ROption<RSecret>, PluginError>> {
        let provider = self.provider.clone();
        async move { get(&provider, &key).await.map(ROption::from).into() }.into_ffi()
    }

    fn put_first(&self, key: RString, value: RSecret) -> FfiFuture<RResult<RSecret, PluginError>> {
        let provider = self.provider.clone();
        async move { put_first(&provider, &key, value).await.into() }.into_ffi()
    }

    fn remove(&self, key: RString) -> FfiFuture<RResult<(), PluginError>> {
        let provider = self.provider.clone();
        async move { remove(&provider, &key).await.into() }.into_ffi()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;

    #[tokio::test(flavor = "multi_thread")]
    async fn the_first_value_kept_wins_and_can_be_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = StoreOptions {
            url: Some(format!("sqlite://{}", dir.path().join("t.db").display())),
            key_file: Some(dir.path().join("store.key")),
            ..StoreOptions::default()
        };
        let (store, _) = TokenStore::open(&options).await.expect("store");
        bind(Arc::new(store));
        let provider = kept_provider("demo");
        let (a, b) = tokio::join!(
            put_first(&provider, "registration", RSecret::from("first")),
            put_first(&provider, "registration", RSecret::from("second")),
        );
        let (a, b) = (a.expect("a"), b.expect("b"));
        assert_eq!(a.expose(), b.expose(), "both see the one value kept");
        let kept = get(&provider, "registration").await.expect("get");
        assert_eq!(
            kept.map(|v| v.expose().to_owned()),
            Some(a.expose().to_owned())
        );
        assert!(get(&kept_provider("other"), "registration")
            .await
            .expect("get")
            .is_none());
        remove(&provider, "registration").await.expect("remove");
        assert!(get(&provider, "registration").await.expect("get").is_none());
    }
}
