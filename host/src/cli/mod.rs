//! The `authhost` command line: global options and one module per command.

mod call;
mod info;
mod output;
mod plugins;
mod schema;
mod validate;

use std::{path::PathBuf, process::ExitCode, sync::LazyLock};

use clap::{Parser, Subcommand};

use crate::plugin::{PluginRegistry, SearchPath};

static VERSION: LazyLock<String> = LazyLock::new(crate::version_line);

/// authhost: credentials for every tool call, from auth-provider plugins.
#[derive(Debug, Parser)]
#[command(name = "authhost", version = VERSION.as_str(), propagate_version = true)]
pub struct Cli {
    /// More output: -v info logs and plugin files, -vv debug logs and full ABI reports.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// A plugin file or folder to load from, before the default locations (repeatable).
    #[arg(long = "plugin-path", value_name = "PATH", global = true)]
    pub plugin_paths: Vec<PathBuf>,

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
    crate::logging::init(cli.verbose);
    let globals = Globals {
        verbose: cli.verbose,
        search: SearchPath::standard(&cli.plugin_paths, !cli.no_default_plugins),
        plugin_paths: cli.plugin_paths,
        default_plugins: !cli.no_default_plugins,
    };
    match cli.command {
        Command::Info(cmd) => cmd.run(&globals),
        Command::Plugins(cmd) => cmd.run(&globals),
        Command::Validate(args) => validate::run(args, &globals),
        Command::Schema(args) => schema::run(args, &globals),
        Command::Call(args) => call::run(args, &globals),
    }
}
