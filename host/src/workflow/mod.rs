//! Workflow files: YAML naming provider instances and tools, `${VAR}`
//! secrets, `AUTHHOST_…` overrides, and validation that reports every
//! problem at once with its place.
//!
//! Two steps, in one direction:
//! - [`Config::load`]: read (size and text checks) → YAML tree with
//!   positions → `${VAR}` → environment overrides → `general`, `plugins` and
//!   `tools` checked against their schemas. No library, no socket.
//! - [`Workflow::build`]: plugins loaded → `authentication` checked against
//!   the plugins' schemas → **every** provider instance created → the checks
//!   `serve`, `call` and `login` make at start-up (inbound auth, the bind
//!   address, what opening the store refuses).
//!
//! `authhost validate` is both steps without serving: whatever start-up
//! refuses, it refuses, with `file:line:col`.

mod compose;
mod diagnostic;
mod env;
mod general;
mod node;
mod schema_check;
mod yaml;

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::Arc,
};

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

pub use crate::duration::{parse_duration, DurationSpec};
pub use crate::json_pointer::segment as pointer_segment;
pub use compose::workflow_schema;
pub use diagnostic::{Diagnostic, Diagnostics, Location, Severity};
pub use general::{
    ConnectConfig, EgressConfig, GeneralConfig, HandoutConfig, HandoutRule, LimitsConfig,
    PluginPin, PluginsConfig, ProxyConfig, ServerConfig, StoreConfig, TelemetryConfig,
    TimeoutsConfig, VerifyMode,
};
pub use node::{dotted, Node, Origin, Pos, Value};

use crate::{
    egress::EgressPolicy,
    outbound::{Outbound, OutboundTimeouts},
    plugin::{ComponentKind, LoadError, Pin, PluginRegistry, ProviderHandle, SearchPath},
    store::{StoreError, StoreOptions, StoreSetting, TokenStore},
    tools::{Tool, ToolTypes},
};

/// Largest workflow file accepted.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A provider instance of the workflow (`authentication.<name>`).
#[derive(Debug, Clone)]
pub struct ProviderEntry {
    /// Its type (`api_key`).
    pub type_name: String,
    /// Its configuration, host-owned `_…` keys removed, `${VAR}` substituted.
    pub config: serde_json::Value,
    /// `_preflight: true`: checked by `POST /v1/auth/preflight` when the
    /// request names no tool or provider.
    pub preflight: bool,
    /// `_keep_alive: 30d`: grants not refreshed for this long are refreshed
    /// in the background (by one leader among the processes sharing the
    /// store) before their refresh token lapses.
    pub keep_alive: Option<std::time::Duration>,
    /// `_handout: true`: callers that `general.server.handout` allows may
    /// take this provider's access token itself
    /// (`POST /v1/credentials/{provider}/token`).
    pub handout: bool,
    /// `_base_url`: where `/v1/proxy/{provider}/…` and `authhost curl` send
    /// requests (the first), and the other origins a caller may pick with
    /// `X-Authhost-Base-Url`. Empty: no proxying for this provider.
    pub base_urls: Vec<url::Url>,
}

/// Host-owned keys of a provider entry, next to `_type`; never passed to
/// the plugin.
const HOST_PROVIDER_KEYS: &[&str] = &[
    "_type",
    "_preflight",
    "_keep_alive",
    "_handout",
    "_base_url",
];

/// A tool of the workflow (`tools.<name>`).
#[derive(Debug)]
pub struct ToolEntry {
    /// Its type (`http`).
    pub type_name: String,
    /// The configured tool.
    pub tool: Box<dyn Tool>,
}

/// A loaded, valid workflow.
#[derive(Debug)]
pub struct Workflow {
    /// The file.
    pub path: PathBuf,
    /// `general`.
    pub general: GeneralConfig,
    /// `plugins`.
    pub plugins: PluginsConfig,
    /// `authentication`, by instance name.
    pub providers: BTreeMap<String, ProviderEntry>,
    /// `tools`, by name.
    pub tools: BTreeMap<String, ToolEntry>,
    /// Every provider instance, created once while loading (so a plugin's
    /// refusal of its configuration is a diagnostic, never a run-time 502).
    instances: BTreeMap<String, ProviderHandle>,
    /// The plugins it loaded.
    pub registry: PluginRegistry,
    /// The outbound client with the workflow's egress policy and timeouts.
    pub outbound: Arc<Outbound>,
    /// How to open the token store (`general.store`, `AUTHHOST_MASTER_KEY`).
    pub store_options: StoreOptions,
}

