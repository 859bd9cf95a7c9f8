//! The `mcp` tool type: a remote MCP server whose tools join the workflow's,
//! each named `<prefix><remote name>` (the prefix is `<entry>_` unless set),
//! optionally only those an allow-list names. They are listed and called
//! on the server over Streamable HTTP with the bound provider's credentials
//! for the calling user; see `crate::mcp_client::remote`.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Args, ConfigProblem, Parameters, Tool, ToolError, ToolType};
use crate::{credentials::PreparedRequest, duration::DurationSpec, outbound::Outbound};

/// A remote MCP server's tools.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpToolConfig {
    /// What the server offers (shown by `info`).
    pub description: Option<String>,
    /// The server's MCP endpoint (Streamable HTTP), an absolute http(s) URL.
    #[schemars(length(min = 1))]
    pub url: String,
    /// The `authentication` entry whose credentials every request to the
    /// server carries, for the calling user.
    pub auth_provider: Option<String>,
    /// Only these of the server's tools (their remote names); all when absent.
    pub tools: Option<Vec<String>>,
    /// Put before each remote tool's name (default: the entry's name and `_`).
    pub prefix: Option<String>,
    /// Longest one request to the server may take (default: general.timeouts.http).
    pub timeout: Option<DurationSpec>,
}

/// The `mcp` tool type.
#[derive(Debug, Clone, Copy)]
pub struct McpToolType;

/// A configured remote MCP server.
#[derive(Debug, Clone)]
pub struct RemoteServer {
    /// The workflow entry's name.
    pub entry: String,
    /// The server's MCP endpoint.
    pub url: url::Url,
    /// The provider whose credentials requests carry.
    pub auth_provider: Option<String>,
    /// The remote names allowed, when limited.
    pub allow: Option<Vec<String>>,
    /// The prefix of the local names.
    pub prefix: String,
    /// Per-request timeout.
    pub timeout: Option<std::time::Duration>,
    description: Option<String>,
    parameters: Parameters,
}

impl RemoteServer {
    /// The remote name behind the local tool name `name`, when it is one
    /// of this server's (by prefix and allow-list).
    pub fn remote_name<'n>(&self, name: &'n str) -> Option<&'n str> {
        let remote = name.strip_prefix(self.prefix.as_str())?;
        (!remote.is_empty() && self.allows(remote)).then_some(remote)
    }

    /// Whether the allow-list lets the remote tool `remote` through.
    pub fn allows(&self, remote: &str) -> bool {
        self.allow
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == remote))
    }
}

impl ToolType for McpToolType {
    fn name(&self) -> &'static str {
        "mcp"
    }

    fn description(&self) -> &'static str {
        "A remote MCP server's tools, called with the bound provider's credentials"
    }

    fn config_schema(&self) -> serde_json::Value {
        authhost_plugin_api::config_schema::<McpToolConfig>()
    }

    fn build(
        &self,
        name: &str,
        config: &serde_json::Value,
        outbound: &Outbound,
    ) -> Result<Box<dyn Tool>, Vec<ConfigProblem>> {
        let config: McpToolConfig = serde_json::from_value(config.clone())
            .map_err(|e| vec![(String::new(), e.to_string())])?;
        let mut problems = Vec::new();
        let url = match url::Url::parse(&config.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                if let Err(e) = outbound.check_url(&url) {
                    problems.push(("/url".to_owned(), e.to_string()));
                }
                Some(url)
            }
            Ok(url) => {
                problems.push((
                    "/url".to_owned(),
                    format!(
                        "uses `{}`: an MCP server is reached over http or https",
                        url.scheme()
                    ),
                ));
                None
            }
            Err(e) => {
                problems.push((
                    "/url".to_owned(),
                    format!("is not a valid absolute URL ({e})"),
                ));
                None
            }
        };
        let prefix = config.prefix.clone().unwrap_or_else(|| format!("{name}_"));
        if !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            problems.push((
                "/prefix".to_owned(),
                "may hold letters, digits, `_`, `-` and `.` only (it starts tool names)".to_owned(),
            ));
        }
        if let Some(names) = &config.tools {
            if names.is_empty() {
                problems.push((
                    "/tools".to_owned(),
                    "is empty, so no tool would be imported; leave it out to import all".to_owned(),
                ));
            }
        }
        let (Some(url), true) = (url, problems.is_empty()) else {
            return Err(problems);
        };
        Ok(Box::new(RemoteServer {
            entry: name.to_owned(),
            url,
            auth_provider: config.auth_provider,
            allow: config.tools,
            prefix,
            timeout: config.timeout.map(|t| t.0),
            description: config.description,
            parameters: Parameters::from_placeholders(&[]),
        }))
    }
}

impl Tool for RemoteServer {
    fn auth_provider(&self) -> Option<&str> {
        self.auth_provider.as_deref()
    }

    fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    fn arguments(&self) -> Vec<String> {
        Vec::new()
    }

    fn parameters(&self) -> &Parameters {
        &self.parameters
    }

    fn prepare(&self, _args: &Args) -> Result<PreparedRequest, ToolError> {
        Err(ToolError::Invalid {
            name: self.entry.clone(),
            reason: format!(
                "is a remote MCP server, not a tool: call one of its tools, named `{}<tool>`",
                self.prefix
            ),
        })
    }

    fn remote(&self) -> Option<&RemoteServer> {
        Some(self)
    }
}
