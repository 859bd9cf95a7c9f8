//! Component registration (through `inventory`, per library) and the
//! functions [`export_plugin!`](crate::export_plugin) puts in the root module.

use abi_stable::std_types::{RResult, RStr, RString, RVec};
use schemars::{generate::SchemaSettings, JsonSchema};

use crate::{
    abi::{
        AuthenticatorBox, Capabilities, ComponentDescriptor, HostServicesBox, PluginError,
        ProviderBox, RSecret,
    },
    authenticator::create_authenticator,
    guard::{guard_sync, Site},
    provider::create_provider,
    AuthProvider, Authenticator, Error, ErrorKind, Host,
};

/// The `component_type` of outbound credential providers.
pub const AUTH_PROVIDER: &str = "auth_provider";
/// The `component_type` of inbound authenticators.
pub const AUTHENTICATOR: &str = "authenticator";

type CreateProviderFn = fn(&'static str, &str, &str) -> Result<ProviderBox, Error>;
type CreateAuthenticatorFn = fn(&'static str, &str, &str) -> Result<AuthenticatorBox, Error>;

enum Factory {
    Provider(CreateProviderFn),
    Authenticator(CreateAuthenticatorFn),
}

/// One registered component type. Created by
/// [`register_provider!`](crate::register_provider) and
/// [`register_authenticator!`](crate::register_authenticator).
pub struct Registration {
    name: &'static str,
    describe: fn() -> Result<ComponentDescriptor, Error>,
    factory: Factory,
}

impl Registration {
    /// Registration of an [`AuthProvider`] type.
    pub const fn provider<P: AuthProvider>() -> Self {
        Self {
            name: P::NAME,
            describe: describe_provider::<P>,
            factory: Factory::Provider(create_provider::<P>),
        }
    }

    /// Registration of an [`Authenticator`] type.
    pub const fn authenticator<A: Authenticator>() -> Self {
        Self {
            name: A::NAME,
            describe: describe_authenticator::<A>,
            factory: Factory::Authenticator(create_authenticator::<A>),
        }
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.factory {
            Factory::Provider(_) => AUTH_PROVIDER,
            Factory::Authenticator(_) => AUTHENTICATOR,
        };
        f.debug_struct("Registration")
            .field("name", &self.name)
            .field("kind", &kind)
            .finish()
    }
}

inventory::collect!(Registration);

/// The JSON Schema (draft 2020-12) of a configuration type, as a JSON value.
pub fn config_schema<C: JsonSchema>() -> serde_json::Value {
    let schema = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<C>();
    schema.to_value()
}

fn descriptor(
    component_type: &str,
    name: &str,
    description: &str,
    schema: serde_json::Value,
    example: serde_json::Value,
    capabilities: Capabilities,
) -> ComponentDescriptor {
    ComponentDescriptor {
        component_type: RString::from(component_type),
        type_name: RString::from(name),
        description: RString::from(description),
        config_schema: RString::from(schema.to_string()),
        example_config: RString::from(example.to_string()),
        capabilities,
    }
}

fn describe_provider<P: AuthProvider>() -> Result<ComponentDescriptor, Error> {
    Ok(descriptor(
        AUTH_PROVIDER,
        P::NAME,
        P::DESCRIPTION,
        config_schema::<P::Config>(),
        P::example_config(),
        P::CAPABILITIES,
    ))
}

fn describe_authenticator<A: Authenticator>() -> Result<ComponentDescriptor, Error> {
    Ok(descriptor(
        AUTHENTICATOR,
        A::NAME,
        A::DESCRIPTION,
        config_schema::<A::Config>(),
        A::example_config(),
        Capabilities::NONE,
    ))
}

fn registrations() -> Vec<&'static Registration> {
    let mut all: Vec<_> = inventory::iter::<Registration>.into_iter().collect();
    all.sort_by_key(|r| r.name);
    all
}

/// Entry points called by the root module [`export_plugin!`](crate::export_plugin)
/// generates. Not for direct use.
#[doc(hidden)]
pub mod entry {
    use super::*;

    /// `PluginMod::init`.
    pub fn init(
        plugin: &'static str,
        services: HostServicesBox,
        hook: fn(&Host) -> Result<(), Error>,
    ) -> RResult<(), PluginError> {
        let site = Site {
            plugin,
            component: "",
            operation: "init",
        };
        guard_sync(site, || {
            let host = Host::install(services);
            crate::log_bridge::install(&host);
            hook(&host)
        })
        .map_err(PluginError::from)
        .into()
    }

    /// The [`KeptStoreFn`](crate::abi::KeptStoreFn) of a plugin: records
    /// the store the host keeps for it. Cannot panic across the ABI.
    pub fn install_kept_store(store: crate::abi::KeptStoreBox) {
        Host::install_kept_store(store);
    }

    /// The [`AboutFn`](crate::abi::AboutFn) of a plugin: its package
    /// metadata as JSON, built once. Cannot panic across the ABI: building a
    /// JSON object from strings does not fail.
    pub fn about(description: &str, authors: &str, repository: &str) -> RStr<'static> {
        static ABOUT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let about = ABOUT.get_or_init(|| {
            let authors: Vec<&str> = authors
                .split(':')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .collect();
            serde_json::json!({
                "description": description,
                "authors": authors,
                "repository": repository,
            })
            .to_string()
        });
        RStr::from_str(about.as_str())
    }

    /// `PluginMod::components`.
    pub fn components(plugin: &'static str) -> RResult<RVec<ComponentDescriptor>, PluginError> {
        let mut out = RVec::new();
        for registration in registrations() {
            let site = Site {
                plugin,
                component: registration.name,
                operation: "describe",
            };
            match guard_sync(site, registration.describe) {
                Ok(descriptor) => out.push(descriptor),
                Err(e) => return RResult::RErr(e.into()),
            }
        }
        RResult::ROk(out)
    }

    fn unknown(kind: &str, type_name: &str) -> PluginError {
        Error::new(
            ErrorKind::InvalidConfig,
            format!("this plugin has no {kind} named `{type_name}`"),
        )
        .into()
    }

    /// Finds the registered `type_name` of `kind` (its factory picked by
    /// `factory`) and calls it inside the panic guard.
    fn create<T>(
        plugin: &'static str,
        kind: &str,
        type_name: RStr<'_>,
        instance_name: RStr<'_>,
        config_json: RSecret,
        factory: impl Fn(&Factory) -> Option<fn(&'static str, &str, &str) -> Result<T, Error>>,
    ) -> RResult<T, PluginError> {
        let Some((name, create)) = registrations().into_iter().find_map(|r| {
            factory(&r.factory)
                .filter(|_| r.name == type_name.as_str())
                .map(|create| (r.name, create))
        }) else {
            return RResult::RErr(unknown(kind, type_name.as_str()));
        };
        let site = Site {
            plugin,
            component: name,
            operation: "create",
        };
        guard_sync(site, || {
            create(plugin, instance_name.as_str(), config_json.expose())
        })
        .map_err(PluginError::from)
        .into()
    }

    /// `PluginMod::create_provider`.
    pub fn create_provider(
        plugin: &'static str,
        type_name: RStr<'_>,
        instance_name: RStr<'_>,
        config_json: RSecret,
    ) -> RResult<ProviderBox, PluginError> {
        create(
            plugin,
            AUTH_PROVIDER,
            type_name,
            instance_name,
            config_json,
            |f| match f {
                Factory::Provider(create) => Some(*create),
                Factory::Authenticator(_) => None,
            },
        )
    }

    /// `PluginMod::create_authenticator`.
    pub fn create_authenticator(
        plugin: &'static str,
        type_name: RStr<'_>,
        instance_name: RStr<'_>,
        config_json: RSecret,
    ) -> RResult<AuthenticatorBox, PluginError> {
        create(
            plugin,
            AUTHENTICATOR,
            type_name,
            instance_name,
            config_json,
            |f| match f {
                Factory::Authenticator(create) => Some(*create),
                Factory::Provider(_) => None,
            },
        )
    }
}
