use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings,
    sabi_types::VersionStrings,
    std_types::{RResult, RStr, RVec},
    StableAbi,
};

use super::{
    AuthenticatorBox, ComponentDescriptor, HostServicesBox, PluginError, ProviderBox, RSecret,
};

/// The version of `authhost-plugin-api` this copy was built as.
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The symbol (NUL-terminated) under which a plugin built against 0.1.1 or
/// later exports its package metadata: an [`AboutFn`]. Written by
/// [`export_plugin!`](crate::export_plugin).
pub const ABOUT_SYMBOL: &[u8] = b"authhost_plugin_about_v1\0";

/// The function behind [`ABOUT_SYMBOL`]: a JSON object with the plugin
/// package's `description`, `authors` (a list) and `repository`, from its
/// `Cargo.toml`. Its signature never changes; keys may be added.
pub type AboutFn = extern "C" fn() -> RStr<'static>;

/// The base name of the root module every authhost plugin exports.
pub const ROOT_MODULE_BASE_NAME: &str = "authhost_plugin";

/// The root module a plugin library exports; the host reads it first.
///
/// Write it with [`export_plugin!`](crate::export_plugin), not by hand.
///
/// Versioning: the layout is frozen within a `0.y` series. abi_stable
/// refuses a library whose root module (or any prefix type reachable from
/// it, such as a trait object's vtable) has *fewer* fields than the
/// host's, so appending a field here would make every plugin built against
/// an older `0.y.z` unloadable. What a plugin tells the host beyond these
/// fields travels through separate, versioned symbols instead
/// ([`ABOUT_SYMBOL`]); a missing symbol means an older plugin.
#[repr(C)]
#[derive(StableAbi, Debug)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    /// The `authhost-plugin-api` version the plugin was built with. Frozen within `0.y`.
    pub api_version: RStr<'static>,
    /// The plugin's package name. Frozen within `0.y`.
    pub plugin_name: RStr<'static>,
    /// The plugin's package version. Frozen within `0.y`.
    pub plugin_version: RStr<'static>,
    /// Called once, right after loading, with the host's services. Frozen within `0.y`.
    pub init: extern "C" fn(host: HostServicesBox) -> RResult<(), PluginError>,
    /// Creates an `auth_provider` instance of `type_name` from its JSON
    /// configuration. Frozen within `0.y`.
    pub create_provider: extern "C" fn(
        type_name: RStr<'_>,
        instance_name: RStr<'_>,
        config_json: RSecret,
    ) -> RResult<ProviderBox, PluginError>,
    /// Creates an `authenticator` instance. Frozen within `0.y`.
    pub create_authenticator: extern "C" fn(
        type_name: RStr<'_>,
        instance_name: RStr<'_>,
        config_json: RSecret,
    ) -> RResult<AuthenticatorBox, PluginError>,
    /// Describes every component, sorted by type name. The last field (see
    /// the versioning rule above).
    #[sabi(last_prefix_field)]
    pub components: extern "C" fn() -> RResult<RVec<ComponentDescriptor>, PluginError>,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = ROOT_MODULE_BASE_NAME;
    const NAME: &'static str = "authhost plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
