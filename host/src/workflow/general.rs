//! The `general` and `plugins` sections of a workflow.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::duration::DurationSpec;

fn default_bind() -> String {
    "127.0.0.1:8080".to_owned()
}

/// The HTTP server (`authhost serve`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on.
    #[serde(default = "default_bind")]
    pub bind: String,
    /// The URL users' browsers reach the server at (for redirects).
    pub public_url: Option<String>,
    /// URL prefixes a browser may be sent to after authorizing
    /// (`/v1/auth/{provider}/start?return_to=…`); nothing else is followed.
    #[serde(default)]
    pub return_to_allow: Vec<String>,
    /// Longest a client may take to send a request's headers.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout: DurationSpec,
    /// A connection on which no byte moves for this long is closed; longer
    /// than `timeouts.http` plus `timeouts.plugin_call`, so a slow tool call
    /// is never cut.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: DurationSpec,
    /// Most connections served at once; more wait to be accepted.
    #[serde(default = "default_max_connections")]
    #[schemars(range(min = 1))]
    pub max_connections: u32,
    /// How users connect accounts, and who may complete a flow.
    #[serde(default)]
    pub connect: ConnectConfig,
    /// The MCP endpoint (`/mcp`).
    #[serde(default)]
    pub mcp: McpConfig,
    /// Who may take a provider's access token itself
    /// (`POST /v1/credentials/{provider}/token`, for providers with
    /// `_handout: true`). Nobody by default.
    #[serde(default)]
    pub handout: HandoutConfig,
    /// The pass-through proxy (`/v1/proxy/{provider}/…`).
    #[serde(default)]
    pub proxy: ProxyConfig,
}

fn default_replay_limit() -> u64 {
    64 * 1024
}

fn default_proxy_timeout() -> DurationSpec {
    DurationSpec(Duration::from_secs(3600))
}

/// `general.server.proxy`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Request bodies up to this many bytes are kept so that a request the
    /// upstream answers 401 can be sent again after one refresh; larger
    /// bodies are streamed and the 401 passed on.
    #[serde(default = "default_replay_limit")]
    pub replay_limit: u64,
    /// Longest one proxied exchange may take, bodies streamed both ways
    /// included.
    #[serde(default = "default_proxy_timeout")]
    pub timeout: DurationSpec,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            replay_limit: default_replay_limit(),
            timeout: default_proxy_timeout(),
        }
    }
}

/// `general.server.handout`: the callers allowed to take access tokens out
/// of authhost. A caller is allowed when one rule matches, and a rule
/// matches when every condition it names holds.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoutConfig {
    /// The rules; none allows nobody.
    #[serde(default)]
    pub allow: Vec<HandoutRule>,
}

/// One `general.server.handout.allow` rule. It names at least one
/// condition.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoutRule {
    /// The caller is one of these users (the inbound user id).
    #[serde(default)]
    pub users: Vec<String>,
    /// The caller's token carries every one of these scopes (`scope` or
    /// `scp`).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Each of these claims of the caller (a JWT's, or an authenticator
    /// plugin's) equals the value, or is a list holding it.
    #[serde(default)]
    pub claims: std::collections::BTreeMap<String, String>,
}

impl HandoutRule {
    /// Whether the rule names no condition (and so would allow anyone).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.scopes.is_empty() && self.claims.is_empty()
    }
}

/// `general.server.mcp`: the workflow's tools as an MCP server at `/mcp`
/// (Streamable HTTP), an OAuth protected resource (RFC 9728).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpConfig {
    /// Do not serve `/mcp`.
    #[serde(default)]
    pub disabled: bool,
    /// The resource URL a token for `/mcp` must be issued for (its `aud`,
    /// RFC 8707), announced in the protected resource metadata. Default:
    /// `public_url` + `/mcp`, else `http://<listening address>/mcp`.
    pub resource: Option<String>,
    /// The authorization servers MCP clients are told to get tokens from.
    /// Default: the inbound JWT `issuer`.
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// Scopes a token must carry to use `/mcp`; a token without them gets
    /// `403 insufficient_scope` naming them.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Browser origins (`https://app.example:443`, `http://localhost:*`)
    /// allowed to call `/mcp`. A request with any other `Origin` is refused
    /// (DNS rebinding); requests without one (non-browser clients) pass.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// `Host` values accepted on `/mcp` besides the loopback names and the
    /// hosts of `public_url` and `resource`.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