impl Workflow {
    /// Whether any provider instance keeps per-user credentials in the
    /// token store (as each instance says through the ABI).
    pub fn needs_store(&self) -> bool {
        self.instances
            .values()
            .any(ProviderHandle::stores_user_credentials)
    }

    /// Opens the token store; returns the notice to show when a key file
    /// was created.
    ///
    /// # Errors
    ///
    /// As [`TokenStore::open`].
    pub async fn open_store(&self) -> Result<(TokenStore, Option<String>), StoreError> {
        TokenStore::open(&self.store_options).await
    }

    /// The provider instance `name` (created when the workflow was loaded).
    ///
    /// # Errors
    ///
    /// [`CreateError::UnknownInstance`](crate::plugin::CreateError::UnknownInstance)
    /// when the workflow has no such instance.
    pub fn provider(&self, name: &str) -> Result<ProviderHandle, crate::plugin::CreateError> {
        self.instances
            .get(name)
            .cloned()
            .ok_or_else(|| crate::plugin::CreateError::UnknownInstance(name.to_owned()))
    }
}

/// How to load a workflow.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--plugin-path` values.
    pub plugin_paths: Vec<PathBuf>,
    /// Search the default plugin locations too.
    pub default_plugins: bool,
    /// The environment (`${VAR}` values and `AUTHHOST_…` overrides).
    pub env: Vec<(String, String)>,
}

impl LoadOptions {
    /// Options with this process's environment.
    pub fn from_process(plugin_paths: Vec<PathBuf>, default_plugins: bool) -> Self {
        Self {
            plugin_paths,
            default_plugins,
            env: std::env::vars().collect(),
        }
    }
}

/// The result of loading: the workflow when there is no error, and every
/// diagnostic (warnings included), in file order.
#[derive(Debug)]
pub struct Loaded {
    /// The workflow, if valid.
    pub workflow: Option<Workflow>,
    /// Every problem found.
    pub diagnostics: Vec<Diagnostic>,
}

/// Instance and tool names: they appear in URLs and logs.
fn valid_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

