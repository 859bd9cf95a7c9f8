//! The macros a plugin crate uses: register its types, export its root module.

/// Registers an [`AuthProvider`](crate::AuthProvider) type with this plugin.
///
/// ```ignore
/// authhost_plugin_api::register_provider!(ApiKey);
/// ```
#[macro_export]
macro_rules! register_provider {
    ($provider:ty) => {
        $crate::__private::inventory::submit! {
            $crate::__private::Registration::provider::<$provider>()
        }
    };
}

/// Registers an [`Authenticator`](crate::Authenticator) type with this plugin.
#[macro_export]
macro_rules! register_authenticator {
    ($authenticator:ty) => {
        $crate::__private::inventory::submit! {
            $crate::__private::Registration::authenticator::<$authenticator>()
        }
    };
}

/// Exports this crate's root module so the host can load it. Use it once per
/// plugin crate (a `cdylib`), anywhere at module level.
///
/// The plugin's name, version, description, authors and repository come
/// from its `Cargo.toml`; `authhost plugins list` shows them. An optional
/// `init = path::to::fn` runs once after loading, with the [`Host`](crate::Host);
/// an error or a panic there makes the host refuse the plugin.
///
/// ```ignore
/// authhost_plugin_api::export_plugin!();
/// // or
/// authhost_plugin_api::export_plugin!(init = setup);
/// fn setup(host: &authhost_plugin_api::Host) -> Result<(), authhost_plugin_api::Error> { Ok(()) }
/// ```
#[macro_export]
macro_rules! export_plugin {
    () => {
        $crate::export_plugin!(init = $crate::__private::no_init);
    };
    (init = $init:path) => {
        #[doc(hidden)]
        const __AUTHHOST_INIT_HOOK: fn(&$crate::Host) -> ::core::result::Result<(), $crate::Error> =
            $init;

        #[doc(hidden)]
        #[allow(unsafe_code, missing_docs, non_upper_case_globals)]
        pub mod __authhost_plugin_root {
            use $crate::__private::abi_stable::std_types::{RResult, RStr, RVec};
            use $crate::__private::abi_stable::{library, prefix_type::PrefixTypeTrait as _};
            use $crate::abi::{
                AuthenticatorBox, ComponentDescriptor, HostServicesBox, PluginError, PluginMod,
                PluginModRef, ProviderBox, RSecret,
            };

            const PLUGIN_NAME: &str = env!("CARGO_PKG_NAME");

            extern "C" fn init(host: HostServicesBox) -> RResult<(), PluginError> {
                $crate::__private::entry::init(PLUGIN_NAME, host, super::__AUTHHOST_INIT_HOOK)
            }

            extern "C" fn components() -> RResult<RVec<ComponentDescriptor>, PluginError> {
                $crate::__private::entry::components(PLUGIN_NAME)
            }

            extern "C" fn create_provider(
                type_name: RStr<'_>,
                instance_name: RStr<'_>,
                config_json: RSecret,
            ) -> RResult<ProviderBox, PluginError> {
                $crate::__private::entry::create_provider(
                    PLUGIN_NAME,
                    type_name,
                    instance_name,
                    config_json,
                )
            }

            extern "C" fn create_authenticator(
                type_name: RStr<'_>,
                instance_name: RStr<'_>,
                config_json: RSecret,
            ) -> RResult<AuthenticatorBox, PluginError> {
                $crate::__private::entry::create_authenticator(
                    PLUGIN_NAME,
                    type_name,
                    instance_name,
                    config_json,
                )
            }

            fn root_module() -> PluginModRef {
                PluginMod {
                    api_version: RStr::from_str($crate::abi::API_VERSION),
                    plugin_name: RStr::from_str(PLUGIN_NAME),
                    plugin_version: RStr::from_str(env!("CARGO_PKG_VERSION")),
                    init,
                    create_provider,
                    create_authenticator,
                    components,
                }
                .leak_into_prefix()
            }

            /// The package metadata (`ABOUT_SYMBOL`, since plugin-api 0.1.1).
            #[unsafe(export_name = "authhost_plugin_about_v1")]
            pub extern "C" fn authhost_plugin_about() -> RStr<'static> {
                $crate::__private::entry::about(
                    env!("CARGO_PKG_DESCRIPTION"),
                    env!("CARGO_PKG_AUTHORS"),
                    env!("CARGO_PKG_REPOSITORY"),
                )
            }

            /// The store the host keeps for this plugin (`KEPT_STORE_SYMBOL`,
            /// since plugin-api 0.1.2).
            #[unsafe(export_name = "authhost_plugin_kept_store_v1")]
            pub extern "C" fn authhost_plugin_kept_store(store: $crate::abi::KeptStoreBox) {
                $crate::__private::entry::install_kept_store(store)
            }

            // What `#[abi_stable::export_root_module]` expands to, written out
            // so plugin crates need not depend on abi_stable themselves. The
            // symbol name is checked against abi_stable's in plugin-api's tests.
            #[unsafe(export_name = "_1as_0lib_1header_0root_bmodule_bloader")]
            pub static AUTHHOST_ROOT_MODULE_LOADER: library::LibHeader = {
                extern "C" fn erased_module() -> library::RootModuleResult {
                    library::__call_root_module_loader(root_module)
                }
                // SAFETY: `erased_module` returns a `PluginModRef`, the type
                // the header is declared for.
                unsafe {
                    library::LibHeader::from_constructor::<PluginModRef>(
                        erased_module,
                        library::CheckTypeLayout::Yes,
                    )
                }
            };
        }
    };
}
