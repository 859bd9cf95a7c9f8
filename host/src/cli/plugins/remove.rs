//! `authhost plugins remove`: delete an installed plugin from the folder
//! `install` copies into. Files elsewhere on the search path are the
//! operator's to delete; they are named, not touched.

use std::{path::PathBuf, process::ExitCode};

use anyhow::{bail, Context as _};
use serde::Serialize;

use super::{discoverable_file_name, install_dir, short_name};
use crate::cli::{output::ReportFormat, Globals};

/// `plugins remove` arguments.
#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// The plugin: `demo`, its crate name `authhost-demo`, or its file name.
    #[arg(value_name = "NAME")]
    name: String,
    /// Remove from this folder instead of `$XDG_DATA_HOME/authhost/plugins`.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
}

/// What `remove --format json` prints.
#[derive(Debug, Serialize)]
struct Removed {
    removed: PathBuf,
}

pub(super) fn run(args: RemoveArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let dir = install_dir(args.dir.as_deref())?;
    let file_name = discoverable_file_name(&short_name(&args.name));
    let file = dir.join(&file_name);
    if !file.is_file() {
        let elsewhere: Vec<String> = globals
            .search
            .candidates()
            .into_iter()
            .filter(|(path, _)| path.file_name().is_some_and(|n| n == file_name.as_str()))
            .map(|(path, source)| format!("{} (from {source})", path.display()))
            .collect();
        if elsewhere.is_empty() {
            bail!(
                "no plugin `{}` in {} (`authhost plugins list` shows what is installed)",
                crate::printable::printable(&args.name),
                dir.display()
            );
        }
        bail!(
            "`{}` is not in {}, but authhost also loads {}: delete that file yourself",
            crate::printable::printable(&args.name),
            dir.display(),
            elsewhere.join(", ")
        );
    }
    std::fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
    match args.format {
        ReportFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&Removed {
                removed: file.clone()
            })?
        ),
        ReportFormat::Text => println!(
            "removed {} (running servers keep their loaded copy until they restart)",
            file.display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}
