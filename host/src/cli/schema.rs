//! `authhost schema`: the workflow file's JSON Schema for the installed plugins.

use std::{io::Write, path::PathBuf, process::ExitCode};

use anyhow::Context;

use super::{output::warn_load_errors, Globals};
use crate::{tools::ToolTypes, workflow::workflow_schema};

/// `schema` arguments.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Write to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub(crate) fn run(args: SchemaArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let registry = globals.registry();
    warn_load_errors(registry.errors(), globals.verbose);
    let schema = workflow_schema(&registry, &ToolTypes::builtin());
    let text = serde_json::to_string_pretty(&schema)? + "\n";
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "wrote {}; add `# yaml-language-server: $schema={}` as the first line of a workflow for editor completion",
                path.display(),
                path.display()
            );
        }
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}