fn read_text(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the file: {e}"))?;
    if meta.is_dir() {
        return Err("is a folder, not a workflow file".to_owned());
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "the file is {} bytes; workflow files are limited to {MAX_FILE_BYTES} bytes (1 MiB)",
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the file: {e}"))?;
    if bytes.contains(&0) {
        return Err("is a binary file (it contains NUL bytes), not YAML".to_owned());
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Checks a section against `T`'s schema and reads it; `None` when absent
/// or invalid (problems are in `diags`).
fn section<T: DeserializeOwned + JsonSchema + Default>(
    root: &mut Node,
    name: &str,
    diags: &mut Diagnostics,
) -> T {
    let Some(node) = root.get_mut(name) else {
        return T::default();
    };
    if node.value == Value::Null {
        return T::default();
    }
    let schema = authhost_plugin_api::config_schema::<T>();
    env::coerce_overrides(node, &schema, &schema);
    let Ok(validator) = jsonschema::validator_for(&schema) else {
        return T::default();
    };
    if !schema_check::check(node, &format!("/{name}"), &validator, &schema, diags) {
        return T::default();
    }
    match authhost_plugin_api::parse_config::<T>(&node.to_json().to_string()) {
        Ok(value) => value,
        Err(e) => {
            diags.error(Location::of(node), name, e.message().to_owned());
            T::default()
        }
    }
}

/// Compiled schemas, by component or tool type.
#[derive(Default)]
struct Validators {
    compiled: HashMap<String, Option<jsonschema::Validator>>,
}

impl Validators {
    fn get(&mut self, key: &str, schema: &serde_json::Value) -> Option<&jsonschema::Validator> {
        self.compiled
            .entry(key.to_owned())
            .or_insert_with(|| jsonschema::validator_for(schema).ok())
            .as_ref()
    }
}

/// A workflow file read and checked on its own: YAML with positions,
/// `${VAR}` and `AUTHHOST_*` applied, `general`, `plugins` and `tools`
/// checked against their schemas. Loading it opens no library and no
/// socket; [`Workflow::build`] does the rest.
#[derive(Debug)]
pub struct Config {
    /// The file.
    pub path: PathBuf,
    /// The folder relative paths in the file are taken from.
    base: PathBuf,
    /// The tree, for the positions of what [`Workflow::build`] finds.
    root: Node,
    /// `general`.
    pub general: GeneralConfig,
    /// `plugins`.
    pub plugins: PluginsConfig,
    /// `tools`, built.
    tools: BTreeMap<String, ToolEntry>,
    /// The outbound client with the workflow's egress policy and timeouts.
    outbound: Arc<Outbound>,
    /// `AUTHHOST_PLUGIN_PATH`, if set.
    env_plugin_path: Option<String>,
    /// `AUTHHOST_MASTER_KEY`, if set.
    master_key: Option<authhost_plugin_api::Secret>,
}

impl Config {
    /// Reads and checks the workflow file at `path` with the environment
    /// `env` (`${VAR}` values and `AUTHHOST_…` overrides). `None` when the
    /// file is not a workflow at all (unreadable, not YAML, not a mapping);
    /// otherwise the configuration, and every problem found so far.
    pub fn load(path: &Path, env: &[(String, String)]) -> (Option<Config>, Diagnostics) {
        let mut diags = Diagnostics::new(path);
        let text = match read_text(path) {
            Ok(text) => text,
            Err(message) => {
                diags.error(Location::Whole, "", message);
                return (None, diags);
            }
        };
        let mut root = match yaml::parse(&text) {
            Ok(root) => root,
            Err(e) => {
                diags.error(Location::at(e.pos), "", e.message);
                return (None, diags);
            }
        };
        match root.value {
            Value::Map(_) => {}
            Value::Null => {
                diags
                    .error(Location::Whole, "", "the file is empty")
                    .hint("a workflow has the sections general, plugins, authentication and tools; see docs/workflow-authors.md");
                return (None, diags);
            }
            _ => {
                diags.error(
                    Location::at(root.pos),
                    "",
                    format!("expected a mapping of sections (general, plugins, authentication, tools), found {}", root.kind()),
                );
                return (None, diags);
            }
        }

        let vars: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let lookup = |name: &str| vars.get(name).map(|v| (*v).to_owned());
        env::interpolate(&mut root, "", &lookup, &mut diags);
        env::apply_overrides(&mut root, env, &mut diags);

        for (key, _) in root.as_map().into_iter().flatten() {
            if !env::SECTIONS.contains(&key.name.as_str()) {
                diags
                    .error(
                        Location::at(key.pos),
                        &key.name,
                        format!("unknown section `{}`", key.name),
                    )
                    .did_you_mean(&key.name, env::SECTIONS)
                    .hint_or(format!("the sections are {}", env::SECTIONS.join(", ")));
            }
        }

        let general: GeneralConfig = section(&mut root, "general", &mut diags);
        let plugins: PluginsConfig = section(&mut root, "plugins", &mut diags);
        let outbound = outbound_for(&root, &general, &mut diags);
        let mut urls: Vec<(String, &str, &str)> = Vec::new();
        if let Some(telemetry) = &general.telemetry {
            urls.push((
                "/general/telemetry/otlp_endpoint".to_owned(),
                &telemetry.otlp_endpoint,
                "expected the collector's OTLP/HTTP traces URL, such as http://otel-collector:4318/v1/traces",
            ));
        }
        let mcp = &general.server.mcp;
        if let Some(resource) = &mcp.resource {
            urls.push((
                "/general/server/mcp/resource".to_owned(),
                resource,
                "expected the URL MCP clients reach /mcp at, such as https://authhost.example/mcp",
            ));
        }
        for (i, server) in mcp.authorization_servers.iter().enumerate() {
            urls.push((
                format!("/general/server/mcp/authorization_servers/{i}"),
                server,
                "expected an authorization server's issuer URL, such as https://id.example",
            ));
        }
        for (pointer, url, expected) in urls {
            let usable = url::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !usable {
                let (_, node) = root.locate(&pointer);
                diags.error(Location::of(node), &dotted(&pointer), expected);
            }
        }
        let base = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let provider_names: Vec<String> = root
            .get("authentication")
            .and_then(Node::as_map)
            .map(|m| m.iter().map(|(k, _)| k.name.clone()).collect())
            .unwrap_or_default();
        let tools = load_tools(
            &root,
            &ToolTypes::builtin(),
            &provider_names,
            &outbound,
            &mut Validators::default(),
            &mut diags,
        );
        let config = Config {
            path: path.to_path_buf(),
            base,
            general,
            plugins,
            tools,
            outbound,
            env_plugin_path: vars.get("AUTHHOST_PLUGIN_PATH").map(|v| (*v).to_owned()),
            master_key: vars
                .get("AUTHHOST_MASTER_KEY")
                .filter(|v| !v.is_empty())
                .map(|v| authhost_plugin_api::Secret::new(*v)),
            root,
        };
        (Some(config), diags)
    }
}

/// The outbound client for `general` (egress rules and proxy checked).
fn outbound_for(root: &Node, general: &GeneralConfig, diags: &mut Diagnostics) -> Arc<Outbound> {
    let (policy, bad_rules) = EgressPolicy::new(
        &general.egress.allow,
        &general.egress.block,
        general.egress.allow_only,
    );
    for (is_allow, index) in bad_rules {
        let pointer = format!(
            "/general/egress/{}/{index}",
            if is_allow { "allow" } else { "block" }
        );
        let (_, node) = root.locate(&pointer);
        diags.error(
            Location::of(node),
            &dotted(&pointer),
            "is not a host name, an IP address or a CIDR range",
        );
    }
    let proxy = general
        .egress
        .proxy
        .as_deref()
        .and_then(|text| match url::Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Some(url)
            }
            _ => {
                let (_, node) = root.locate("/general/egress/proxy");
                diags.error(
                    Location::of(node),
                    "general.egress.proxy",
                    "expected an http:// or https:// proxy URL such as http://proxy.internal:3128",
                );
                None
            }
        });
    Arc::new(
        Outbound::new(
            policy,
            OutboundTimeouts {
                request: general.timeouts.http.0,
                connect: general.timeouts.connect.0,
                max_response_bytes: general.limits.max_response_bytes,
            },
        )
        .with_proxy(proxy),
    )
}

/// Where plugins come from, beyond the workflow's own `plugins.paths`.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// `--plugin-path` values.
    pub plugin_paths: Vec<PathBuf>,
    /// Search the default plugin locations too.
    pub default_plugins: bool,
}

