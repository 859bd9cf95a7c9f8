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

/// The base name of the root module every authhost plugin exports.
pub const ROOT_MODULE_BASE_NAME: &str = "authhost_plugin";

/// The root module a plugin library exports; the host reads it first.
///
/// Write it with [`export_plugin!`](crate::export_plugin), not by hand.
///
/// Versioning: fields may be appended after `components` within a `0.y`
/// series; the fields up to `components` never change within `0.y`.
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
    /// Describes every component, sorted by type name. The last prefix field:
    /// later additions go after it.
    #[sabi(last_prefix_field)]
    pub components: extern "C" fn() -> RResult<RVec<ComponentDescriptor>, PluginError>,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = ROOT_MODULE_BASE_NAME;
    const NAME: &'static str = "authhost plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
