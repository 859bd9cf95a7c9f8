use abi_stable::{
    sabi_trait,
    std_types::{RArc, ROption, RResult, RString},
};
use async_ffi::FfiFuture;

use super::{PluginError, RSecret};

/// The symbol (NUL-terminated) under which a plugin built against 0.1.2 or
/// later exports a [`KeptStoreFn`]: the host calls it once, after `init`,
/// with the store it keeps for that plugin. Written by
/// [`export_plugin!`](crate::export_plugin). An older plugin lacks it (and
/// keeps nothing); an older host never calls it (and
/// [`Host::kept`](crate::Host::kept) says so).
pub const KEPT_STORE_SYMBOL: &[u8] = b"authhost_plugin_kept_store_v1\0";

/// The function behind [`KEPT_STORE_SYMBOL`]. Its signature and
/// [`KeptStore`]'s methods never change; a different store is a `_v2` symbol.
pub type KeptStoreFn = extern "C" fn(store: KeptStoreBox);

/// A few values the host keeps for a plugin, sealed like tokens in its
/// token store, so they survive restarts and every replica sees the same:
/// a client registered dynamically, say. Keys are the plugin's own (the
/// host scopes them by plugin name); values are secrets.
///
/// Versioning: reached through [`KEPT_STORE_SYMBOL`], never through the
/// root module, so its layout is not checked at load: it is frozen for
/// that symbol's name.
#[sabi_trait]
pub trait KeptStore: Clone + Send + Sync + 'static {
    /// The value kept under `key`, if any.
    fn get(&self, key: RString) -> FfiFuture<RResult<ROption<RSecret>, PluginError>>;

    /// Keeps `value` under `key` unless a value is kept there already, and
    /// answers the value kept now: `value`, or the earlier one (another
    /// replica's), which the caller must use instead.
    fn put_first(&self, key: RString, value: RSecret) -> FfiFuture<RResult<RSecret, PluginError>>;

    /// Forgets the value under `key` (no error when there is none).
    #[sabi(last_prefix_field)]
    fn remove(&self, key: RString) -> FfiFuture<RResult<(), PluginError>>;
}

/// The kept store trait object handed to a plugin.
pub type KeptStoreBox = KeptStore_TO<RArc<()>>;
