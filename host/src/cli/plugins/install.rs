//! `authhost plugins install`: check a plugin library (building a crate
//! folder first) and copy it into a plugin folder under its discoverable
//! name, atomically and with safe permissions.

use std::{
    io::{BufRead as _, BufReader},
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    sync::Arc,
};

use anyhow::{bail, Context as _};
use serde::Serialize;

use super::{discoverable_file_name, install_dir, short_name, PluginRecord};
use crate::{
    cli::{output::ReportFormat, Globals},
    outbound::Outbound,
    plugin::{load_plugin, sha256_file, LoadedPlugin, PluginRegistry, SearchPath, SearchSource},
};

/// `plugins install` arguments.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// A plugin library (`libauthhost_NAME.so`), or a crate folder, which is
    /// built with `cargo build --release` first.
    #[arg(value_name = "PATH")]
    path: PathBuf,
    /// Install into this folder instead of `$XDG_DATA_HOME/authhost/plugins`.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Build a crate folder with the dev profile (quicker; for trying a
    /// plugin out).
    #[arg(long)]
    debug: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
}

/// What `install --format json` prints.
#[derive(Debug, Serialize)]
struct Installed {
    plugin: PluginRecord,
    /// Whether an earlier file of the same name was replaced.
    replaced: bool,
    /// The `plugins.pins` entry for workflows.
    pin: Pin,
}

#[derive(Debug, Serialize)]
struct Pin {
    file: String,
    sha256: String,
}

pub(super) fn run(args: InstallArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let library = if args.path.is_dir() {
        build(&args.path, args.debug)?
    } else {
        args.path.clone()
    };
    let outbound = Arc::new(Outbound::default());
    let plugin = load_plugin(&library, &outbound).map_err(|e| anyhow::anyhow!("{e}"))?;

    let dir = install_dir(args.dir.as_deref())?;
    let file_name = discoverable_file_name(&short_name(&plugin.name));
    let destination = dir.join(&file_name);
    refuse_clashes(&plugin, &destination, &dir, globals, &outbound)?;

    let replaced = destination.exists();
    copy_atomically(&library, &dir, &destination)?;
    let sha256 =
        sha256_file(&destination).with_context(|| format!("reading {}", destination.display()))?;
    let mut record = PluginRecord::new(&plugin, sha256.clone());
    record.path = destination.clone();
    let installed = Installed {
        plugin: record,
        replaced,
        pin: Pin {
            file: file_name,
            sha256,
        },
    };
    match args.format {
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&installed)?),
        ReportFormat::Text => {
            let p = &installed.plugin;
            println!(
                "installed {} {} (plugin-api {}): {}\n  {}{}",
                p.name,
                p.version,
                p.api_version,
                p.components_line(),
                destination.display(),
                if replaced {
                    " (replaced the earlier file; running servers use it after a restart)"
                } else {
                    ""
                }
            );
            println!(
                "pin it in the workflows that use it:\n\nplugins:\n  pins:\n    - file: {}\n      sha256: {}",
                installed.pin.file, installed.pin.sha256
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Builds the crate in `dir` and returns its `cdylib`.
fn build(dir: &Path, debug: bool) -> anyhow::Result<PathBuf> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!(
            "{}: a folder without Cargo.toml; give a plugin library (.so) or a crate folder",
            dir.display()
        );
    }
    let manifest = manifest.canonicalize().unwrap_or(manifest);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command.args(["build", "--lib", "--message-format=json-render-diagnostics"]);
    if !debug {
        command.arg("--release");
    }
    let mut child = command
        .arg("--manifest-path")
        .arg(&manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("running {}", Path::new(&cargo).display()))?;
    let mut library = None;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.context("reading cargo's output")?;
            if let Some(found) = cdylib_of(&line, &manifest) {
                library = Some(found);
            }
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        bail!(
            "cargo build failed in {} (its messages are above)",
            dir.display()
        );
    }
    library.with_context(|| {
        format!(
            "{} builds no cdylib: add `crate-type = [\"cdylib\", \"rlib\"]` under [lib]",
            manifest.display()
        )
    })
}

/// The `cdylib` file of a `compiler-artifact` message for `manifest`.
fn cdylib_of(line: &str, manifest: &Path) -> Option<PathBuf> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact"
        || message["manifest_path"].as_str().map(Path::new) != Some(manifest)
    {
        return None;
    }
    let kinds = message["target"]["kind"].as_array()?;
    if !kinds.iter().any(|k| k == "cdylib") {
        return None;
    }
    message["filenames"]
        .as_array()?
        .iter()
        .filter_map(|f| f.as_str())
        .find(|f| f.ends_with(std::env::consts::DLL_SUFFIX))
        .map(PathBuf::from)
}

/// Refuses a plugin whose crate or component types another plugin on the
/// search path (or in `dir`) already has. The file being replaced does not
/// count.
fn refuse_clashes(
    plugin: &LoadedPlugin,
    destination: &Path,
    dir: &Path,
    globals: &Globals,
    outbound: &Arc<Outbound>,
) -> anyhow::Result<()> {
    let mut search = globals.search.clone();
    search.push(dir.to_path_buf(), SearchSource::CommandLine);
    let replaced = destination.canonicalize().ok();
    let mut others = SearchPath::new();
    for (file, from) in search.candidates() {
        if replaced.is_some() && file.canonicalize().ok() == replaced {
            continue;
        }
        others.push(file, from);
    }
    let mut registry = PluginRegistry::load_with(&others, outbound, &[]);
    if let Some(same) = registry.plugins().find(|p| p.name == plugin.name) {
        bail!(
            "{} is already installed as {}: remove it first (`authhost plugins remove {}`)",
            plugin.name,
            same.path.display(),
            short_name(&plugin.name)
        );
    }
    let errors_before = registry.errors().len();
    registry.add(plugin.clone());
    if let Some(clash) = registry.errors().get(errors_before) {
        bail!("not installed: {clash}");
    }
    Ok(())
}

/// Copies `library` to `destination` through a temporary file in the same
/// folder, so a running process never maps a half-written file: mode 0644,
/// folder created 0755.
fn copy_atomically(library: &Path, dir: &Path, destination: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("setting the mode of {}", dir.display()))?;
    }
    let temporary = dir.join(format!(".install-{}.tmp", std::process::id()));
    let result = (|| -> anyhow::Result<()> {
        std::fs::copy(library, &temporary)
            .with_context(|| format!("copying {} into {}", library.display(), dir.display()))?;
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o644))?;
        std::fs::File::open(&temporary)?.sync_all()?;
        std::fs::rename(&temporary, destination)
            .with_context(|| format!("moving the copy to {}", destination.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result?;
    if let Some(reason) = crate::plugin::insecure_reason(destination) {
        bail!(
            "installed {}, but authhost will refuse it: {reason}",
            destination.display()
        );
    }
    Ok(())
}
