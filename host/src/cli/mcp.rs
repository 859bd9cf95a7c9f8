//! `authhost mcp tools|call URL`: list or call the tools of a remote MCP
//! server (Streamable HTTP), with a bearer token the caller supplies.

use std::{io::Write, path::PathBuf, process::ExitCode, sync::Arc};

use anyhow::{bail, Context};
use authhost_plugin_api::Secret;
use clap::Subcommand;
use serde_json::{json, Value};

use super::{output::ReportFormat, printable, Globals};
use crate::{
    mcp_client::{discovery, RpcError, Transport},
    outbound::Outbound,
    tools::Parameters,
};

/// `mcp` subcommands.
#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// List the tools of a remote MCP server.
    Tools(ToolsArgs),
    /// Call one tool of a remote MCP server and print its result.
    Call(CallArgs),
}

/// Where the server is and how to reach it.
#[derive(Debug, clap::Args)]
pub struct Remote {
    /// The server's MCP endpoint, such as https://mcp.example.com/mcp.
    #[arg(value_name = "URL")]
    url: String,
    /// The environment variable that holds an access token for the server
    /// (sent as `Authorization: Bearer`; never read from the command line).
    #[arg(long, value_name = "VAR")]
    bearer_env: Option<String>,
    /// A workflow whose egress policy, timeouts and size limits apply.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
}

/// `mcp tools` arguments.
#[derive(Debug, clap::Args)]
pub struct ToolsArgs {
    #[command(flatten)]
    remote: Remote,
}

/// `mcp call` arguments.
#[derive(Debug, clap::Args)]
pub struct CallArgs {
    #[command(flatten)]
    remote: Remote,
    /// The tool to call.
    #[arg(value_name = "TOOL")]
    tool: String,
    /// An argument (repeatable), typed as the tool's input schema declares.
    #[arg(short, long = "arg", value_name = "NAME=VALUE")]
    args: Vec<String>,
}

impl McpCommand {
    /// Runs the subcommand.
    pub(crate) fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        match self {
            Self::Tools(args) => tools(args, globals),
            Self::Call(args) => call(args, globals),
        }
    }
}

/// A session with the server, whose refusals are explained.
struct Connection {
    transport: Transport,
}

impl Connection {
    /// Connects to the server and initializes a session.
    async fn open(remote: &Remote, outbound: Arc<Outbound>) -> anyhow::Result<Self> {
        let url = url::Url::parse(&remote.url)
            .with_context(|| format!("`{}` is not a URL", printable(&remote.url)))?;
        outbound
            .check_url(&url)
            .with_context(|| format!("cannot reach {}", crate::outbound::loggable_url(&url)))?;
        let bearer = match &remote.bearer_env {
            Some(var) => match std::env::var(var) {
                Ok(token) if !token.is_empty() => Some(Secret::new(token)),
                _ => bail!("--bearer-env {var}: the environment variable is not set or empty"),
            },
            None => None,
        };
        let mut connection = Self {
            transport: Transport::new(outbound, url, bearer),
        };
        if let Err(error) = connection.transport.initialize().await {
            return Err(connection.explain(error).await);
        }
        Ok(connection)
    }

    /// Calls `method`; a refusal is explained.
    async fn request(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        match self.transport.request(method, params).await {
            Ok(result) => Ok(result),
            Err(error) => Err(self.explain(error).await),
        }
    }

    /// An error with what the user can do about it: for a 401 or 403, the
    /// authorization servers the server's metadata names.
    async fn explain(&self, error: RpcError) -> anyhow::Error {
        let RpcError::Unauthorized {
            status, challenge, ..
        } = &error
        else {
            return anyhow::Error::new(error);
        };
        let found = match discovery::protected_resource(
            self.transport.outbound(),
            self.transport.url(),
            challenge.as_ref(),
        )
        .await
        {
            Ok((at, metadata)) => format!(
                "\nits protected resource metadata ({}) names the authorization server(s) {}{}",
                crate::outbound::loggable_url(&at),
                metadata.authorization_servers.join(", "),
                if metadata.scopes_supported.is_empty() {
                    String::new()
                } else {
                    format!(" and the scopes {}", metadata.scopes_supported.join(" "))
                }
            ),
            Err(why) => format!("\nno protected resource metadata names it: {why}"),
        };
        let next = if *status == 401 {
            "pass an access token from one of them with --bearer-env VAR (authhost does not yet obtain tokens for remote MCP servers itself)"
        } else {
            "the token lacks what the server needs: get one with the scope it names"
        };
        anyhow::anyhow!("{error}{found}\n{next}")
    }
}