impl Config {
    /// Where this workflow's plugins are looked for, and its pins.
    pub fn plugin_search(&self, options: &BuildOptions) -> (SearchPath, Vec<Pin>) {
        plugin_search(
            &self.plugins,
            &self.base,
            self.env_plugin_path.as_deref(),
            options,
        )
    }
}

fn plugin_search(
    plugins: &PluginsConfig,
    base: &Path,
    env_plugin_path: Option<&str>,
    options: &BuildOptions,
) -> (SearchPath, Vec<Pin>) {
    let workflow_paths: Vec<PathBuf> = plugins.paths.iter().map(|p| base.join(p)).collect();
    let search = SearchPath::build(
        &options.plugin_paths,
        env_plugin_path.map(std::ffi::OsStr::new),
        &workflow_paths,
        options.default_plugins,
    );
    let pins = plugins
        .pins
        .iter()
        .map(|p| Pin::new(&p.file, &p.sha256, base))
        .collect();
    (search, pins)
}

impl Workflow {
    /// Builds the runtime from a loaded configuration: loads the plugins,
    /// checks each provider entry against its plugin's schema, creates
    /// **every** provider instance, and makes every check `serve`, `call`
    /// and `login` make at start-up (inbound auth, the bind address, what
    /// opening the store refuses), each with its place. `None` when
    /// `diags` holds an error (from loading or from here).
    pub fn build(config: Config, options: &BuildOptions, diags: &mut Diagnostics) -> Option<Self> {
        let Config {
            path,
            base,
            root,
            general,
            plugins,
            tools,
            outbound,
            env_plugin_path,
            master_key,
        } = config;
        let (search, pins) = plugin_search(&plugins, &base, env_plugin_path.as_deref(), options);
        let registry = PluginRegistry::load_with(&search, &outbound, &pins);
        for error in registry.errors() {
            match error {
                LoadError::PinMismatch { pin, .. } => {
                    let pointer = format!("/plugins/pins/{pin}/sha256");
                    let (_, node) = root.locate(&pointer);
                    diags.error(Location::of(node), &dotted(&pointer), error.to_string());
                }
                other => {
                    diags.warning(Location::Whole, "plugins", other.to_string());
                }
            }
        }
        for (index, pin) in plugins.pins.iter().enumerate() {
            if !registry.matched_pins().contains(&index) {
                let pointer = format!("/plugins/pins/{index}/file");
                let (_, node) = root.locate(&pointer);
                diags
                    .error(
                        Location::of(node),
                        &dotted(&pointer),
                        format!(
                            "pinned plugin `{}` is not on the plugin search path",
                            pin.file
                        ),
                    )
                    .hint("`authhost -v info components` shows where plugins are looked for");
            }
        }

        let providers = load_providers(
            &root,
            &registry,
            &outbound,
            &mut Validators::default(),
            diags,
        );

        let mut instances = BTreeMap::new();
        if !diags.has_errors() {
            for (name, entry) in &providers {
                match registry.create_provider(
                    &entry.type_name,
                    name,
                    &entry.config,
                    general.timeouts.plugin_call.0,
                ) {
                    Ok(handle) => {
                        instances.insert(name.clone(), handle);
                    }
                    Err(e) => {
                        let pointer = format!("/authentication/{}", pointer_segment(name));
                        let (_, node) = root.locate(&pointer);
                        let message = match &e {
                            crate::plugin::CreateError::Plugin { error, .. } => error.to_string(),
                            other => other.to_string(),
                        };
                        diags.error(Location::at(node.pos), &dotted(&pointer), message);
                    }
                }
            }
        }

        if !diags.has_errors() {
            check_server(&root, &general, &base, &registry, &outbound, diags);
        }
        let store_options = StoreOptions {
            url: general.store.url.clone(),
            key_file: general.store.key_file.as_ref().map(|f| base.join(f)),
            master_key,
            max_connections: Some(general.store.max_connections),
        };
        let needs_store = instances
            .values()
            .any(ProviderHandle::stores_user_credentials);
        if !diags.has_errors() && needs_store {
            check_store(&root, &store_options, diags);
        }
        if diags.has_errors() {
            return None;
        }
        Some(Workflow {
            path,
            general,
            plugins,
            providers,
            tools,
            instances,
            registry,
            outbound,
            store_options,
        })
    }
}

