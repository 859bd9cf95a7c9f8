//! `authhost info`: installed components and their schemas.

use std::io::Write;

use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use serde::Serialize;

use super::{
    output::{warn_load_errors, write_table, ListFormat},
    Globals,
};
use crate::plugin::Component;
use crate::plugin::ComponentKind;

/// `info` subcommands.
#[derive(Debug, Subcommand)]
pub enum InfoCommand {
    /// List installed components.
    Components(ComponentsArgs),
    /// Print the configuration JSON Schema of a component type.
    Schema(SchemaArgs),
    /// List the common services provider types have presets for.
    Presets(super::presets::PresetsArgs),
}

/// Component types, as `-t` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ComponentType {
    /// Outbound credentials for tool calls.
    AuthProvider,
    /// Inbound caller authentication.
    Authenticator,
}

impl ComponentType {
    fn kind(self) -> ComponentKind {
        match self {
            Self::AuthProvider => ComponentKind::AuthProvider,
            Self::Authenticator => ComponentKind::Authenticator,
        }
    }
}

/// `info components` arguments.
#[derive(Debug, clap::Args)]
pub struct ComponentsArgs {
    /// Only components of this type.
    #[arg(short = 't', long = "type", value_name = "TYPE")]
    component_type: Option<ComponentType>,
    /// Only components whose name or description contains TEXT (case-insensitive).
    #[arg(short = 'q', long = "query", value_name = "TEXT")]
    query: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
}

/// Schema output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SchemaFormat {
    Json,
    Yaml,
}

/// `info schema` arguments.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// The component type name (`api_key`).
    #[arg(value_name = "TYPE")]
    type_name: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SchemaFormat::Json)]
    format: SchemaFormat,
    /// Print what `preset: NAME` fills instead of the schema.
    #[arg(long, value_name = "NAME")]
    preset: Option<String>,
}

#[derive(Serialize)]
struct ComponentRow<'a> {
    plugin: &'a str,
    version: &'a str,
    api_version: &'a str,
    component_type: &'a str,
    name: &'a str,
    description: &'a str,
    capabilities: Vec<&'static str>,
    file: String,
}

impl InfoCommand {
    pub(crate) fn run(self, globals: &Globals) -> anyhow::Result<std::process::ExitCode> {
        match self {
            Self::Components(args) => components(args, globals),
            Self::Schema(args) => schema(args, globals),
            Self::Presets(args) => super::presets::run(args, globals),
        }
    }
}

fn matches(c: &Component, args: &ComponentsArgs) -> bool {
    if let Some(kind) = args.component_type {
        if c.component_type != kind.kind() {
            return false;
        }
    }
    if let Some(query) = &args.query {
        let query = query.to_lowercase();
        if !c.type_name.to_lowercase().contains(&query)
            && !c.description.to_lowercase().contains(&query)
        {
            return false;
        }
    }
    true
}

fn components(args: ComponentsArgs, globals: &Globals) -> anyhow::Result<std::process::ExitCode> {
    let registry = globals.registry();
    warn_load_errors(registry.errors(), globals.verbose);
    let rows: Vec<ComponentRow<'_>> = registry
        .components()
        .filter(|c| matches(c, &args))
        .map(|c| ComponentRow {
            plugin: &c.plugin,
            version: &c.plugin_version,
            api_version: &c.plugin_api_version,
            component_type: c.component_type.as_str(),
            name: &c.type_name,
            description: &c.description,
            capabilities: c.capabilities.names(),
            file: c.path.display().to_string(),
        })
        .collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        ListFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &rows)?;
            writeln!(out)?;
        }
        ListFormat::Table => {
            if rows.is_empty() {
                let searched: Vec<String> = globals
                    .search
                    .entries()
                    .iter()
                    .map(|(p, s)| format!("{} ({s})", p.display()))
                    .collect();
                eprintln!(
                    "no components found; searched: {}",
                    if searched.is_empty() {
                        "nothing".to_owned()
                    } else {
                        searched.join(", ")
                    }
                );
            } else {
                let mut header = vec!["PLUGIN", "VERSION", "TYPE", "NAME", "DESCRIPTION"];
                if globals.verbose > 0 {
                    header.extend(["API", "FILE"]);
                }
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        let mut row = vec![
                            r.plugin.to_owned(),
                            r.version.to_owned(),
                            r.component_type.to_owned(),
                            r.name.to_owned(),
                            r.description.to_owned(),
                        ];
                        if globals.verbose > 0 {
                            row.extend([r.api_version.to_owned(), r.file.clone()]);
                        }
                        row
                    })
                    .collect();
                write_table(&mut out, &header, &table)?;
                if globals.verbose > 0 {
                    writeln!(out)?;
                    for plugin in registry.plugins() {
                        let about = super::plugins::about_line(&plugin.about)
                            .map(|a| format!(": {a}"))
                            .unwrap_or_default();
                        writeln!(out, "{} {}{about}", plugin.name, plugin.version)?;
                    }
                }
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn schema(args: SchemaArgs, globals: &Globals) -> anyhow::Result<std::process::ExitCode> {
    let registry = globals.registry();
    warn_load_errors(registry.errors(), globals.verbose);
    let found: Vec<&Component> = registry
        .components()
        .filter(|c| c.type_name == args.type_name)
        .collect();
    let component = match found.as_slice() {
        [one] => *one,
        [] => {
            let suggestions: Vec<String> = ComponentKind::ALL
                .into_iter()
                .flat_map(|kind| registry.suggestions(kind, &args.type_name))
                .collect();
            let hint = match suggestions.first() {
                Some(s) => format!("; did you mean `{s}`?"),
                None => "; `authhost info components` lists the installed ones".to_owned(),
            };
            bail!(
                "no installed component type is named `{}`{hint}",
                args.type_name
            );
        }
        many => bail!(
            "`{}` names {} components ({}); this should not happen, report it",
            args.type_name,
            many.len(),
            many.iter()
                .map(|c| c.component_type.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut schema = match &args.preset {
        Some(name) => super::presets::effective_config(component, name)?,
        None => component.config_schema.clone(),
    };
    if let Some(object) = schema.as_object_mut().filter(|_| args.preset.is_none()) {
        object
            .entry("description")
            .or_insert_with(|| component.description.clone().into());
        object
            .entry("examples")
            .or_insert_with(|| serde_json::Value::Array(vec![component.example_config.clone()]));
    }
    let text = match args.format {
        SchemaFormat::Json => serde_json::to_string_pretty(&schema)? + "\n",
        SchemaFormat::Yaml => {
            serde_saphyr::to_string(&schema).context("rendering the schema as YAML")?
        }
    };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(std::process::ExitCode::SUCCESS)
}
