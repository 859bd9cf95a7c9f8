//! `authhost plugins`: make, check, install, list and remove plugins.

mod install;
mod list;
mod new;
mod remove;
mod verify;

pub(crate) use verify::about_line;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::Subcommand;
use serde::Serialize;

use super::Globals;
use crate::plugin::{LoadedPlugin, PluginAbout};

/// `plugins` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Create a plugin crate that builds, tests and installs at once.
    New(new::NewArgs),
    /// Check a library (or build a crate folder) and copy it into the user
    /// plugin folder; prints the pin line for workflows.
    Install(install::InstallArgs),
    /// Every plugin on the search path: crate, versions, file, digest,
    /// component types, and whether a workflow pins it.
    List(list::ListArgs),
    /// Delete an installed plugin from the user plugin folder.
    Remove(remove::RemoveArgs),
    /// Load each plugin file and report what it offers or why it fails.
    /// Exit code 2 when any file is bad.
    Verify(verify::VerifyArgs),
}

impl PluginsCommand {
    pub(crate) fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        match self {
            Self::New(args) => new::run(args),
            Self::Install(args) => install::run(args, globals),
            Self::List(args) => list::run(args, globals),
            Self::Remove(args) => remove::run(args, globals),
            Self::Verify(args) => verify::run(args, globals),
        }
    }
}

/// The folder `install` copies into and `remove` deletes from:
/// `explicit`, else `$XDG_DATA_HOME/authhost/plugins`.
fn install_dir(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    match explicit {
        Some(dir) => Ok(dir.to_path_buf()),
        None => crate::paths::data_dir()
            .map(|d| d.join("authhost").join("plugins"))
            .ok_or_else(|| {
                anyhow::anyhow!("neither XDG_DATA_HOME nor HOME is set: pass --dir DIR")
            }),
    }
}

/// The short name of a plugin (`demo`) from what a user may type for it:
/// `demo`, `authhost-demo`, `authhost_demo` or `libauthhost_demo.so`.
fn short_name(name: &str) -> String {
    let name = name
        .strip_prefix(std::env::consts::DLL_PREFIX)
        .filter(|rest| rest.starts_with("authhost"))
        .unwrap_or(name);
    let name = name
        .strip_suffix(std::env::consts::DLL_SUFFIX)
        .unwrap_or(name);
    let name = name
        .strip_prefix("authhost-")
        .or_else(|| name.strip_prefix("authhost_"))
        .unwrap_or(name);
    name.replace('-', "_")
}

/// The file name the host discovers a plugin by: `libauthhost_demo.so`.
fn discoverable_file_name(short: &str) -> String {
    format!(
        "{}authhost_{short}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// One component of a plugin, for listings.
#[derive(Debug, Serialize)]
struct ComponentRecord {
    kind: String,
    r#type: String,
}

/// A loaded plugin as `install` and `list` report it.
#[derive(Debug, Serialize)]
struct PluginRecord {
    /// The crate name.
    name: String,
    version: String,
    api_version: String,
    #[serde(flatten)]
    about: PluginAbout,
    path: PathBuf,
    sha256: String,
    components: Vec<ComponentRecord>,
}

impl PluginRecord {
    fn new(plugin: &LoadedPlugin, sha256: String) -> Self {
        Self {
            name: plugin.name.clone(),
            version: plugin.version.clone(),
            api_version: plugin.api_version.clone(),
            about: plugin.about.clone(),
            path: plugin.path.clone(),
            sha256,
            components: plugin
                .components
                .iter()
                .map(|c| ComponentRecord {
                    kind: c.component_type.to_string(),
                    r#type: c.type_name.to_string(),
                })
                .collect(),
        }
    }

    /// `auth_provider demo, authenticator demo_sso`.
    fn components_line(&self) -> String {
        self.components
            .iter()
            .map(|c| format!("{} {}", c.kind, c.r#type))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_plugin_name_gives_one_short_name() {
        for spelling in [
            "demo_api",
            "demo-api",
            "authhost-demo-api",
            "authhost_demo_api",
            "libauthhost_demo_api.so",
        ] {
            assert_eq!(short_name(spelling), "demo_api", "{spelling}");
        }
        assert_eq!(
            discoverable_file_name("demo_api"),
            "libauthhost_demo_api.so"
        );
    }
}
