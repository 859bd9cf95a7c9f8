//! The `authhost` command line: global options and one module per command.

mod call;
mod caller;
mod curl;
mod doctor;
mod info;
mod keys;
mod login;
mod mcp;
mod output;
mod plugins;
mod presets;
mod schema;
mod serve;
mod tokens;
mod validate;

use std::{path::PathBuf, process::ExitCode, sync::LazyLock};

pub use output::printable;

/// Exit code: the tool was called and answered an error status (4xx/5xx).
pub const EXIT_TOOL_ERROR: u8 = 1;
/// Exit code: authhost could not do what was asked (configuration, plugin,
/// store, network, a failed check).
pub const EXIT_FAILURE: u8 = 2;

/// [`EXIT_FAILURE`] as an exit code.
pub(crate) fn failure() -> ExitCode {
    ExitCode::from(EXIT_FAILURE)
}

use clap::{Parser, Subcommand};

use crate::plugin::{PluginRegistry, SearchPath};

static VERSION: LazyLock<String> = LazyLock::new(crate::version_line);

/// authhost: credentials for every tool call, from auth-provider plugins.
///
/// Exit codes: 0 success; 1 the tool was called and answered an error
/// status (`call`); 2 authhost could not do what was asked (configuration,
/// plugin, store, network, a failed check).
#[derive(Debug, Parser)]
#[command(name = "authhost", version = VERSION.as_str(), propagate_version = true, after_help = "Exit codes: 0 success; 1 the tool was called and answered an error status (call); 2 authhost could not do what was asked (configuration, plugin, store, network, a failed check).")]
pub struct Cli {
    /// More output: -v info logs and plugin files, -vv debug logs and full ABI reports.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// A plugin file or folder to load from, before the default locations (repeatable).
    #[arg(long = "plugin-path", value_name = "PATH", global = true)]
    pub plugin_paths: Vec<PathBuf>,

    /// Log lines as text (default) or one JSON object per line.
    #[arg(long, value_enum, default_value_t = crate::logging::LogFormat::Text, env = "AUTHHOST_LOG_FORMAT", global = true)]
    pub log_format: crate::logging::LogFormat,

    /// Load plugins only from --plugin-path and AUTHHOST_PLUGIN_PATH, not from
    /// the executable's folder or the data folder.
    #[arg(long, global = true)]
    pub no_default_plugins: bool,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show installed components and their configuration schemas.
    #[command(subcommand)]
    Info(info::InfoCommand),
    /// Check plugin files.
    #[command(subcommand)]
    Plugins(plugins::PluginsCommand),
    /// Check a workflow file and report every problem with its place.
    Validate(validate::ValidateArgs),
    /// Print the JSON Schema of workflow files for the installed plugins.
    Schema(schema::SchemaArgs),
    /// Call a workflow tool with its provider's credentials.
    Call(call::CallArgs),
    /// Send one request to a provider's API (its `_base_url`) with a user's
    /// credentials, as `/v1/proxy` does; the body goes to stdout.
    Curl(curl::CurlArgs),
    /// Authorize a user for an OAuth provider in the browser and store the tokens.
    Login(login::LoginArgs),
    /// Inspect and revoke stored per-user tokens.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Manage the token store's encryption keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Run the HTTP gateway: tool calls with each caller's credentials.
    Serve(serve::ServeArgs),
    /// Use a remote MCP server's tools from the command line.
    #[command(subcommand)]
    Mcp(mcp::McpCommand),
    /// Check a deployment: store, schema, keys against every row, plugin
    /// pins, clock skew against the authorization servers.
    Doctor(doctor::DoctorArgs),
}

/// What every command gets: the global options.
#[derive(Debug)]
pub(crate) struct Globals {
    pub(crate) verbose: u8,
    pub(crate) search: SearchPath,
    pub(crate) plugin_paths: Vec<PathBuf>,
    pub(crate) default_plugins: bool,
}

