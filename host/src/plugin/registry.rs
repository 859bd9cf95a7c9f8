//! [`PluginRegistry`]: every loaded plugin and the components they offer.

use std::{collections::BTreeMap, path::PathBuf, sync::Arc, time::Duration};

use crate::outbound::Outbound;
use abi_stable::std_types::{RResult, RStr, RString};
use authhost_plugin_api::abi::{Capabilities, PluginError, RSecret};

use super::{
    handle::InstanceNames, load_plugin, sha256_file, AuthenticatorHandle, ComponentKind,
    CreateError, LoadError, LoadedPlugin, Pin, ProviderHandle, SearchPath,
};

/// One component type offered by a loaded plugin.
#[derive(Debug, Clone)]
pub struct Component {
    /// Its kind.
    pub component_type: ComponentKind,
    /// The type name (`api_key`).
    pub type_name: String,
    /// One-line description.
    pub description: String,
    /// The configuration JSON Schema.
    pub config_schema: serde_json::Value,
    /// An example configuration.
    pub example_config: serde_json::Value,
    /// What it can do.
    pub capabilities: Capabilities,
    /// The plugin's name.
    pub plugin: String,
    /// The plugin's version.
    pub plugin_version: String,
    /// The plugin-api version the plugin was built against.
    pub plugin_api_version: String,
    /// The file the plugin was loaded from.
    pub path: PathBuf,
    plugin_index: usize,
}

/// The plugins loaded from a [`SearchPath`], the components they offer
/// (sorted by component type, then name) and the files that failed.
#[derive(Debug, Default)]
pub struct PluginRegistry {
    plugins: Vec<Arc<LoadedPlugin>>,
    components: BTreeMap<(ComponentKind, String), Component>,
    errors: Vec<LoadError>,
    matched_pins: Vec<usize>,
    /// The least deadline of calls that reach a token endpoint (code
    /// exchange, refresh): longer than the outbound HTTP timeout, so such a
    /// call is never cut off while its request is on the wire.
    token_call_timeout: Duration,
}

/// How much longer than the outbound HTTP timeout a token-endpoint call may
/// take (the plugin's own work around the request).
const TOKEN_CALL_MARGIN: Duration = Duration::from_secs(5);

impl PluginRegistry {
    /// Loads every candidate of `search` with default host services. A bad
    /// file is recorded in [`errors`](Self::errors) and the others still load.
    pub fn load(search: &SearchPath) -> Self {
        Self::load_with(search, &Arc::new(Outbound::default()), &[])
    }

    /// Loads every candidate of `search`; plugins send HTTP through
    /// `outbound`; a file matching a pin loads only if its digest matches.
    pub fn load_with(search: &SearchPath, outbound: &Arc<Outbound>, pins: &[Pin]) -> Self {
        let mut registry = Self {
            token_call_timeout: outbound.request_timeout() + TOKEN_CALL_MARGIN,
            ..Self::default()
        };
        for (path, _source) in search.candidates() {
            if let Some((index, pin)) = pins.iter().enumerate().find(|(_, p)| p.matches(&path)) {
                registry.matched_pins.push(index);
                let actual = sha256_file(&path).unwrap_or_default();
                if actual != pin.sha256 {
                    registry.errors.push(LoadError::PinMismatch {
                        path,
                        pin: index,
                        expected: pin.sha256.clone(),
                        actual,
                    });
                    continue;
                }
            }
            match load_plugin(&path, outbound) {
                Ok(plugin) => registry.add(plugin),
                Err(e) => {
                    tracing::debug!(error = %e, "plugin not loaded");
                    registry.errors.push(e);
                }
            }
        }
        registry
    }

    /// Adds a loaded plugin, refusing it whole if one of its type names is
    /// already taken.
    pub fn add(&mut self, plugin: LoadedPlugin) {
        for c in &plugin.components {
            let Some(kind) = ComponentKind::parse(&c.component_type) else {
                continue;
            };
            let key = (kind, c.type_name.to_string());
            if let Some(existing) = self.components.get(&key) {
                self.errors.push(LoadError::DuplicateType {
                    path: plugin.path.clone(),
                    first: existing.path.clone(),
                    component_type: kind.to_string(),
                    type_name: key.1,
                });
                return;
            }
        }
        let index = self.plugins.len();
        for c in &plugin.components {
            let parse = |text: &RString| {
                serde_json::from_str(text.as_str()).unwrap_or(serde_json::Value::Null)
            };
            let Some(kind) = ComponentKind::parse(&c.component_type) else {
                tracing::debug!(plugin = %plugin.name, kind = %c.component_type, type_name = %c.type_name, "component of a kind this host does not know: skipped");
                continue;
            };
            self.components.insert(
                (kind, c.type_name.to_string()),
                Component {
                    component_type: kind,
                    type_name: c.type_name.to_string(),
                    description: c.description.to_string(),
                    config_schema: parse(&c.config_schema),
                    example_config: parse(&c.example_config),
                    capabilities: c.capabilities,
                    plugin: plugin.name.clone(),
                    plugin_version: plugin.version.clone(),
                    plugin_api_version: plugin.api_version.clone(),
                    path: plugin.path.clone(),
                    plugin_index: index,
                },
            );
        }
        self.plugins.push(Arc::new(plugin));
    }

