//! Calling a tool: build its request from the arguments, get the bound
//! provider's credentials for the user, apply them, send the request
//! upstream (or, for a remote MCP server's tool, call it there with those
//! credentials). Used by `authhost call`, REST invoke and `/mcp`.

use std::sync::Arc;

use authhost_plugin_api::{Capabilities, OutgoingRequest};
use http::StatusCode;
use sha2::{Digest, Sha256};

pub use crate::upstream::{send, CallResponse};
use crate::{
    broker::{Broker, BrokerError, Credentials},
    credentials::{apply, ApplyError, PreparedRequest},
    inbound::Caller,
    mcp_client::{remote::RemoteTools, RpcError},
    outbound::{loggable_url, OutboundError},
    plugin::{CreateError, ProviderHandle},
    tools::{Args, RemoteServer, ToolError},
    workflow::Workflow,
};

/// Why a tool call did not get an upstream response.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// No such tool.
    #[error("no tool named `{name}`{}", match suggestion { Some(s) => format!("; did you mean `{s}`?"), None => String::new() })]
    UnknownTool {
        /// The name asked for.
        name: String,
        /// The closest tool name.
        suggestion: Option<String>,
    },
    /// The arguments do not fit the tool.
    #[error("tool `{tool}`: {error}")]
    Arguments {
        /// The tool.
        tool: String,
        /// What is wrong (in the message, so not also a `source`).
        error: ToolError,
    },
    /// The provider instance could not be created.
    #[error(transparent)]
    Provider(#[from] CreateError),
    /// The provider failed or timed out, or its tokens could not be read or refreshed.
    #[error(transparent)]
    Credentials(#[from] BrokerError),
    /// The user must authorize the provider first.
    #[error("provider `{provider}` needs user `{user}` to authorize first: {reason}")]
    AuthorizationRequired {
        /// The provider instance.
        provider: String,
        /// The user.
        user: String,
        /// The provider's reason.
        reason: String,
        /// Scopes to ask for beyond the provider's own (the grant's and
        /// the tool's), when the tool needs more than the grant holds.
        scopes: Vec<String>,
    },
    /// The credentials could not be put in the request.
    #[error("provider `{provider}`: {error}")]
    Apply {
        /// The provider instance.
        provider: String,
        /// What could not be applied (in the message, so not also a `source`).
        error: ApplyError,
    },
    /// The request was refused by policy or failed in transit.
    #[error(transparent)]
    Outbound(#[from] OutboundError),
    /// A remote MCP server refused or failed.
    #[error("MCP server `{server}`: {error}")]
    Remote {
        /// The workflow entry of the server.
        server: String,
        /// What went wrong (in the message, so not also a `source`).
        error: String,
    },
}

/// Calls a workflow's tools with credentials from the broker.
#[derive(Debug)]
pub struct Invoker {
    workflow: Arc<Workflow>,
    broker: Arc<Broker>,
    remote: RemoteTools,
}

impl Invoker {
    /// An invoker over `workflow`.
    pub fn new(workflow: Arc<Workflow>, broker: Arc<Broker>) -> Self {
        Self {
            workflow,
            broker,
            remote: RemoteTools::default(),
        }
    }

    /// The workflow.
    pub fn workflow(&self) -> &Arc<Workflow> {
        &self.workflow
    }

    /// The broker.
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// The provider instance `name`.
    ///
    /// # Errors
    ///
    /// The workflow has no such instance.
    pub fn provider(&self, name: &str) -> Result<ProviderHandle, CreateError> {
        self.workflow.provider(name)
    }

    /// Builds `tool`'s request for `user` with `args`, credentials applied.
    ///
    /// # Errors
    ///
    /// Unknown tool, bad arguments, provider failures, "authorization
    /// required", or credentials that cannot be applied.
    pub async fn prepare(
        &self,
        tool: &str,
        caller: &Caller,
        args: &Args,
    ) -> Result<PreparedRequest, InvokeError> {
        let (user, claims) = (caller.user.as_str(), &caller.claims);
        let Some(entry) = self.workflow.tools.get(tool) else {
            return Err(InvokeError::UnknownTool {
                name: tool.to_owned(),
                suggestion: crate::suggest::closest(
                    tool,
                    self.workflow.tools.keys().map(String::as_str),
                )
                .map(str::to_owned),
            });
        };
        let args =
            with_user_placeholders(entry.tool.as_ref(), user, claims, args).map_err(|error| {
                InvokeError::Arguments {
                    tool: tool.to_owned(),
                    error,
                }
            })?;
        let mut request = entry
            .tool
            .prepare(&args)
            .map_err(|error| InvokeError::Arguments {
                tool: tool.to_owned(),
                error,
            })?;
        let Some(provider_name) = entry.tool.auth_provider() else {
            return Ok(request);
        };
        let provider = self.provider(provider_name)?;
        let needed = entry.tool.scopes();
        if !needed.is_empty() && provider.capabilities().contains(Capabilities::INTERACTIVE) {
            if let Some(granted) = self.broker.granted_scopes(provider_name, user).await? {
                let (missing, scopes) = step_up_scopes(granted, needed);
                if let Some(missing) = missing.first() {
                    return Err(InvokeError::AuthorizationRequired {
                        provider: provider_name.to_owned(),
                        user: user.to_owned(),
                        reason: format!(
                            "tool `{tool}` needs the scope `{missing}`, which the grant lacks"
                        ),
                        scopes,
                    });
                }
            }
        }
        let outgoing = provider
            .capabilities()
            .contains(Capabilities::PER_REQUEST)
            .then(|| OutgoingRequest {
                method: request.method.to_string(),
                url: request.url.to_string(),
                body_sha256: request
                    .body
                    .as_ref()
                    .map(|b| hex::encode(Sha256::digest(b))),
                headers: crate::credentials::headers_to_sign(
                    provider.capabilities(),
                    &request.headers,
                ),
            });
        match self
            .broker
            .credentials(&provider, user, caller.token.as_ref(), outgoing)
            .await?
        {
            Credentials::Ready(credentials) => {
                apply(&mut request, &credentials).map_err(|error| InvokeError::Apply {
                    provider: provider_name.to_owned(),
                    error,
                })?;
                Ok(request)
            }
            Credentials::AuthorizationRequired { reason } => {
                Err(InvokeError::AuthorizationRequired {
                    provider: provider_name.to_owned(),
                    user: user.to_owned(),
                    reason,
                    scopes: needed.to_vec(),
                })
            }
        }
    }

    /// Prepares and sends `tool`'s request. When the upstream answers 401
    /// to a stored grant's token, the grant is refreshed once and the
    /// request sent once more.
    ///
    /// # Errors
    ///
    /// As [`prepare`](Self::prepare), plus egress refusals and transport failures.
    pub async fn call(
        &self,
        tool: &str,
        caller: &Caller,
        args: &Args,
    ) -> Result<CallResponse, InvokeError> {
        let user = caller.user.as_str();
        if !self.workflow.tools.contains_key(tool) {
            if let Some((server, remote)) = self.remote_tool(tool) {
                return self.call_remote(server, remote, caller, args).await;
            }
        }
        let request = self.prepare(tool, caller, args).await?;
        let response = send(&self.workflow.outbound, request).await?;
        if response.status != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        // A 401 to a token believed valid: refresh once, retry once (tool
        // requests are buffered, so they replay).
        let Some(provider) = self
            .workflow
            .tools
            .get(tool)
            .and_then(|entry| entry.tool.auth_provider())
        else {
            return Ok(response);
        };
        let provider = self.provider(provider)?;
        if !self.broker.refresh_rejected(&provider, user).await? {
            return Ok(response);
        }
        let request = self.prepare(tool, caller, args).await?;
        Ok(send(&self.workflow.outbound, request).await?)
    }
}

impl Invoker {
    /// The remote MCP server and remote name behind the local tool name
    /// `name`, when one of the workflow's `mcp` entries has it.
    pub fn remote_tool<'n>(&self, name: &'n str) -> Option<(&RemoteServer, &'n str)> {
        self.remote_servers()
            .find_map(|server| server.remote_name(name).map(|remote| (server, remote)))
    }

    /// The provider whose credentials the tool `name` (a workflow tool or
    /// a remote MCP server's) carries.
    pub fn provider_of(&self, name: &str) -> Option<&str> {
        match self.workflow.tools.get(name) {
            Some(entry) => entry.tool.auth_provider(),
            None => self
                .remote_tool(name)
                .and_then(|(server, _)| server.auth_provider.as_deref()),
        }
    }

    /// The workflow's `mcp` entries.
    pub fn remote_servers(&self) -> impl Iterator<Item = &RemoteServer> {
        self.workflow
            .tools
            .values()
            .filter_map(|entry| entry.tool.remote())
    }

    /// The tools of every remote MCP server that `caller` can list now
    /// (a server that needs their authorization first, or fails, is left
    /// out and logged).
    pub async fn remote_tools(&self, caller: &Caller) -> Vec<serde_json::Value> {
        let mut tools = Vec::new();
        for server in self.remote_servers() {
            match self.list_remote(server, caller).await {
                Ok(listed) => tools.extend(listed.iter().cloned()),
                Err(e) => {
                    tracing::info!(server = %server.entry, error = %e, "remote MCP tools not listed")
                }
            }
        }
        tools
    }

    /// The tools of `server` for `caller`.
    ///
    /// # Errors
    ///
    /// Credentials (authorization required, provider failure) or the
    /// server's refusal.
    pub async fn list_remote(
        &self,
        server: &RemoteServer,
        caller: &Caller,
    ) -> Result<Arc<Vec<serde_json::Value>>, InvokeError> {
        let credentials = self.remote_credentials(server, caller).await?;
        self.remote
            .list(&self.workflow.outbound, server, &caller.user, credentials)
            .await
            .map_err(|e| remote_error(server, e))
    }

    /// The credentials `caller`'s requests to `server` carry.
    async fn remote_credentials(
        &self,
        server: &RemoteServer,
        caller: &Caller,
    ) -> Result<Option<Arc<[authhost_plugin_api::Credential]>>, InvokeError> {
        let user = caller.user.as_str();
        let Some(name) = &server.auth_provider else {
            return Ok(None);
        };
        let provider = self.provider(name)?;
        if provider.capabilities().contains(Capabilities::PER_REQUEST) {
            return Err(InvokeError::Remote {
                server: server.entry.clone(),
                error: format!(
                    "provider `{name}` signs each request, which MCP servers' tools do not support"
                ),
            });
        }
        match self
            .broker
            .credentials(&provider, user, caller.token.as_ref(), None)
            .await?
        {
            Credentials::Ready(credentials) => Ok(Some(credentials)),
            Credentials::AuthorizationRequired { reason } => {
                Err(InvokeError::AuthorizationRequired {
                    provider: name.clone(),
                    user: user.to_owned(),
                    reason,
                    scopes: Vec::new(),
                })
            }
        }
    }

    /// Calls the remote tool `remote` of `server`; a `401` to a stored
    /// grant's token refreshes it once and calls once more.
    async fn call_remote(
        &self,
        server: &RemoteServer,
        remote: &str,
        caller: &Caller,
        args: &Args,
    ) -> Result<CallResponse, InvokeError> {
        let user = caller.user.as_str();
        let started = std::time::Instant::now();
        let outbound = &self.workflow.outbound;
        let arguments: serde_json::Map<String, serde_json::Value> =
            args.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let credentials = self.remote_credentials(server, caller).await?;
        let mut result = self
            .remote
            .call(
                outbound,
                server,
                user,
                credentials,
                remote,
                arguments.clone(),
            )
            .await;
        if let (Err(RpcError::Unauthorized { status: 401, .. }), Some(name)) =
            (&result, &server.auth_provider)
        {
            let provider = self.provider(name)?;
            if self.broker.refresh_rejected(&provider, user).await? {
                self.remote.forget(&server.entry, user);
                let credentials = self.remote_credentials(server, caller).await?;
                result = self
                    .remote
                    .call(outbound, server, user, credentials, remote, arguments)
                    .await;
            }
        }
        if let (
            Err(RpcError::Unauthorized {
                status: 403,
                challenge: Some(challenge),
                ..
            }),
            Some(name),
        ) = (&result, &server.auth_provider)
        {
            if let Some(step_up) = self.step_up(name, user, challenge).await? {
                return Err(step_up);
            }
        }
        let result = result.map_err(|e| remote_error(server, e))?;
        Ok(CallResponse {
            status: StatusCode::OK,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: serde_json::to_vec(&result).unwrap_or_default(),
            url: loggable_url(&server.url),
            elapsed: started.elapsed(),
            tool_result: Some(result),
        })
    }
}

impl Invoker {
    /// A remote server's `403 insufficient_scope` to a user's grant of the
    /// interactive provider `name`: the user is asked to authorize again
    /// with the grant's scopes plus those the challenge names — unless the
    /// grant already has them all, when asking again cannot help.
    async fn step_up(
        &self,
        name: &str,
        user: &str,
        challenge: &crate::mcp_client::BearerChallenge,
    ) -> Result<Option<InvokeError>, InvokeError> {
        let provider = self.provider(name)?;
        if challenge.error.as_deref() != Some("insufficient_scope")
            || !provider.capabilities().contains(Capabilities::INTERACTIVE)
        {
            return Ok(None);
        }
        let granted = self
            .broker
            .granted_scopes(name, user)
            .await?
            .unwrap_or_default();
        let (missing, scopes) = step_up_scopes(granted, &challenge.scope);
        if missing.is_empty() {
            return Ok(None);
        }
        Ok(Some(InvokeError::AuthorizationRequired {
            provider: name.to_owned(),
            user: user.to_owned(),
            reason: format!(
                "the MCP server asks for the scope `{}`, which the grant lacks",
                missing.join(" ")
            ),
            scopes,
        }))
    }
}

/// The scopes of `needed` that `granted` lacks, and what a new
/// authorization asks for: the grant's scopes and those.
fn step_up_scopes(granted: Vec<String>, needed: &[String]) -> (Vec<String>, Vec<String>) {
    let missing: Vec<String> = needed
        .iter()
        .filter(|s| !granted.contains(s))
        .cloned()
        .collect();
    let mut scopes = granted;
    scopes.extend(missing.iter().cloned());
    (missing, scopes)
}

/// A remote server's refusal as an invoke error: its invalid-params answer
/// is the caller's mistake, the rest a failure of the server.
fn remote_error(server: &RemoteServer, error: RpcError) -> InvokeError {
    match error {
        RpcError::Rpc {
            code: -32602,
            message,
            ..
        } => InvokeError::Arguments {
            tool: server.entry.clone(),
            error: ToolError::Invalid {
                name: "arguments".to_owned(),
                reason: format!(
                    "were refused by the MCP server: {}",
                    crate::printable::printable(&message)
                ),
            },
        },
        other => InvokeError::Remote {
            server: server.entry.clone(),
            error: other.to_string(),
        },
    }
}

/// The caller's claims (from inbound authentication), for `{user.…}` placeholders.
pub type Claims = serde_json::Map<String, serde_json::Value>;

/// Checks the caller's arguments against the tool's parameters (defaults
/// filled in), then adds `{user.id}` and `{user.<claim>}` values for the
/// placeholders the tool uses. Those come only from authentication: a
/// caller's argument named `user.…` is refused.
fn with_user_placeholders(
    tool: &dyn crate::tools::Tool,
    user: &str,
    claims: &Claims,
    args: &Args,
) -> Result<Args, ToolError> {
    if let Some(name) = args.keys().find(|k| k.starts_with("user.")) {
        return Err(ToolError::Invalid {
            name: name.clone(),
            reason: "is reserved: `user.…` values come from the caller's authentication".to_owned(),
        });
    }
    let mut all = tool.parameters().apply(args)?;
    for placeholder in tool.arguments() {
        let Some(claim) = placeholder.strip_prefix("user.") else {
            continue;
        };
        let value = if claim == "id" {
            Some(user.to_owned())
        } else {
            claims.get(claim).and_then(|v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                serde_json::Value::Bool(b) => Some(b.to_string()),
                _ => None,
            })
        };
        match value {
            Some(value) => {
                all.insert(placeholder.clone(), serde_json::Value::String(value));
            }
            None => {
                return Err(ToolError::Invalid {
                    name: placeholder.clone(),
                    reason: format!(
                    "needs the caller's `{claim}` claim, which their authentication does not carry"
                ),
                })
            }
        }
    }
    Ok(all)
}
