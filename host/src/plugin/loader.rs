//! Loading one plugin file: permission check, open, version and layout
//! check, `init`, `components`, and the package metadata symbol.
//!
//! Every file is loaded with `lib_header_from_path(..).init_root_module()`.
//! Never `RootModule::load_from_file`: it caches one module per root-module
//! type, so every later file would silently return the first plugin.
//! Libraries are never unloaded.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use abi_stable::library::{lib_header_from_path, LibraryError, RawLibrary};
use authhost_plugin_api::abi::{
    AboutFn, ComponentDescriptor, KeptStoreFn, PluginModRef, ABOUT_SYMBOL, API_VERSION,
    KEPT_STORE_SYMBOL, ROOT_MODULE_BASE_NAME,
};

use super::{kept_store::KeptStoreImpl, permissions::insecure_reason, HostServicesImpl, LoadError};
use crate::outbound::Outbound;

/// A loaded, initialised plugin.
#[derive(Clone)]
pub struct LoadedPlugin {
    /// The file it was loaded from.
    pub path: PathBuf,
    /// The plugin's package name.
    pub name: String,
    /// The plugin's package version.
    pub version: String,
    /// The plugin-api version it was built with.
    pub api_version: String,
    /// Its package metadata; empty for a plugin built against plugin-api
    /// 0.1.0, which did not export it.
    pub about: PluginAbout,
    /// Its root module.
    pub(crate) module: PluginModRef,
    /// Its components, sorted by type name.
    pub components: Vec<ComponentDescriptor>,
}

/// What a plugin's `Cargo.toml` says about it, read across the ABI.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PluginAbout {
    /// The package description.
    pub description: String,
    /// The package authors.
    pub authors: Vec<String>,
    /// The package repository URL.
    pub repository: String,
}

impl PluginAbout {
    /// Reads the [`ABOUT_SYMBOL`] of the library at `path`, which passed the
    /// root module checks. Empty for a plugin built before plugin-api 0.1.1
    /// (no such symbol) and for an answer that is not the expected JSON.
    fn read(path: &Path) -> Self {
        let Ok(library) = RawLibrary::load_at(path) else {
            return Self::default();
        };
        // SAFETY: `export_plugin!` exports this symbol with exactly the type
        // `AboutFn` (plugin-api's tests check the name), and the library's
        // root module was built by that macro (its layout and version
        // checks passed). The returned string lives in the library, which
        // stays loaded (abi_stable never unloads it; `library` holds a
        // reference until the copy below is made).
        #[allow(unsafe_code)]
        let about = match unsafe { library.get::<AboutFn>(ABOUT_SYMBOL) } {
            Ok(symbol) => (*symbol)().as_str().to_owned(),
            Err(_) => return Self::default(),
        };
        #[derive(serde::Deserialize)]
        struct Wire {
            #[serde(default)]
            description: String,
            #[serde(default)]
            authors: Vec<String>,
            #[serde(default)]
            repository: String,
        }
        match serde_json::from_str::<Wire>(&about) {
            Ok(wire) => Self {
                description: wire.description,
                authors: wire.authors,
                repository: wire.repository,
            },
            Err(_) => Self::default(),
        }
    }
}

/// Hands the plugin at `path` the store the host keeps for it, through
/// its [`KEPT_STORE_SYMBOL`]; a plugin built before plugin-api 0.1.2 has
/// none and keeps nothing.
fn hand_kept_store(path: &Path, plugin: &str) {
    let Ok(library) = RawLibrary::load_at(path) else {
        return;
    };
    // SAFETY: `export_plugin!` exports this symbol with exactly the type
    // `KeptStoreFn` (plugin-api's tests check the name), and the library's
    // root module was built by that macro (its layout and version checks
    // passed). The library stays loaded: abi_stable never unloads it.
    #[allow(unsafe_code)]
    if let Ok(symbol) = unsafe { library.get::<KeptStoreFn>(KEPT_STORE_SYMBOL) } {
        (*symbol)(KeptStoreImpl::new(plugin).into_abi());
    }
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("path", &self.path)
            .field("name", &self.name)
            .field("version", &self.version)
            .field("api_version", &self.api_version)
            .field("components", &self.components.len())
            .finish()
    }
}