    /// The loaded plugins, sorted by name. (The list itself stays in load
    /// order: components refer to their plugin by position.)
    pub fn plugins(&self) -> impl Iterator<Item = &LoadedPlugin> {
        let mut sorted: Vec<&LoadedPlugin> = self.plugins.iter().map(|p| &**p).collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        sorted.into_iter()
    }

    /// How many plugins loaded.
    pub fn plugin_count(&self) -> usize {
        self.plugins.len()
    }

    /// Indexes of the pins that matched a file.
    pub fn matched_pins(&self) -> &[usize] {
        &self.matched_pins
    }

    /// Files that could not be loaded, in search order.
    pub fn errors(&self) -> &[LoadError] {
        &self.errors
    }

    /// All components, sorted by component type then name.
    pub fn components(&self) -> impl Iterator<Item = &Component> {
        self.components.values()
    }

    /// The component `type_name` of `component_type`.
    pub fn component(&self, component_type: ComponentKind, type_name: &str) -> Option<&Component> {
        self.components.get(&(component_type, type_name.to_owned()))
    }

    /// Installed type names of `component_type` close to `wanted`, best first.
    pub fn suggestions(&self, component_type: ComponentKind, wanted: &str) -> Vec<String> {
        let names = self
            .components
            .keys()
            .filter(|(kind, _)| *kind == component_type)
            .map(|(_, name)| name.as_str());
        crate::suggest::close_matches(wanted, names)
            .into_iter()
            .take(3)
            .map(str::to_owned)
            .collect()
    }
}

/// A plugin's `create_provider` / `create_authenticator` entry point.
type CreateFn<B> = extern "C" fn(RStr<'_>, RStr<'_>, RSecret) -> RResult<B, PluginError>;

impl PluginRegistry {
    /// Finds the plugin offering `type_name` and calls its create entry
    /// point (chosen by `entry`) with the JSON configuration.
    fn instantiate<B>(
        &self,
        component_type: ComponentKind,
        type_name: &str,
        instance_name: &str,
        config: &serde_json::Value,
        timeout: Duration,
        entry: impl FnOnce(&LoadedPlugin) -> CreateFn<B>,
    ) -> Result<(B, Arc<InstanceNames>), CreateError> {
        let component =
            self.component(component_type, type_name)
                .ok_or_else(|| CreateError::UnknownType {
                    component_type: component_type.as_str(),
                    type_name: type_name.to_owned(),
                    suggestions: self.suggestions(component_type, type_name),
                })?;
        let plugin = &self.plugins[component.plugin_index];
        let result = entry(plugin)(
            RStr::from_str(type_name),
            RStr::from_str(instance_name),
            RSecret::new(config.to_string()),
        );
        match result.into_result() {
            Ok(instance) => Ok((
                instance,
                InstanceNames::new(
                    &plugin.name,
                    type_name,
                    instance_name,
                    timeout,
                    component.capabilities,
                ),
            )),
            Err(e) => Err(CreateError::Plugin {
                instance: instance_name.to_owned(),
                type_name: type_name.to_owned(),
                plugin: plugin.name.clone(),
                error: Box::new(e.into()),
            }),
        }
    }

    /// Creates the provider instance `instance_name` of `type_name` from its
    /// configuration. Calls into the instance are bounded by `timeout`.
    ///
    /// # Errors
    ///
    /// [`CreateError::UnknownType`] with suggestions, or the plugin's
    /// refusal of the configuration (a panic in `create` included).
    pub fn create_provider(
        &self,
        type_name: &str,
        instance_name: &str,
        config: &serde_json::Value,
        timeout: Duration,
    ) -> Result<ProviderHandle, CreateError> {
        let (instance, names) = self.instantiate(
            ComponentKind::AuthProvider,
            type_name,
            instance_name,
            config,
            timeout,
            |p| p.module.create_provider(),
        )?;
        Ok(ProviderHandle::new(
            instance,
            names.with_token_call_timeout(timeout.max(self.token_call_timeout)),
        ))
    }

    /// Creates an authenticator instance, as [`create_provider`](Self::create_provider).
    ///
    /// # Errors
    ///
    /// As [`create_provider`](Self::create_provider).
    pub fn create_authenticator(
        &self,
        type_name: &str,
        instance_name: &str,
        config: &serde_json::Value,
        timeout: Duration,
    ) -> Result<AuthenticatorHandle, CreateError> {
        let (instance, names) = self.instantiate(
            ComponentKind::Authenticator,
            type_name,
            instance_name,
            config,
            timeout,
            |p| p.module.create_authenticator(),
        )?;
        Ok(AuthenticatorHandle::new(instance, names))
    }
}
