//! Where plugin libraries are looked for, in priority order.

use std::{
    collections::HashSet,
    env,
    ffi::OsString,
    fmt,
    path::{Path, PathBuf},
};

/// Where a search path came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchSource {
    /// `--plugin-path`.
    CommandLine,
    /// `AUTHHOST_PLUGIN_PATH`.
    Environment,
    /// `plugins.paths` in the workflow file.
    Workflow,
    /// The folder of the `authhost` executable, or its `plugins` subfolder.
    ExecutableDir,
    /// `$XDG_DATA_HOME/authhost/plugins`.
    DataDir,
}

impl fmt::Display for SearchSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CommandLine => "--plugin-path",
            Self::Environment => "AUTHHOST_PLUGIN_PATH",
            Self::Workflow => "workflow plugins.paths",
            Self::ExecutableDir => "executable folder",
            Self::DataDir => "data folder",
        })
    }
}

/// An ordered list of files and folders to load plugins from.
#[derive(Debug, Clone, Default)]
pub struct SearchPath {
    entries: Vec<(PathBuf, SearchSource)>,
}

impl SearchPath {
    /// An empty search path.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a file or folder.
    pub fn push(&mut self, path: impl Into<PathBuf>, source: SearchSource) {
        self.entries.push((path.into(), source));
    }

    /// The standard search path: `cli` paths, then `AUTHHOST_PLUGIN_PATH`
    /// (colon-separated), then — unless `defaults` is false — the
    /// executable's folder, its `plugins` subfolder and
    /// `$XDG_DATA_HOME/authhost/plugins`.
    pub fn standard(cli: &[PathBuf], defaults: bool) -> Self {
        Self::build(
            cli,
            env::var_os("AUTHHOST_PLUGIN_PATH").as_deref(),
            &[],
            defaults,
        )
    }

    /// The search path of a workflow: `cli` paths, then `env_value` (the
    /// value of `AUTHHOST_PLUGIN_PATH`), then the workflow's `plugins.paths`,
    /// then the defaults unless `defaults` is false.
    pub fn build(
        cli: &[PathBuf],
        env_value: Option<&std::ffi::OsStr>,
        workflow: &[PathBuf],
        defaults: bool,
    ) -> Self {
        let mut search = Self::new();
        for path in cli {
            search.push(path.clone(), SearchSource::CommandLine);
        }
        if let Some(value) = env_value {
            for path in env::split_paths(value).filter(|p| !p.as_os_str().is_empty()) {
                search.push(path, SearchSource::Environment);
            }
        }
        for path in workflow {
            search.push(path.clone(), SearchSource::Workflow);
        }
        if defaults {
            if let Some(dir) = env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(Path::to_path_buf))
            {
                search.push(dir.join("plugins"), SearchSource::ExecutableDir);
                search.push(dir, SearchSource::ExecutableDir);
            }
            if let Some(data) = crate::paths::data_dir() {
                search.push(data.join("authhost").join("plugins"), SearchSource::DataDir);
            }
        }
        search
    }

    /// The entries, in priority order.
    pub fn entries(&self) -> &[(PathBuf, SearchSource)] {
        &self.entries
    }

    /// Every candidate plugin file, in priority order. Folders are scanned
    /// (not recursively) for `libauthhost_*.so`; files given directly are
    /// taken whatever their name. A file name already found in an earlier
    /// folder is shadowed, like `PATH`. Missing folders are skipped.
    pub fn candidates(&self) -> Vec<(PathBuf, SearchSource)> {
        let mut seen_paths = HashSet::new();
        let mut seen_names: HashSet<OsString> = HashSet::new();
        let mut out = Vec::new();
        for (path, source) in &self.entries {
            let mut files = Vec::new();
            if path.is_dir() {
                let Ok(read) = std::fs::read_dir(path) else {
                    tracing::warn!(path = %path.display(), "cannot read plugin folder");
                    continue;
                };
                for entry in read.flatten() {
                    let file = entry.path();
                    if is_plugin_file_name(&file) && !file.is_dir() {
                        files.push(file);
                    }
                }
                files.sort();
            } else if path.exists() || *source == SearchSource::CommandLine {
                // A file named explicitly is tried even if it does not exist,
                // so the user hears about the typo.
                files.push(path.clone());
            }
            for file in files {
                let key = file.canonicalize().unwrap_or_else(|_| file.clone());
                if !seen_paths.insert(key) {
                    continue;
                }
                let name = file.file_name().map(OsString::from).unwrap_or_default();
                if !seen_names.insert(name) {
                    tracing::debug!(file = %file.display(), "plugin shadowed by an earlier one with the same file name");
                    continue;
                }
                out.push((file, *source));
            }
        }
        out
    }
}

/// `libauthhost_*.so` on Linux (`DLL_PREFIX` / `DLL_SUFFIX` elsewhere).
pub(crate) fn is_plugin_file_name(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let prefix = format!("{}authhost_", env::consts::DLL_PREFIX);
    name.starts_with(&prefix)
        && name.ends_with(env::consts::DLL_SUFFIX)
        && name.len() > prefix.len() + env::consts::DLL_SUFFIX.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_file_names() {
        assert!(is_plugin_file_name(Path::new("/x/libauthhost_static.so")));
        assert!(!is_plugin_file_name(Path::new("/x/libauthhost_.so")));
        assert!(!is_plugin_file_name(Path::new("/x/libother.so")));
        assert!(!is_plugin_file_name(Path::new(
            "/x/libauthhost_static.so.bak"
        )));
    }

    #[test]
    fn same_file_name_in_a_later_folder_is_shadowed() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        for dir in [a.path(), b.path()] {
            std::fs::write(dir.join("libauthhost_x.so"), b"").expect("write");
        }
        std::fs::write(b.path().join("libauthhost_y.so"), b"").expect("write");
        std::fs::write(b.path().join("README"), b"").expect("write");
        let mut search = SearchPath::new();
        search.push(a.path(), SearchSource::CommandLine);
        search.push(b.path(), SearchSource::DataDir);
        let found: Vec<_> = search.candidates().into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            found,
            [
                a.path().join("libauthhost_x.so"),
                b.path().join("libauthhost_y.so")
            ]
        );
    }
}