/// Loads, checks and builds the workflow at `path`: [`Config::load`] then
/// [`Workflow::build`], every diagnostic of both in file order.
pub fn load(path: &Path, options: &LoadOptions) -> Loaded {
    let (config, mut diags) = Config::load(path, &options.env);
    let workflow = config.and_then(|config| {
        Workflow::build(
            config,
            &BuildOptions {
                plugin_paths: options.plugin_paths.clone(),
                default_plugins: options.default_plugins,
            },
            &mut diags,
        )
    });
    Loaded {
        workflow,
        diagnostics: diags.sorted(),
    }
}

/// What `serve` refuses at start-up, refused here too (so `validate` says
/// it with a position): a `general.server.bind` that is not an address, and
/// an inbound authentication that cannot work on that address.
fn check_server(
    root: &Node,
    general: &GeneralConfig,
    base: &Path,
    registry: &PluginRegistry,
    outbound: &Arc<Outbound>,
    diags: &mut Diagnostics,
) {
    let Ok(bind) = general.server.bind.parse::<std::net::SocketAddr>() else {
        let (_, node) = root.locate("/general/server/bind");
        diags.error(
            Location::of(node),
            "general.server.bind",
            format!(
                "`{}` is not an address:port such as 127.0.0.1:8080",
                general.server.bind
            ),
        );
        return;
    };
    let connect = &general.server.connect;
    match connect.verify {
        VerifyMode::App => {
            let valid = connect
                .verify_url
                .as_deref()
                .and_then(|u| url::Url::parse(u).ok())
                .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !valid {
                let (_, node) = root.locate("/general/server/connect/verify_url");
                diags.error(
                    Location::of(node),
                    "general.server.connect.verify_url",
                    "`verify: app` needs the absolute http(s) URL of the application page that confirms a completed flow",
                );
            }
        }
        VerifyMode::None if !bind.ip().is_loopback() && !connect.allow_unverified => {
            let (_, node) = root.locate("/general/server/connect/verify");
            diags.error(
                Location::of(node),
                "general.server.connect.verify",
                "`none` on a non-loopback address lets a connect link be completed by someone else's account; use `app` or `session`, or add `allow_unverified: true`",
            );
        }
        _ => {}
    }
    if let Some(webhook) = &connect.webhook {
        let url = url::Url::parse(&webhook.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && outbound.check_url(u).is_ok());
        if url.is_none() {
            let (_, node) = root.locate("/general/server/connect/webhook/url");
            diags.error(
                Location::of(node),
                "general.server.connect.webhook.url",
                "expected an absolute http(s) URL the egress policy allows",
            );
        }
        if webhook.secret.expose().len() < 32 {
            let (_, node) = root.locate("/general/server/connect/webhook/secret");
            diags.error(
                Location::of(node),
                "general.server.connect.webhook.secret",
                "use at least 32 bytes",
            );
        }
    }
    for (i, rule) in general.server.handout.allow.iter().enumerate() {
        if rule.is_empty() {
            let (_, node) = root.locate(&format!("/general/server/handout/allow/{i}"));
            diags.error(
                Location::of(node),
                &format!("general.server.handout.allow[{i}]"),
                "a rule with no condition would let every caller take tokens; name users, scopes or claims",
            );
        }
    }
    let slowest_call = general.timeouts.http.0 + general.timeouts.plugin_call.0;
    if general.server.idle_timeout.0 <= slowest_call {
        let (_, node) = root.locate("/general/server/idle_timeout");
        diags.error(
            Location::of(node),
            "general.server.idle_timeout",
            format!(
                "must be longer than timeouts.http + timeouts.plugin_call ({slowest_call:?}), or slow tool calls would be cut off"
            ),
        );
    }
    if let Err(e) = crate::inbound::InboundAuth::new(
        general.inbound_auth.as_ref(),
        bind.ip().is_loopback(),
        base,
        registry,
        general.timeouts.plugin_call.0,
        outbound,
    ) {
        let mut pointer = "/general/inbound_auth".to_owned();
        if !e.key.is_empty() {
            pointer = format!("{pointer}/{}", e.key);
        }
        // Without the section, the bind address is what makes it a problem.
        let place = if general.inbound_auth.is_none() {
            "/general/server/bind"
        } else {
            &pointer
        };
        let (_, node) = root.locate(place);
        diags.error(Location::of(node), &dotted(&pointer), e.message);
    }
}