/// `major.minor` of a version string, for the `0.y` compatibility rule.
fn series(version: &str) -> Option<(u64, u64)> {
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Whether a plugin built with `plugin` can be loaded by a host built with
/// `host`: same major, and for `0.y` the same minor.
pub(crate) fn compatible(host: &str, plugin: &str) -> bool {
    match (series(host), series(plugin)) {
        (Some((0, h)), Some((0, p))) => h == p,
        (Some((h, _)), Some((p, _))) => h == p && h != 0,
        _ => false,
    }
}

fn compatible_range(host: &str) -> String {
    match series(host) {
        Some((0, minor)) => format!("0.{minor}.x"),
        Some((major, _)) => format!("{major}.x"),
        None => host.to_owned(),
    }
}

/// The first mismatch of abi_stable's layout report, on one line:
/// `mismatched package: expected authhost-plugin-api, found other-crate`.
///
/// The report ends with blocks of the form `Error:<what>` / `Expected:` /
/// `<value lines>` / `Found:` / `<value lines>`.
fn first_mismatch(report: &str) -> String {
    let clip = |text: String| -> String {
        if text.chars().count() > 100 {
            text.chars().take(97).collect::<String>() + "..."
        } else {
            text
        }
    };
    let mut lines = report.lines().map(str::trim);
    let Some(what) = lines.by_ref().find_map(|l| l.strip_prefix("Error:")) else {
        return "the root module layout differs".to_owned();
    };
    let mut expected = Vec::new();
    let mut found = Vec::new();
    let mut in_found = None;
    for line in lines {
        match line {
            "Expected:" => in_found = Some(false),
            "Found:" => in_found = Some(true),
            l if l.starts_with("Error:") => break,
            "" if !found.is_empty() => break,
            "" => {}
            l => match in_found {
                Some(true) => found.push(l),
                Some(false) => expected.push(l),
                None => {}
            },
        }
    }
    let what = what.trim();
    if expected.is_empty() && found.is_empty() {
        return clip(what.to_owned());
    }
    clip(format!(
        "{what}: expected {}, found {}",
        expected.join(" "),
        found.join(" ")
    ))
}

/// Loads the plugin at `path`, initialising it with host services that
/// carry its name and send its HTTP requests through `outbound`.
///
/// # Errors
///
/// A [`LoadError`] naming the file: missing, insecure permissions, not a
/// library, not an authhost plugin, incompatible plugin-api (version or
/// layout), or a failing `init`/`components`.
pub fn load_plugin(path: &Path, outbound: &Arc<Outbound>) -> Result<LoadedPlugin, LoadError> {
    let path = path.to_path_buf();
    if !path.exists() {
        return Err(LoadError::Missing { path });
    }
    if let Some(reason) = insecure_reason(&path) {
        return Err(LoadError::Insecure { path, reason });
    }
    if let Err(reason) = super::elf_check::check_extents(&path) {
        return Err(LoadError::NotALibrary { path, reason });
    }
    let header = lib_header_from_path(&path).map_err(|e| match e {
        LibraryError::OpenError { err, .. } => LoadError::NotALibrary {
            path: path.clone(),
            reason: short_dl_error(&err.to_string()),
        },
        LibraryError::GetSymbolError { .. } => LoadError::NotAPlugin {
            path: path.clone(),
            reason: "it exports no abi_stable root module".to_owned(),
        },
        other => LoadError::NotAPlugin {
            path: path.clone(),
            reason: format!(
                "its abi_stable header is unusable: {}",
                one_line(&other.to_string())
            ),
        },
    })?;

    let consts = header.root_mod_consts();
    let base_name = consts.base_name().as_str();
    if base_name != ROOT_MODULE_BASE_NAME {
        return Err(LoadError::NotAPlugin {
            path,
            reason: format!(
                "it is an abi_stable library for something else (root module `{base_name}`)"
            ),
        });
    }
    let built_with = consts.version_strings().version.as_str().to_owned();
    if !compatible(API_VERSION, &built_with) {
        return Err(LoadError::IncompatibleVersion {
            path,
            built_with,
            host: API_VERSION.to_owned(),
            compatible: compatible_range(API_VERSION),
        });
    }

    let module = header
        .init_root_module::<PluginModRef>()
        .map_err(|e| match e {
            LibraryError::AbiInstability(report) => {
                let full_report = report.to_string();
                LoadError::IncompatibleLayout {
                    path: path.clone(),
                    built_with: built_with.clone(),
                    host: API_VERSION.to_owned(),
                    first_mismatch: first_mismatch(&full_report),
                    full_report,
                }
            }
            LibraryError::IncompatibleVersionNumber { actual_version, .. } => {
                LoadError::IncompatibleVersion {
                    path: path.clone(),
                    built_with: actual_version.to_string(),
                    host: API_VERSION.to_owned(),
                    compatible: compatible_range(API_VERSION),
                }
            }
            other => LoadError::PluginFailed {
                path: path.clone(),
                plugin: "?".to_owned(),
                stage: "load its root module",
                message: one_line(&other.to_string()),
            },
        })?;

    let name = module.plugin_name().as_str().to_owned();
    let services = HostServicesImpl::new(&name, outbound.clone()).into_abi();
    if let Err(e) = (module.init())(services).into_result() {
        return Err(LoadError::PluginFailed {
            path,
            plugin: name,
            stage: "initialise",
            message: e.message.into_string(),
        });
    }
    hand_kept_store(&path, &name);
    let mut components = match (module.components())().into_result() {
        Ok(list) => list.into_vec(),
        Err(e) => {
            return Err(LoadError::PluginFailed {
                path,
                plugin: name,
                stage: "describe its components",
                message: e.message.into_string(),
            })
        }
    };
    components.sort_by(|a, b| {
        (a.component_type.as_str(), a.type_name.as_str())
            .cmp(&(b.component_type.as_str(), b.type_name.as_str()))
    });
    for c in &components {
        for (what, text) in [
            ("config schema", c.config_schema.as_str()),
            ("example config", c.example_config.as_str()),
        ] {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
                return Err(LoadError::InvalidDescriptor {
                    path,
                    component_type: c.component_type.to_string(),
                    type_name: c.type_name.to_string(),
                    what,
                    reason: e.to_string(),
                });
            }
        }
    }
    tracing::debug!(plugin = %name, path = %path.display(), components = components.len(), "plugin loaded");
    Ok(LoadedPlugin {
        about: PluginAbout::read(&path),
        path,
        version: module.plugin_version().as_str().to_owned(),
        api_version: module.api_version().as_str().to_owned(),
        name,
        module,
        components,
    })
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// dlopen's message repeats the path; keep the reason after the last `: `.
fn short_dl_error(text: &str) -> String {
    let text = one_line(text);
    match text.rsplit_once(": ") {
        Some((_, reason)) if !reason.is_empty() => reason.to_owned(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_minor_must_match() {
        assert!(compatible("0.1.0", "0.1.7"));
        assert!(!compatible("0.1.0", "0.2.0"));
        assert!(!compatible("0.2.0", "0.1.0"));
        assert!(compatible("1.2.0", "1.0.0"));
        assert!(!compatible("1.0.0", "2.0.0"));
        assert!(!compatible("0.1.0", "garbage"));
        assert_eq!(compatible_range("0.1.3"), "0.1.x");
    }

    #[test]
    fn first_mismatch_is_one_line() {
        let report = "Compared <this>:\n    type:PluginMod\n\nError:mismatched package\nExpected:\n    authhost-plugin-api\nFound:\n    other\n\nError:second\n";
        assert_eq!(
            first_mismatch(report),
            "mismatched package: expected authhost-plugin-api, found other"
        );
        assert_eq!(first_mismatch("garbage"), "the root module layout differs");
    }

    #[test]
    fn dl_errors_are_shortened() {
        assert_eq!(
            short_dl_error("/tmp/x/libauthhost_junk.so: invalid ELF header"),
            "invalid ELF header"
        );
    }
}