/// The workflow's outbound client, or the default one.
fn outbound(remote: &Remote, globals: &Globals) -> anyhow::Result<Arc<Outbound>> {
    Ok(match &remote.config {
        Some(path) => super::load_workflow(path, globals)?.outbound,
        None => Arc::new(Outbound::default()),
    })
}

/// Every tool, following `nextCursor` (at most 100 pages).
async fn list_tools(connection: &mut Connection) -> anyhow::Result<Vec<Value>> {
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let params = match &cursor {
            Some(c) => json!({ "cursor": c }),
            None => json!({}),
        };
        let page = connection.request("tools/list", params).await?;
        if let Some(items) = page.get("tools").and_then(Value::as_array) {
            tools.extend(items.iter().cloned());
        }
        cursor = page
            .get("nextCursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if cursor.is_none() {
            return Ok(tools);
        }
    }
    bail!("the server's tool list did not end after 100 pages")
}

fn tools(args: ToolsArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let outbound = outbound(&args.remote, globals)?;
    super::runtime()?.block_on(async {
        let mut connection = Connection::open(&args.remote, outbound).await?;
        let tools = list_tools(&mut connection).await?;
        let mut out = std::io::stdout().lock();
        match args.remote.format {
            ReportFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&tools)?)?,
            ReportFormat::Text => {
                for tool in &tools {
                    let name = tool.get("name").and_then(Value::as_str).unwrap_or("?");
                    let description = tool
                        .get("description")
                        .and_then(Value::as_str)
                        .and_then(|d| d.lines().next())
                        .unwrap_or("");
                    writeln!(out, "{}\t{}", printable(name), printable(description))?;
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn call(args: CallArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let outbound = outbound(&args.remote, globals)?;
    super::runtime()?.block_on(async {
        let mut connection = Connection::open(&args.remote, outbound).await?;
        let tools = list_tools(&mut connection).await?;
        let Some(tool) = tools
            .iter()
            .find(|t| t.get("name").and_then(Value::as_str) == Some(args.tool.as_str()))
        else {
            let names = tools
                .iter()
                .filter_map(|t| t.get("name").and_then(Value::as_str));
            let hint = crate::suggest::closest(&args.tool, names)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            bail!("the server has no tool `{}`{hint}", printable(&args.tool));
        };
        // Typed as the remote schema says; a schema authhost cannot compile
        // leaves every argument a string.
        let parameters = tool
            .get("inputSchema")
            .and_then(|schema| Parameters::foreign(schema.clone()).ok());
        let arguments = super::call::parse_args(&args.args, parameters.as_ref())?;
        let result = connection
            .request(
                "tools/call",
                json!({ "name": args.tool, "arguments": arguments }),
            )
            .await?;
        let failed = result.get("isError").and_then(Value::as_bool) == Some(true);
        let mut out = std::io::stdout().lock();
        match args.remote.format {
            ReportFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&result)?)?,
            ReportFormat::Text => write_content(&mut out, &result)?,
        }
        Ok(if failed {
            ExitCode::from(super::EXIT_TOOL_ERROR)
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// A tool result for people: structured content as JSON, else each content
/// item (text as is, other kinds by type and size).
fn write_content(out: &mut impl Write, result: &Value) -> std::io::Result<()> {
    if let Some(structured) = result.get("structuredContent") {
        return writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(structured).unwrap_or_default()
        );
    }
    for item in result
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match item.get("type").and_then(Value::as_str) {
            Some("text") => writeln!(
                out,
                "{}",
                printable(item.get("text").and_then(Value::as_str).unwrap_or(""))
            )?,
            kind => {
                let mime = item.get("mimeType").and_then(Value::as_str).unwrap_or("");
                let size = item
                    .get("data")
                    .and_then(Value::as_str)
                    .map_or(0, |d| d.len() * 3 / 4);
                writeln!(
                    out,
                    "[{} {} ~{size} bytes]",
                    kind.unwrap_or("unknown"),
                    printable(mime)
                )?;
            }
        }
    }
    Ok(())
}
