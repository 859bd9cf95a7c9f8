//! `authhost mcp tools|call URL`: list or call the tools of a remote MCP
//! server (Streamable HTTP), with a bearer token the caller supplies.

use std::{io::Write, path::PathBuf, process::ExitCode};

use anyhow::{bail, Context};
use authhost_plugin_api::Secret;
use clap::Subcommand;
use serde_json::{json, Value};

use super::{output::ReportFormat, printable, Globals};
use crate::{
    mcp_client::{RpcError, Transport},
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

/// Connects to the server and initializes a session.
async fn connect(remote: &Remote, outbound: &Outbound) -> anyhow::Result<Transport> {
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
    let client = outbound
        .client()
        .context("building the HTTP client")?
        .clone();
    let mut transport = Transport::new(client, url, bearer, outbound.max_response_bytes());
    transport.initialize().await.map_err(explain)?;
    Ok(transport)
}

/// An error with what the user can do about it.
fn explain(error: RpcError) -> anyhow::Error {
    let hint = match &error {
        RpcError::Unauthorized { status: 401, .. } => {
            "\nthe server needs an access token: pass one with --bearer-env VAR (authhost does not yet obtain tokens for remote MCP servers itself)"
        }
        RpcError::Unauthorized { .. } => {
            "\nthe token lacks what the server needs: get one with the scope it names"
        }
        _ => "",
    };
    anyhow::anyhow!("{error}{hint}")
}

/// The workflow's outbound client, or the default one.
fn outbound(remote: &Remote, globals: &Globals) -> anyhow::Result<std::sync::Arc<Outbound>> {
    Ok(match &remote.config {
        Some(path) => super::load_workflow(path, globals)?.outbound,
        None => std::sync::Arc::new(Outbound::default()),
    })
}

/// Every tool, following `nextCursor` (at most 100 pages).
async fn list_tools(transport: &mut Transport) -> anyhow::Result<Vec<Value>> {
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let params = match &cursor {
            Some(c) => json!({ "cursor": c }),
            None => json!({}),
        };
        let page = transport
            .request("tools/list", params)
            .await
            .map_err(explain)?;
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
        let mut transport = connect(&args.remote, &outbound).await?;
        let tools = list_tools(&mut transport).await?;
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
        let mut transport = connect(&args.remote, &outbound).await?;
        let tools = list_tools(&mut transport).await?;
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
        let result = transport
            .request(
                "tools/call",
                json!({ "name": args.tool, "arguments": arguments }),
            )
            .await
            .map_err(explain)?;
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
