//! `authhost plugins list`: every plugin file on the search path with its
//! crate, versions, digest and component types, and whether a workflow
//! pins it.

use std::{path::PathBuf, process::ExitCode, sync::Arc};

use serde::Serialize;

use super::PluginRecord;
use crate::{
    cli::{
        output::{write_table, ListFormat},
        Globals,
    },
    outbound::Outbound,
    plugin::{load_plugin, sha256_file, Pin},
    workflow::{BuildOptions, Config},
};

/// `plugins list` arguments.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Say whether this workflow pins each plugin; its `plugins.paths` are
    /// searched too.
    #[arg(long, value_name = "FILE")]
    workflow: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
}

/// One file on the search path.
#[derive(Debug, Serialize)]
struct Entry {
    /// The plugin, when the file loaded.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    plugin: Option<PluginRecord>,
    /// Why the file did not load.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// The file, when it did not load.
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<PathBuf>,
    /// Which search path entry it was found through.
    found_in: String,
    /// With `--workflow`: whether the workflow pins this file (with its
    /// current digest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pinned: Option<bool>,
}

pub(super) fn run(args: ListArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let (search, pins) = match &args.workflow {
        None => (globals.search.clone(), None),
        Some(path) => {
            let (config, diags) = Config::load(path, &globals.load_options().env);
            let Some(config) = config else {
                for d in diags.sorted() {
                    eprintln!("{d}");
                }
                return Ok(crate::cli::failure());
            };
            let (search, pins) = config.plugin_search(&BuildOptions {
                plugin_paths: globals.plugin_paths.clone(),
                default_plugins: globals.default_plugins,
            });
            (search, Some(pins))
        }
    };
    let outbound = Arc::new(Outbound::default());
    let mut entries = Vec::new();
    for (file, source) in search.candidates() {
        let digest = sha256_file(&file);
        let pin = pins
            .as_ref()
            .map(|pins| pins.iter().find(|p| p.matches(&file)));
        let pinned = pin.map(|p| p.is_some());
        let broken = |error: String| Entry {
            plugin: None,
            error: Some(error),
            path: Some(file.clone()),
            found_in: source.to_string(),
            pinned,
        };
        let digest = match digest {
            Ok(digest) => digest,
            Err(e) => {
                entries.push(broken(format!("{}: unreadable: {e}", file.display())));
                continue;
            }
        };
        // A file that differs from its pin is not opened: loading runs its code.
        if let Some(Some(Pin { sha256, .. })) = &pin {
            if *sha256 != digest {
                entries.push(broken(format!(
                    "{}: its SHA-256 {digest} differs from the workflow's pin {sha256}",
                    file.display()
                )));
                continue;
            }
        }
        match load_plugin(&file, &outbound) {
            Ok(plugin) => entries.push(Entry {
                plugin: Some(PluginRecord::new(&plugin, digest)),
                error: None,
                path: None,
                found_in: source.to_string(),
                pinned,
            }),
            Err(e) => entries.push(broken(e.to_string())),
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        ListFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &entries)?;
            println!();
        }
        ListFormat::Table => {
            let mut header = vec!["PLUGIN", "VERSION", "API", "COMPONENTS", "SHA256", "FILE"];
            if pins.is_some() {
                header.push("PINNED");
            }
            let rows: Vec<Vec<String>> = entries
                .iter()
                .filter_map(|e| {
                    let p = e.plugin.as_ref()?;
                    let mut row = vec![
                        p.name.clone(),
                        p.version.clone(),
                        p.api_version.clone(),
                        p.components_line(),
                        p.sha256.chars().take(12).collect(),
                        p.path.display().to_string(),
                    ];
                    if let Some(pinned) = e.pinned {
                        row.push(if pinned { "yes" } else { "no" }.to_owned());
                    }
                    Some(row)
                })
                .collect();
            write_table(&mut out, &header, &rows)?;
            for e in &entries {
                if let Some(error) = &e.error {
                    eprintln!("warning: {error}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