/// Who may complete a connect flow in a browser.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerifyMode {
    /// The application confirms, as its signed-in user, the flow the
    /// browser completed (`POST /v1/auth/flows/{id}/confirm`); the grant is
    /// held until then and stored only for the user who started the flow.
    App,
    /// The connect link is opened with the user's own inbound
    /// authentication in the browser, which gets a flow cookie; the callback
    /// refuses a browser without it.
    #[default]
    Session,
    /// No check: whoever completes the flow connects their account to the
    /// user who started it. Loopback only, unless `allow_unverified`.
    None,
}

fn default_link_ttl() -> DurationSpec {
    DurationSpec(Duration::from_secs(600))
}

/// `general.server.connect`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectConfig {
    /// How the user who completes a flow is verified: `session` (default),
    /// `app` or `none`.
    #[serde(default)]
    pub verify: VerifyMode,
    /// `app` mode: the application page the browser is sent to after the
    /// callback, with `?flow=<one-time id>` to confirm.
    pub verify_url: Option<String>,
    /// Accept `verify: none` on a non-loopback bind.
    #[serde(default)]
    pub allow_unverified: bool,
    /// How long a connect link (and the flow it starts) stays usable.
    #[serde(default = "default_link_ttl")]
    pub link_ttl: DurationSpec,
    /// Tell the application when a flow finishes (signed POST, retried).
    pub webhook: Option<WebhookConfig>,
}

/// `general.server.connect.webhook`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where flow events are POSTed.
    pub url: String,
    /// The HMAC-SHA256 key of `X-Authhost-Signature` (at least 32 bytes).
    pub secret: authhost_plugin_api::Secret,
}

impl Default for ConnectConfig {
    fn default() -> Self {
        Self {
            verify: VerifyMode::default(),
            verify_url: None,
            allow_unverified: false,
            link_ttl: default_link_ttl(),
            webhook: None,
        }
    }
}

fn default_header_read_timeout() -> DurationSpec {
    DurationSpec(Duration::from_secs(10))
}

fn default_idle_timeout() -> DurationSpec {
    DurationSpec(Duration::from_secs(120))
}

fn default_max_connections() -> u32 {
    1024
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: default_bind(),
            public_url: None,
            return_to_allow: Vec::new(),
            header_read_timeout: default_header_read_timeout(),
            idle_timeout: default_idle_timeout(),
            max_connections: default_max_connections(),
            connect: ConnectConfig::default(),
            mcp: McpConfig::default(),
            handout: HandoutConfig::default(),
            proxy: ProxyConfig::default(),
        }
    }
}

/// The token store (per-user OAuth tokens).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://path` (default: a file in the data folder) or `postgres://…`.
    pub url: Option<String>,
    /// A file holding the store's encryption key.
    pub key_file: Option<String>,
    /// How often, at most, cached credentials of a stored grant are checked
    /// against the row (another process may have revoked or replaced it).
    /// On Postgres, changes also arrive at once through `LISTEN/NOTIFY`.
    #[serde(default = "default_revalidate_after")]
    pub revalidate_after: DurationSpec,
    /// How often the keep-alive leader looks for idle grants of providers
    /// with `_keep_alive` (one process of those sharing the store leads).
    #[serde(default = "default_keep_alive_every")]
    pub keep_alive_every: DurationSpec,
    /// The most grants the keep-alive leader refreshes per round (a rate
    /// limit on the authorization servers).
    #[serde(default = "default_keep_alive_batch")]
    pub keep_alive_batch: u32,
    /// Postgres connections this process opens at most (a third for reads
    /// and writes, the rest for refresh locks). Every replica opens this
    /// many plus one for change notifications: keep the sum under the
    /// server's `max_connections` (100 by default).
    #[serde(default = "default_store_connections")]
    #[schemars(range(min = 4, max = 1000))]
    pub max_connections: u32,
}

fn default_store_connections() -> u32 {
    crate::store::DEFAULT_MAX_CONNECTIONS
}

fn default_keep_alive_every() -> DurationSpec {
    DurationSpec(std::time::Duration::from_secs(60))
}

fn default_keep_alive_batch() -> u32 {
    50
}

fn default_revalidate_after() -> DurationSpec {
    DurationSpec(crate::broker::DEFAULT_REVALIDATE_AFTER)
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: None,
            key_file: None,
            revalidate_after: default_revalidate_after(),
            keep_alive_every: default_keep_alive_every(),
            keep_alive_batch: default_keep_alive_batch(),
            max_connections: default_store_connections(),
        }
    }
}

