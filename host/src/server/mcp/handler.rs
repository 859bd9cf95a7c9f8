//! The MCP server handler: `tools/list` from the workflow's tools,
//! `tools/call` through the same credentials path as
//! `POST /v1/tools/{tool}/invoke`.

use std::{borrow::Cow, sync::Arc};

use rmcp::{
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorCode,
        ErrorData, Implementation, ListToolsResult, PaginatedRequestParams, ServerCapabilities,
        ServerConfig, Tool,
    },
    service::{ElicitationMode, RequestContext},
    RoleServer, ServerHandler,
};

use super::super::{routes, ApiError, ServerState};
use crate::{inbound::Caller, invoke::InvokeError};

/// JSON-RPC error code of the 2025-11-25 revision: the request needs the
/// user to complete a URL-mode elicitation first (`URLElicitationRequiredError`).
const URL_ELICITATION_REQUIRED: i32 = -32042;

/// The handler of one MCP session.
#[derive(Clone)]
pub(super) struct McpTools {
    state: Arc<ServerState>,
}

impl McpTools {
    pub(super) fn new(state: Arc<ServerState>) -> Self {
        Self { state }
    }
}

/// The HTTP request a message came in, as rmcp hands it over.
fn request_parts(context: &RequestContext<RoleServer>) -> Option<&http::request::Parts> {
    context.extensions.get::<http::request::Parts>()
}

fn tool_error(text: impl Into<String>) -> CallToolResponse {
    CallToolResult::error(vec![ContentBlock::text(text.into())]).into()
}

impl ServerHandler for McpTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("authhost", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Each tool calls an API with the signed-in user's credentials. When a tool \
                 needs the user to connect an account, the answer carries a link to open.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let mut tools: Vec<Tool> = self
            .state
            .workflow
            .tools
            .iter()
            .filter(|(_, entry)| entry.tool.remote().is_none())
            .map(|(name, entry)| {
                let schema = match entry.tool.parameters().schema() {
                    serde_json::Value::Object(map) => map.clone(),
                    _ => serde_json::Map::new(),
                };
                Tool::new_with_raw(
                    name.clone(),
                    entry.tool.description().map(|d| Cow::Owned(d.to_owned())),
                    schema,
                )
            })
            .collect();
        // Remote MCP servers' tools, as the caller may use them now.
        if let Some(caller) = request_parts(&context).and_then(|p| p.extensions.get::<Caller>()) {
            for remote in self.state.invoker.remote_tools(caller).await {
                match serde_json::from_value::<Tool>(remote) {
                    Ok(tool) => tools.push(tool),
                    Err(e) => tracing::info!(error = %e, "a remote MCP tool could not be listed"),
                }
            }
        }
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(parts) = request_parts(&context) else {
            return Err(ErrorData::internal_error("no HTTP request", None));
        };
        let Some(caller) = parts.extensions.get::<Caller>() else {
            return Err(ErrorData::internal_error("no authenticated caller", None));
        };
        let url_elicitation = context
            .peer
            .supported_elicitation_modes()
            .contains(&ElicitationMode::Url);
        call_tool(
            &self.state,
            &parts.headers,
            caller,
            request,
            url_elicitation,
        )
        .await
    }
}

/// `tools/call`, for rmcp's handler and for the fast path alike: the call
/// through the invoke path, its answer as a tool result, and a needed
/// authorization as a URL elicitation (when the client takes them) or a
/// tool error holding the link.
pub(super) async fn call_tool(
    state: &Arc<ServerState>,
    headers: &http::HeaderMap,
    caller: &Caller,
    request: CallToolRequestParams,
    url_elicitation: bool,
) -> Result<CallToolResponse, ErrorData> {
    let tool = request.name.as_ref();
    let known = state
        .workflow
        .tools
        .get(tool)
        .is_some_and(|entry| entry.tool.remote().is_none())
        || state.invoker.remote_tool(tool).is_some();
    if !known {
        return Err(ErrorData::invalid_params(
            format!("unknown tool: {tool}"),
            None,
        ));
    }
    let arguments: crate::tools::Args = request.arguments.unwrap_or_default().into_iter().collect();
    let provider = state.invoker.provider_of(tool);
    let result = state.invoker.call(tool, caller, &arguments).await;
    let outcome = match &result {
        Ok(_) => super::super::Outcome::Upstream,
        Err(InvokeError::AuthorizationRequired { .. }) => {
            super::super::Outcome::AuthorizationRequired
        }
        Err(InvokeError::UnknownTool { .. } | InvokeError::Arguments { .. }) => {
            super::super::Outcome::ClientError
        }
        Err(_) => super::super::Outcome::Failed,
    };
    state.metrics.invoke(provider, outcome);
    match result {
        Ok(response) => {
            state.metrics.upstream_latency(response.elapsed);
            if let Some(result) = response.tool_result {
                // A remote MCP server's result, passed on as it came.
                return serde_json::from_value::<CallToolResult>(result)
                    .map(Into::into)
                    .map_err(|e| {
                        ErrorData::internal_error(
                            format!("the remote tool's result is not a CallToolResult: {e}"),
                            None,
                        )
                    });
            }
            let text = String::from_utf8_lossy(&response.body).into_owned();
            let failed = response.status.is_client_error() || response.status.is_server_error();
            let mut result = if failed {
                CallToolResult::error(vec![ContentBlock::text(format!(
                    "the API answered {}: {text}",
                    response.status
                ))])
            } else {
                CallToolResult::success(vec![ContentBlock::text(text)])
            };
            if let Ok(serde_json::Value::Object(object)) =
                serde_json::from_slice::<serde_json::Value>(&response.body)
            {
                result.structured_content = Some(serde_json::Value::Object(object));
            }
            Ok(result.into())
        }
        Err(InvokeError::AuthorizationRequired {
            provider,
            user,
            scopes,
            ..
        }) => {
            let (provider, link) =
                match routes::authorization_needed(state, headers, provider, &user, &scopes) {
                    ApiError::AuthorizationRequired { provider, auth_url } => (provider, auth_url),
                    other => return Ok(tool_error(message_of(other))),
                };
            let message = format!(
                "Connect your `{provider}` account to use this tool: open {link}, then call \
                     the tool again."
            );
            if url_elicitation {
                let elicitation_id = format!("connect-{provider}");
                return Err(ErrorData::new(
                    ErrorCode(URL_ELICITATION_REQUIRED),
                    message.clone(),
                    Some(serde_json::json!({
                        "elicitations": [{
                            "mode": "url",
                            "elicitationId": elicitation_id,
                            "url": link,
                            "message": message,
                        }]
                    })),
                ));
            }
            Ok(tool_error(message))
        }
        Err(e) => Ok(tool_error(message_of(ApiError::from(e)))),
    }
}

/// The message a caller may see for an error (a 500's detail is logged,
/// never shown).
fn message_of(error: ApiError) -> String {
    match error {
        ApiError::Unauthenticated(m)
        | ApiError::Forbidden(m)
        | ApiError::NotFound(m)
        | ApiError::BadRequest(m)
        | ApiError::BadGateway(m) => m,
        ApiError::AuthorizationRequired { provider, auth_url } => {
            format!("`{provider}` needs authorization: open {auth_url}")
        }
        ApiError::CredentialsRequired { provider } => format!(
            "`{provider}` needs the user's own credentials: supply them with \
             PUT /v1/credentials/{provider}, then call the tool again"
        ),
        ApiError::Internal(e) => {
            tracing::error!(error = %e, "mcp tool call failed");
            "internal error (logged on the server)".to_owned()
        }
    }
}

impl std::fmt::Debug for McpTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("McpTools")
    }
}
