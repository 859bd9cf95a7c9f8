//! `authhost mcp tools|call URL`: list or call the tools of a remote MCP
//! server (Streamable HTTP), with a bearer token the caller supplies.

use std::{io::Write, path::PathBuf, process::ExitCode, sync::Arc};

use anyhow::{bail, Context};
use authhost_plugin_api::Secret;
use clap::Subcommand;
use serde_json::{json, Value};

use super::{output::ReportFormat, printable, Globals};
use crate::{
    mcp_client::{
        discovery, saved::Saved, Authorizer, ClientSettings, Grant, RpcError, Settings, Transport,
    },
    outbound::Outbound,
    tools::Parameters,
    workflow::Workflow,
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
    /// A client id registered with the server's authorization server
    /// beforehand (else a Client ID Metadata Document or dynamic
    /// registration is used).
    #[arg(long, value_name = "ID")]
    client_id: Option<String>,
    /// The environment variable that holds that client's secret.
    #[arg(long, value_name = "VAR", requires = "client_id")]
    client_secret_env: Option<String>,
    /// A PEM private key (EC P-256 or RSA) the client authenticates with
    /// (`private_key_jwt`).
    #[arg(
        long,
        value_name = "FILE",
        requires = "client_id",
        conflicts_with = "client_secret_env"
    )]
    private_key_file: Option<PathBuf>,
    /// The HTTPS URL where authhost's Client ID Metadata Document is
    /// published, used as the client id where the server accepts that.
    #[arg(long, value_name = "URL")]
    client_metadata_url: Option<String>,
    /// Authenticate as the client itself (OAuth client credentials), for
    /// machine-to-machine servers; needs --client-id.
    #[arg(long, requires = "client_id")]
    client_credentials: bool,
    /// How long to wait for the authorization in the browser.
    #[arg(long, default_value = "5m", value_parser = super::login::parse_timeout)]
    timeout: std::time::Duration,
    /// Keep the tokens (and any dynamic client registration) of this user
    /// in the --config workflow's encrypted token store, for later runs;
    /// without it they last for this run only.
    #[arg(
        short,
        long,
        value_name = "ID",
        requires = "config",
        conflicts_with = "bearer_env"
    )]
    user: Option<String>,
    /// A workflow whose egress policy, timeouts, size limits and token
    /// store apply.
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

/// A session with the server: a refusal is answered by authorizing (unless
/// the token came from --bearer-env) and the request retried, or explained.
struct Connection {
    transport: Transport,
    authorizer: Option<Authorizer>,
}

impl Connection {
    /// Connects to the server and initializes a session.
    async fn open(remote: &Remote, workflow: Option<&Workflow>) -> anyhow::Result<Self> {
        let outbound = match workflow {
            Some(workflow) => workflow.outbound.clone(),
            None => Arc::new(Outbound::default()),
        };
        let url = url::Url::parse(&remote.url)
            .with_context(|| format!("`{}` is not a URL", printable(&remote.url)))?;
        outbound
            .check_url(&url)
            .with_context(|| format!("cannot reach {}", crate::outbound::loggable_url(&url)))?;
        let bearer = match &remote.bearer_env {
            Some(var) => Some(secret_from_env("--bearer-env", var)?),
            None => None,
        };
        let saved = match (&remote.user, workflow) {
            (Some(user), Some(workflow)) => {
                Some(Saved::new(super::open_store(workflow).await?, user.clone()))
            }
            _ => None,
        };
        let mut authorizer = match bearer {
            Some(_) => None,
            None => Some(Authorizer::new(
                outbound.clone(),
                url.clone(),
                settings(remote)?,
                saved,
            )),
        };
        let bearer = match (bearer, &mut authorizer) {
            (Some(bearer), _) => Some(bearer),
            (None, Some(authorizer)) => authorizer
                .saved_token()
                .await
                .map_err(|why| anyhow::anyhow!("reading the saved token: {why}"))?,
            (None, None) => None,
        };
        let mut connection = Self {
            transport: Transport::new(outbound, url, bearer),
            authorizer,
        };
        loop {
            match connection.transport.initialize().await {
                Ok(_) => return Ok(connection),
                Err(error) => connection.authorize_or_explain(error).await?,
            }
        }
    }