/// Where outbound calls (tools, token endpoints) may go. Link-local and
/// cloud metadata addresses are blocked unless listed in `allow`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EgressConfig {
    /// Hosts (`api.github.com`, `*.example.com`), addresses or CIDR ranges
    /// always allowed, even when a block rule matches.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Hosts, addresses or CIDR ranges refused, on top of the built-in list.
    #[serde(default)]
    pub block: Vec<String>,
    /// When true, only destinations matching `allow` may be reached.
    #[serde(default)]
    pub allow_only: bool,
    /// Send outbound requests through this HTTP proxy (`http://host:port`).
    /// The `HTTP_PROXY`/`HTTPS_PROXY` variables are ignored: a proxy is used
    /// only when named here, and the policy is applied to every address of
    /// the target before a request is handed to it.
    pub proxy: Option<String>,
}

fn default_plugin_call() -> DurationSpec {
    DurationSpec(Duration::from_secs(10))
}

fn default_http() -> DurationSpec {
    DurationSpec(Duration::from_secs(30))
}

fn default_connect() -> DurationSpec {
    DurationSpec(Duration::from_secs(10))
}

/// Timeouts.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsConfig {
    /// Longest a call into a plugin may take.
    #[serde(default = "default_plugin_call")]
    pub plugin_call: DurationSpec,
    /// Longest an outbound HTTP request may take, unless a tool sets its own.
    #[serde(default = "default_http")]
    pub http: DurationSpec,
    /// Longest connecting to a server may take.
    #[serde(default = "default_connect")]
    pub connect: DurationSpec,
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        Self {
            plugin_call: default_plugin_call(),
            http: default_http(),
            connect: default_connect(),
        }
    }
}

fn default_max_response_bytes() -> u64 {
    crate::outbound::DEFAULT_MAX_RESPONSE_BYTES
}

/// Size limits.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest tool response body read into memory, in bytes (default 8 MiB);
    /// a larger answer fails the call with a clear error.
    #[serde(default = "default_max_response_bytes")]
    #[schemars(range(min = 1))]
    pub max_response_bytes: u64,
    /// Most entries of each in-memory map of the credentials broker (cached
    /// credentials, supplied credentials, refresh locks); beyond, stale
    /// entries go first, then any (`authhost_broker_evictions_total`).
    #[serde(default = "default_cache_entries")]
    #[schemars(range(min = 1))]
    pub cache_entries: u64,
}

fn default_cache_entries() -> u64 {
    crate::broker::DEFAULT_CAPACITY as u64
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_response_bytes: default_max_response_bytes(),
            cache_entries: default_cache_entries(),
        }
    }
}

/// Settings that apply to the whole workflow.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GeneralConfig {
    /// The HTTP server.
    #[serde(default)]
    pub server: ServerConfig,
    /// The token store.
    #[serde(default)]
    pub store: StoreConfig,
    /// How callers of the server authenticate (`type: none | jwt`).
    pub inbound_auth: Option<crate::inbound::InboundAuthConfig>,
    /// Outbound network policy.
    #[serde(default)]
    pub egress: EgressConfig,
    /// Timeouts.
    #[serde(default)]
    pub timeouts: TimeoutsConfig,
    /// Size limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Exporting traces (`serve`).
    pub telemetry: Option<TelemetryConfig>,
}

/// Traces of `serve` (spans `invoke` → `credentials` → `refresh` →
/// `upstream`) exported over OTLP/HTTP (protobuf) to a collector.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The collector's OTLP/HTTP traces URL, such as
    /// `http://otel-collector:4318/v1/traces`.
    pub otlp_endpoint: String,
    /// `service.name` of the exported spans.
    #[serde(default = "default_service_name")]
    pub service_name: String,
}

fn default_service_name() -> String {
    "authhost".to_owned()
}

/// A plugin file that must have a given SHA-256 digest.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginPin {
    /// A path (relative to the workflow file) or a bare file name
    /// (`libauthhost_static.so`, matched wherever it is found).
    pub file: String,
    /// The expected SHA-256, lowercase hex (`authhost plugins verify` prints it).
    #[schemars(regex(pattern = "^[0-9a-f]{64}$"))]
    pub sha256: String,
}

/// Where plugins come from, and which ones are pinned.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginsConfig {
    /// Plugin files or folders, relative to the workflow file, searched
    /// before the default locations.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Plugins refused unless their digest matches.
    #[serde(default)]
    pub pins: Vec<PluginPin>,
}