impl Globals {
    /// Options to load a workflow with this process's environment.
    pub(crate) fn load_options(&self) -> crate::workflow::LoadOptions {
        crate::workflow::LoadOptions::from_process(self.plugin_paths.clone(), self.default_plugins)
    }

    /// Loads every plugin on the search path.
    pub(crate) fn registry(&self) -> PluginRegistry {
        PluginRegistry::load(&self.search)
    }
}

/// Parses the command line and runs it.
///
/// # Errors
///
/// Whatever the command failed with; `main` prints the chain.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    // `serve` exports traces when its workflow says so: read (not built)
    // before logging starts, so every span of the run is exported.
    let telemetry = match &cli.command {
        Command::Serve(args) => {
            let env: Vec<(String, String)> = std::env::vars().collect();
            crate::workflow::Config::load(args.config(), &env)
                .0
                .and_then(|config| config.general.telemetry)
        }
        _ => None,
    };
    let exporter = crate::logging::init(cli.verbose, cli.log_format, telemetry.as_ref());
    let globals = Globals {
        verbose: cli.verbose,
        search: SearchPath::standard(&cli.plugin_paths, !cli.no_default_plugins),
        plugin_paths: cli.plugin_paths,
        default_plugins: !cli.no_default_plugins,
    };
    let result = match cli.command {
        Command::Info(cmd) => cmd.run(&globals),
        Command::Plugins(cmd) => cmd.run(&globals),
        Command::Validate(args) => validate::run(args, &globals),
        Command::Schema(args) => schema::run(args, &globals),
        Command::Call(args) => call::run(args, &globals),
        Command::Curl(args) => curl::run(args, &globals),
        Command::Login(args) => login::run(args, &globals),
        Command::Tokens(cmd) => cmd.run(&globals),
        Command::Keys(cmd) => cmd.run(&globals),
        Command::Serve(args) => serve::run(args, &globals),
        Command::Mcp(cmd) => cmd.run(&globals),
        Command::Doctor(args) => doctor::run(args, &globals),
    };
    if let Some(exporter) = exporter {
        exporter.shutdown();
    }
    result
}

/// Loads a workflow for a command that needs it valid; prints the report
/// and fails otherwise.
pub(crate) fn load_workflow(
    path: &std::path::Path,
    globals: &Globals,
) -> anyhow::Result<crate::workflow::Workflow> {
    let loaded = crate::workflow::load(path, &globals.load_options());
    for d in &loaded.diagnostics {
        eprintln!("{d}");
    }
    loaded.workflow.ok_or_else(|| {
        anyhow::anyhow!(
            "{} is not valid; `authhost validate` shows the same report",
            path.display()
        )
    })
}

/// Opens the workflow's token store, printing the key-file notice.
pub(crate) async fn open_store(
    workflow: &crate::workflow::Workflow,
) -> anyhow::Result<std::sync::Arc<crate::store::TokenStore>> {
    use anyhow::Context as _;
    let (store, notice) = workflow
        .open_store()
        .await
        .context("opening the token store")?;
    if let Some(notice) = notice {
        eprintln!("note: {notice}");
    }
    let store = std::sync::Arc::new(store);
    crate::plugin::kept_store::bind(store.clone());
    Ok(store)
}

/// The credentials service over the workflow's token store (opened, the
/// key-file notice printed), for commands that manage stored grants.
pub(crate) async fn open_broker(
    workflow: &crate::workflow::Workflow,
) -> anyhow::Result<crate::broker::Broker> {
    Ok(crate::broker::Broker::new(Some(
        open_store(workflow).await?,
    )))
}

/// The token store when the workflow has a provider that needs it.
pub(crate) async fn open_store_if_needed(
    workflow: &crate::workflow::Workflow,
) -> anyhow::Result<Option<std::sync::Arc<crate::store::TokenStore>>> {
    if workflow.needs_store() {
        open_store(workflow).await.map(Some)
    } else {
        Ok(None)
    }
}

/// A current-thread runtime for one command.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
