//! Tool types: what a workflow's `tools` entries can be. Each type has a
//! config schema and builds a [`Tool`] that turns call arguments into an
//! HTTP request. `http` and `mcp` (a remote MCP server's tools) are built
//! in; more kinds register here.

mod http;
mod mcp;
mod parameters;
mod template;

use std::fmt;

pub use self::http::{HttpToolConfig, HttpToolType};
pub use mcp::{McpToolConfig, McpToolType, RemoteServer};
pub use parameters::Parameters;
pub use template::{has_dot_segment, value_text, Args, MissingArg, Template};

use crate::{credentials::PreparedRequest, outbound::Outbound};

/// A problem in a tool's configuration: JSON pointer (relative to the tool)
/// and message.
pub type ConfigProblem = (String, String);

/// A kind of tool.
pub trait ToolType: Send + Sync {
    /// The `_type` name.
    fn name(&self) -> &'static str;
    /// One-line description.
    fn description(&self) -> &'static str;
    /// The configuration JSON Schema (without `_type`).
    fn config_schema(&self) -> serde_json::Value;
    /// Builds a tool from a configuration that passed the schema.
    ///
    /// # Errors
    ///
    /// Every problem found, each with its pointer.
    fn build(
        &self,
        name: &str,
        config: &serde_json::Value,
        outbound: &Outbound,
    ) -> Result<Box<dyn Tool>, Vec<ConfigProblem>>;
}

/// A configured tool.
pub trait Tool: Send + Sync + fmt::Debug {
    /// The `authentication` entry it takes credentials from.
    fn auth_provider(&self) -> Option<&str>;
    /// What it does.
    fn description(&self) -> Option<&str>;
    /// OAuth scopes the call needs from the user's grant.
    fn scopes(&self) -> &[String] {
        &[]
    }
    /// The argument names it takes.
    fn arguments(&self) -> Vec<String>;
    /// The JSON Schema its arguments must satisfy.
    fn parameters(&self) -> &Parameters;
    /// Builds the request for one call (credentials not yet applied).
    ///
    /// # Errors
    ///
    /// [`ToolError`] for missing, unknown or unusable arguments.
    fn prepare(&self, args: &Args) -> Result<PreparedRequest, ToolError>;
    /// The remote MCP server this entry stands for, when it is one (its
    /// tools are called through it, not through [`prepare`](Self::prepare)).
    fn remote(&self) -> Option<&RemoteServer> {
        None
    }
}

/// Why a call's request could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// A placeholder has no argument.
    #[error("{0}")]
    Missing(#[from] MissingArg),
    /// An argument the tool does not take.
    #[error("unknown argument `{name}`; this tool takes {}", if expected.is_empty() { "no arguments".to_owned() } else { expected.join(", ") })]
    Unknown {
        /// The argument.
        name: String,
        /// What the tool takes.
        expected: Vec<String>,
    },
    /// An argument value that cannot be used where it goes.
    #[error("argument `{name}` {reason}")]
    Invalid {
        /// The argument.
        name: String,
        /// Why.
        reason: String,
    },
}

/// The registry of tool types.
pub struct ToolTypes {
    types: Vec<Box<dyn ToolType>>,
}

impl fmt::Debug for ToolTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl ToolTypes {
    /// The built-in tool types.
    pub fn builtin() -> Self {
        Self {
            types: vec![Box::new(HttpToolType), Box::new(McpToolType)],
        }
    }

    /// The type named `name`.
    pub fn get(&self, name: &str) -> Option<&dyn ToolType> {
        self.types.iter().find(|t| t.name() == name).map(|t| &**t)
    }

    /// All type names.
    pub fn names(&self) -> Vec<&'static str> {
        self.types.iter().map(|t| t.name()).collect()
    }

    /// All types.
    pub fn iter(&self) -> impl Iterator<Item = &dyn ToolType> {
        self.types.iter().map(|t| &**t)
    }
}