/// What opening the token store refuses before it reaches the database,
/// refused here with the setting's place (the master key's value, from the
/// environment, is never quoted).
fn check_store(root: &Node, options: &StoreOptions, diags: &mut Diagnostics) {
    let Err((setting, error)) = options.check() else {
        return;
    };
    let message = match error {
        StoreError::Url(message) => message,
        other => other.to_string(),
    };
    let (pointer, location) = match setting {
        StoreSetting::Url => {
            let (_, node) = root.locate("/general/store/url");
            ("/general/store/url", Location::of(node))
        }
        StoreSetting::KeyFile => {
            let (_, node) = root.locate("/general/store/key_file");
            ("/general/store/key_file", Location::of(node))
        }
        StoreSetting::MasterKey => ("", Location::Whole),
    };
    let key = if pointer.is_empty() {
        "AUTHHOST_MASTER_KEY".to_owned()
    } else {
        dotted(pointer)
    };
    diags.error(location, &key, message);
}

/// The entries of a named-entries section (`authentication`, `tools`);
/// `None` when absent, empty or not a mapping (reported).
fn section_entries<'a>(
    root: &'a Node,
    name: &str,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<&'a Vec<(node::Key, Node)>> {
    let section = root.get(name)?;
    let entries = section.as_map();
    if entries.is_none() && section.value != Value::Null {
        diags.error(
            Location::of(section),
            name,
            format!(
                "expected a mapping of {what} names to settings, found {}",
                section.kind()
            ),
        );
    }
    entries
}

/// Whether an entry name is usable; reports it when not.
fn check_name(key: &node::Key, pointer: &str, diags: &mut Diagnostics) -> bool {
    if valid_name(&key.name) {
        return true;
    }
    diags.error(
        Location::at(key.pos),
        &dotted(pointer),
        "names are letters, digits, `_`, `-` and `.`, starting with a letter or digit",
    );
    false
}

/// `_type` of an entry, or a diagnostic.
fn entry_type<'a>(
    node: &'a Node,
    pointer: &str,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<&'a str> {
    if !matches!(node.value, Value::Map(_)) {
        diags.error(
            Location::of(node),
            &dotted(pointer),
            format!(
                "expected a mapping with `_type` and the {what}'s settings, found {}",
                node.kind()
            ),
        );
        return None;
    }
    let Some(type_node) = node.get("_type") else {
        diags.error(Location::at(node.pos), &dotted(pointer), "missing `_type`");
        return None;
    };
    match type_node.as_str() {
        Some(t) => Some(t),
        None => {
            diags.error(
                Location::of(type_node),
                &dotted(&format!("{pointer}/_type")),
                format!("expected a string, found {}", type_node.kind()),
            );
            None
        }
    }
}

