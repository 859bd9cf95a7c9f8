//! `authhost plugins verify`: load plugin files and report each one.

use std::{process::ExitCode, sync::Arc};

use crate::cli::Globals;
use crate::{
    outbound::Outbound,
    plugin::{load_plugin, sha256_file, PluginRegistry, SearchPath, SearchSource},
};

/// `plugins verify` arguments.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Files or folders to check; default: the plugin search path.
    #[arg(value_name = "PATH")]
    paths: Vec<std::path::PathBuf>,
}

pub(super) fn run(args: VerifyArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let search = if args.paths.is_empty() {
        globals.search.clone()
    } else {
        let mut search = SearchPath::new();
        for path in &args.paths {
            search.push(path.clone(), SearchSource::CommandLine);
        }
        search
    };
    let candidates = search.candidates();
    if candidates.is_empty() {
        eprintln!(
            "no plugin files found (looked for {}authhost_*{})",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        );
        return Ok(crate::cli::failure());
    }
    // Load every file into one registry so duplicate type names are caught,
    // and report per file.
    let outbound = Arc::new(Outbound::default());
    let mut registry = PluginRegistry::default();
    let mut bad = 0usize;
    for (path, _) in &candidates {
        let loaded_before = registry.errors().len();
        match load_plugin(path, &outbound) {
            Ok(plugin) => {
                let about = plugin.about.clone();
                let summary = format!(
                    "{} {} (plugin-api {}): {}",
                    plugin.name,
                    plugin.version,
                    plugin.api_version,
                    plugin
                        .components
                        .iter()
                        .map(|c| format!("{} {}", c.component_type, c.type_name))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                registry.add(plugin);
                if registry.errors().len() == loaded_before {
                    let digest = sha256_file(path).unwrap_or_else(|e| format!("unreadable: {e}"));
                    println!(
                        "ok    {}\n      {summary}\n      sha256 {digest}",
                        path.display()
                    );
                    if let Some(about) = about_line(&about) {
                        println!("      {about}");
                    }
                    continue;
                }
                bad += 1;
                let e = &registry.errors()[registry.errors().len() - 1];
                println!("FAIL  {e}");
            }
            Err(e) => {
                bad += 1;
                println!("FAIL  {e}");
                if globals.verbose >= 2 {
                    if let Some(detail) = e.detail() {
                        println!("{detail}");
                    }
                }
            }
        }
    }
    println!(
        "{} of {} plugin files ok",
        candidates.len() - bad,
        candidates.len()
    );
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        crate::cli::failure()
    })
}

/// `description — authors — repository`, the parts a plugin declares.
pub(crate) fn about_line(about: &crate::plugin::PluginAbout) -> Option<String> {
    let authors = about.authors.join(", ");
    let parts: Vec<&str> = [
        about.description.as_str(),
        authors.as_str(),
        about.repository.as_str(),
    ]
    .into_iter()
    .filter(|p| !p.is_empty())
    .collect();
    (!parts.is_empty()).then(|| crate::printable::printable(&parts.join(" — ")).into_owned())
}
