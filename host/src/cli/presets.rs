//! `authhost info presets`: the common services provider types know
//! (`preset: github`), read from each installed component's schema (the
//! `preset` key's `x-presets`), and one preset's effective configuration.

use std::io::Write;

use anyhow::bail;
use serde::Serialize;

use super::{
    output::{warn_load_errors, write_table, ListFormat},
    Globals,
};
use crate::plugin::Component;

/// `info presets` arguments.
#[derive(Debug, clap::Args)]
pub struct PresetsArgs {
    /// Only presets whose name or title contains TEXT (case-insensitive).
    #[arg(short = 'q', long = "query", value_name = "TEXT")]
    query: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
}

/// One preset of one component type.
#[derive(Serialize)]
struct PresetRow<'a> {
    name: &'a str,
    title: &'a str,
    provider_type: &'a str,
    base_url: Option<&'a str>,
    docs: &'a str,
    placeholders: &'a serde_json::Value,
    config: &'a serde_json::Value,
}

/// The presets `component` publishes: (name, its catalogue entry).
fn presets_of(component: &Component) -> impl Iterator<Item = (&String, &serde_json::Value)> {
    component.config_schema["properties"]["preset"]["x-presets"]
        .as_object()
        .into_iter()
        .flatten()
}

fn row<'a>(component: &'a Component, name: &'a str, entry: &'a serde_json::Value) -> PresetRow<'a> {
    PresetRow {
        name,
        title: entry["title"].as_str().unwrap_or_default(),
        provider_type: &component.type_name,
        base_url: entry["base_url"].as_str(),
        docs: entry["docs"].as_str().unwrap_or_default(),
        placeholders: &entry["placeholders"],
        config: &entry["config"],
    }
}

pub(crate) fn run(args: PresetsArgs, globals: &Globals) -> anyhow::Result<std::process::ExitCode> {
    let registry = globals.registry();
    warn_load_errors(registry.errors(), globals.verbose);
    let query = args.query.as_deref().map(str::to_lowercase);
    let mut rows: Vec<PresetRow<'_>> = registry
        .components()
        .flat_map(|c| presets_of(c).map(move |(name, entry)| row(c, name, entry)))
        .filter(|r| {
            query.as_deref().is_none_or(|q| {
                r.name.to_lowercase().contains(q) || r.title.to_lowercase().contains(q)
            })
        })
        .collect();
    rows.sort_by(|a, b| (a.name, a.provider_type).cmp(&(b.name, b.provider_type)));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        ListFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &rows)?;
            writeln!(out)?;
        }
        ListFormat::Table => {
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.name.to_owned(),
                        r.provider_type.to_owned(),
                        r.title.to_owned(),
                        r.base_url.unwrap_or("").to_owned(),
                    ]
                })
                .collect();
            write_table(&mut out, &["NAME", "TYPE", "SERVICE", "BASE URL"], &table)?;
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// What a provider entry `preset: NAME` of `component` amounts to: the
/// keys the preset fills, with `_type`, `preset` and `_base_url`.
///
/// # Errors
///
/// `component` has no preset `name`.
pub(crate) fn effective_config(
    component: &Component,
    name: &str,
) -> anyhow::Result<serde_json::Value> {
    let Some((_, entry)) = presets_of(component).find(|(n, _)| *n == name) else {
        let known: Vec<&String> = presets_of(component).map(|(n, _)| n).collect();
        if known.is_empty() {
            bail!("`{}` has no presets", component.type_name);
        }
        bail!(
            "`{}` has no preset `{name}` (`authhost info presets` lists them)",
            component.type_name
        );
    };
    let mut config = serde_json::Map::new();
    config.insert("_type".into(), component.type_name.clone().into());
    config.insert("preset".into(), name.into());
    if let Some(base) = entry["base_url"].as_str() {
        config.insert("_base_url".into(), base.into());
    }
    if let Some(placeholders) = entry["placeholders"].as_object() {
        config.extend(placeholders.clone());
    }
    if let Some(filled) = entry["config"].as_object() {
        config.extend(filled.clone());
    }
    Ok(serde_json::Value::Object(config))
}