fn load_providers(
    root: &Node,
    registry: &PluginRegistry,
    outbound: &Outbound,
    validators: &mut Validators,
    diags: &mut Diagnostics,
) -> BTreeMap<String, ProviderEntry> {
    let mut providers = BTreeMap::new();
    let Some(entries) = section_entries(root, "authentication", "provider", diags) else {
        return providers;
    };
    let installed: Vec<&str> = registry
        .components()
        .filter(|c| c.component_type == ComponentKind::AuthProvider)
        .map(|c| c.type_name.as_str())
        .collect();
    for (key, node) in entries {
        let pointer = format!("/authentication/{}", pointer_segment(&key.name));
        if !check_name(key, &pointer, diags) {
            continue;
        }
        let Some(type_name) = entry_type(node, &pointer, "provider", diags) else {
            continue;
        };
        let Some(component) = registry.component(ComponentKind::AuthProvider, type_name) else {
            let type_node = node.get("_type").unwrap_or(node);
            let failed = registry.errors().len();
            let d = diags.error(
                Location::of(type_node),
                &dotted(&format!("{pointer}/_type")),
                format!("unknown provider type `{type_name}`"),
            );
            d.did_you_mean(type_name, installed.iter().copied());
            if d.hint.is_none() {
                let mut hint = format!(
                    "installed provider types: {}",
                    if installed.is_empty() {
                        "none".to_owned()
                    } else {
                        installed.join(", ")
                    }
                );
                if failed > 0 {
                    hint.push_str(&format!(
                        " ({failed} plugin file(s) failed to load; see the warnings)"
                    ));
                }
                d.hint(hint);
            }
            continue;
        };
        let mut config = node.clone();
        for key in HOST_PROVIDER_KEYS {
            config = config.without(key);
        }
        let preflight = host_flag(node, &pointer, "_preflight", diags);
        let handout = host_flag(node, &pointer, "_handout", diags);
        let base_urls = base_urls(node, &pointer, outbound, diags);
        let keep_alive = match node.get("_keep_alive") {
            None => None,
            Some(value) => {
                let refreshes = component
                    .capabilities
                    .contains(authhost_plugin_api::Capabilities::INTERACTIVE)
                    && component
                        .capabilities
                        .contains(authhost_plugin_api::Capabilities::REFRESHABLE);
                let parsed = match &value.value {
                    Value::String(text) => crate::duration::parse_duration(text),
                    _ => None,
                }
                .filter(|d| !d.is_zero());
                let place = dotted(&format!("{pointer}/_keep_alive"));
                match parsed {
                    _ if !refreshes => {
                        diags.error(
                            Location::of(value),
                            &place,
                            format!("`{type_name}` keeps no refreshable per-user grants, so there is nothing to keep alive"),
                        );
                        None
                    }
                    None => {
                        diags.error(
                            Location::of(value),
                            &place,
                            "expected a duration such as 30d or 12h",
                        );
                        None
                    }
                    some => some,
                }
            }
        };
        env::coerce_overrides(
            &mut config,
            &component.config_schema,
            &component.config_schema,
        );
        let Some(validator) =
            validators.get(&format!("provider:{type_name}"), &component.config_schema)
        else {
            diags.error(
                Location::of(node),
                &dotted(&pointer),
                format!(
                    "plugin {} publishes an invalid schema for `{type_name}`",
                    component.plugin
                ),
            );
            continue;
        };
        if schema_check::check(
            &config,
            &pointer,
            validator,
            &component.config_schema,
            diags,
        ) {
            providers.insert(
                key.name.clone(),
                ProviderEntry {
                    type_name: type_name.to_owned(),
                    config: config.to_json(),
                    preflight,
                    keep_alive,
                    handout,
                    base_urls,
                },
            );
        }
    }
    providers
}

/// A host-owned boolean key (`_preflight`) of the provider entry `node` at
/// `pointer`: false when absent, an error when not a boolean.
fn host_flag(node: &Node, pointer: &str, key: &str, diags: &mut Diagnostics) -> bool {
    match node.get(key) {
        None => false,
        Some(flag) => match flag.value {
            Value::Bool(b) => b,
            _ => {
                diags.error(
                    Location::of(flag),
                    &dotted(&format!("{pointer}/{key}")),
                    format!("expected true or false, found {}", flag.kind()),
                );
                false
            }
        },
    }
}