    /// Calls `method`; a refusal is answered by authorizing and retrying.
    async fn request(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        loop {
            match self.transport.request(method, params.clone()).await {
                Ok(result) => return Ok(result),
                Err(error) => self.authorize_or_explain(error).await?,
            }
        }
    }

    /// Ok (retry) when a 401/403 got a new token; else the error explained.
    async fn authorize_or_explain(&mut self, error: RpcError) -> anyhow::Result<()> {
        let (
            Some(authorizer),
            RpcError::Unauthorized {
                status, challenge, ..
            },
        ) = (self.authorizer.as_mut(), &error)
        else {
            return Err(self.explain(error).await);
        };
        match authorizer.answer(*status, challenge.as_ref()).await {
            Ok(bearer) => {
                self.transport.set_bearer(bearer);
                Ok(())
            }
            Err(why) => Err(anyhow::anyhow!("{error}\nauthorizing failed: {why}")),
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
            "the token from --bearer-env was refused: get another, or leave --bearer-env out and authhost authorizes itself"
        } else {
            "the token lacks what the server needs: get one with the scope it names"
        };
        anyhow::anyhow!("{error}{found}\n{next}")
    }
}

/// How to authorize, from the flags and the environment.
fn settings(remote: &Remote) -> anyhow::Result<Settings> {
    let secret = match &remote.client_secret_env {
        Some(var) => Some(secret_from_env("--client-secret-env", var)?),
        None => None,
    };
    let private_key = match &remote.private_key_file {
        Some(path) => Some(Secret::new(std::fs::read_to_string(path).with_context(
            || format!("--private-key-file: cannot read {}", path.display()),
        )?)),
        None => None,
    };
    let metadata_document = match &remote.client_metadata_url {
        Some(text) => {
            let url = url::Url::parse(text)
                .ok()
                .filter(|u| u.scheme() == "https" && u.path() != "/")
                .with_context(|| format!("--client-metadata-url: `{}` is not an HTTPS URL with a path, as a Client ID Metadata Document URL must be", printable(text)))?;
            Some(url)
        }
        None => None,
    };
    Ok(Settings {
        client: ClientSettings {
            client_id: remote.client_id.clone(),
            client_secret: secret,
            private_key,
            metadata_document,
        },
        grant: if remote.client_credentials {
            Grant::ClientCredentials
        } else {
            Grant::AuthorizationCode
        },
        browser: std::env::var("BROWSER")
            .ok()
            .filter(|b| !b.trim().is_empty()),
        timeout: remote.timeout,
    })
}

/// The non-empty value of the environment variable `var`.
fn secret_from_env(flag: &str, var: &str) -> anyhow::Result<Secret> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Ok(Secret::new(value)),
        _ => bail!("{flag} {var}: the environment variable is not set or empty"),
    }
}

/// The --config workflow, loaded.
fn workflow(remote: &Remote, globals: &Globals) -> anyhow::Result<Option<Workflow>> {
    remote
        .config
        .as_ref()
        .map(|path| super::load_workflow(path, globals))
        .transpose()
}

/// Every tool, following `nextCursor`; a refusal is answered by
/// authorizing and listing again.
async fn list_tools(connection: &mut Connection) -> anyhow::Result<Vec<Value>> {
    loop {
        match connection.transport.list_tools().await {
            Ok(tools) => return Ok(tools),
            Err(error) => connection.authorize_or_explain(error).await?,
        }
    }
}

fn tools(args: ToolsArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let workflow = workflow(&args.remote, globals)?;
    super::runtime()?.block_on(async {
        let mut connection = Connection::open(&args.remote, workflow.as_ref()).await?;
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
    let workflow = workflow(&args.remote, globals)?;
    super::runtime()?.block_on(async {
        let mut connection = Connection::open(&args.remote, workflow.as_ref()).await?;
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