/// `_base_url` of the provider entry `node` at `pointer`: one absolute
/// http(s) URL or a list of them, each allowed by the egress policy, without
/// a query or fragment (paths are appended to it).
fn base_urls(
    node: &Node,
    pointer: &str,
    outbound: &Outbound,
    diags: &mut Diagnostics,
) -> Vec<url::Url> {
    let Some(value) = node.get("_base_url") else {
        return Vec::new();
    };
    let items: Vec<(&Node, String)> = match &value.value {
        Value::String(_) => vec![(value, format!("{pointer}/_base_url"))],
        Value::Seq(list) if !list.is_empty() => list
            .iter()
            .enumerate()
            .map(|(i, item)| (item, format!("{pointer}/_base_url/{i}")))
            .collect(),
        _ => {
            diags.error(
                Location::of(value),
                &dotted(&format!("{pointer}/_base_url")),
                format!(
                    "expected a URL such as https://api.example.com or a list of them, found {}",
                    value.kind()
                ),
            );
            return Vec::new();
        }
    };
    let mut urls = Vec::with_capacity(items.len());
    for (item, place) in items {
        let parsed = match &item.value {
            Value::String(text) => url::Url::parse(text).ok(),
            _ => None,
        };
        let why = match &parsed {
            None => Some("expected an absolute URL such as https://api.example.com".to_owned()),
            Some(url) if !matches!(url.scheme(), "http" | "https") || url.host().is_none() => {
                Some("expected an http(s) URL with a host".to_owned())
            }
            Some(url) if url.query().is_some() || url.fragment().is_some() => {
                Some("a base URL takes no query or fragment".to_owned())
            }
            Some(url) => outbound.check_url(url).err().map(|e| e.to_string()),
        };
        match (why, parsed) {
            (None, Some(url)) => urls.push(url),
            (Some(why), _) => {
                diags.error(Location::of(item), &dotted(&place), why);
            }
            (None, None) => {}
        }
    }
    urls
}

fn load_tools(
    root: &Node,
    tool_types: &ToolTypes,
    provider_names: &[String],
    outbound: &Outbound,
    validators: &mut Validators,
    diags: &mut Diagnostics,
) -> BTreeMap<String, ToolEntry> {
    let mut tools = BTreeMap::new();
    let Some(entries) = section_entries(root, "tools", "tool", diags) else {
        return tools;
    };
    for (key, node) in entries {
        let pointer = format!("/tools/{}", pointer_segment(&key.name));
        if !check_name(key, &pointer, diags) {
            continue;
        }
        let Some(type_name) = entry_type(node, &pointer, "tool", diags) else {
            continue;
        };
        let Some(tool_type) = tool_types.get(type_name) else {
            let type_node = node.get("_type").unwrap_or(node);
            diags
                .error(
                    Location::of(type_node),
                    &dotted(&format!("{pointer}/_type")),
                    format!("unknown tool type `{type_name}`"),
                )
                .did_you_mean(type_name, tool_types.names())
                .hint_or(format!("tool types: {}", tool_types.names().join(", ")));
            continue;
        };
        let mut config = node.without("_type");
        let schema = tool_type.config_schema();
        env::coerce_overrides(&mut config, &schema, &schema);
        let Some(validator) = validators.get(&format!("tool:{type_name}"), &schema) else {
            continue;
        };
        let mut valid = schema_check::check(&config, &pointer, validator, &schema, diags);
        if let Some(provider_node) = config.get("auth_provider") {
            if let Some(name) = provider_node.as_str() {
                if !provider_names.iter().any(|p| p == name) {
                    valid = false;
                    diags
                        .error(
                            Location::of(provider_node),
                            &dotted(&format!("{pointer}/auth_provider")),
                            format!("unknown auth_provider `{name}`"),
                        )
                        .did_you_mean(name, provider_names.iter().map(String::as_str))
                        .hint_or(if provider_names.is_empty() {
                            "define it in the `authentication` section".to_owned()
                        } else {
                            format!("defined providers: {}", provider_names.join(", "))
                        });
                }
            }
        }
        if !valid {
            continue;
        }
        match tool_type.build(&key.name, &config.to_json(), outbound) {
            Ok(tool) => {
                tools.insert(
                    key.name.clone(),
                    ToolEntry {
                        type_name: type_name.to_owned(),
                        tool,
                    },
                );
            }
            Err(problems) => {
                for (sub, message) in problems {
                    let (_, at) = config.locate(&sub);
                    diags.error(
                        Location::of(at),
                        &dotted(&format!("{pointer}{sub}")),
                        message,
                    );
                }
            }
        }
    }
    tools
}
