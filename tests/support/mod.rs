//! Helpers shared by the end-to-end tests: run the real `authhost` binary
//! with a clean environment, and find the real plugin libraries the
//! workspace build produced.
#![allow(dead_code)]

pub mod assertion_grants;
pub mod background;
pub mod browser;
pub mod device_grant;
pub mod echo;
pub mod oauth_server;
pub mod sigv4;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// The folder holding the `authhost` binary and the workspace's libraries.
pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_authhost"))
        .parent()
        .expect("binary has a folder")
        .to_path_buf()
}

/// The library `lib<name>.so` built by the workspace. Panics with the fix
/// when it is missing: `cargo test` does not build cdylibs of other crates.
pub fn library(name: &str) -> PathBuf {
    let file = target_dir().join(format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(
        file.exists(),
        "{} is missing: build the workspace first (`cargo build --workspace`), then run the tests",
        file.display()
    );
    file
}

/// A temporary plugin folder (mode 0755) to copy libraries into.
pub struct PluginDir {
    dir: tempfile::TempDir,
}

impl PluginDir {
    /// An empty folder.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        set_mode(dir.path(), 0o755);
        Self { dir }
    }

    /// Copies the workspace library `lib<built>.so` in as `libauthhost_<installed>.so`.
    pub fn install(&self, built: &str, installed: &str) -> PathBuf {
        let to = self.file(installed);
        std::fs::copy(library(built), &to).expect("copy plugin");
        set_mode(&to, 0o755);
        to
    }

    /// Writes arbitrary bytes as `libauthhost_<installed>.so`.
    pub fn write(&self, installed: &str, bytes: &[u8]) -> PathBuf {
        let to = self.file(installed);
        std::fs::write(&to, bytes).expect("write");
        to
    }

    /// The path `libauthhost_<installed>.so` in this folder.
    pub fn file(&self, installed: &str) -> PathBuf {
        self.dir.path().join(format!(
            "{}authhost_{installed}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ))
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// chmod.
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// `authhost` with every `AUTHHOST_*` and `RUST_LOG` variable removed and an
/// empty data folder, so the user's installed plugins never leak in.
pub fn authhost() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_authhost"));
    for (key, _) in std::env::vars_os() {
        if let Some(key) = key.to_str() {
            if key.starts_with("AUTHHOST_") || key == "RUST_LOG" || key.starts_with("FIXTURE_") {
                cmd.env_remove(key);
            }
        }
    }
    // One empty data folder per test binary, shared by every command.
    static DATA: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    cmd.env(
        "XDG_DATA_HOME",
        DATA.get_or_init(|| tempfile::tempdir().expect("tempdir"))
            .path(),
    );
    cmd
}

/// The result of running a command, as text.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Both streams, for searching.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs `cmd` with `args`.
pub fn run(mut cmd: Command, args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.args(args).output().expect("run authhost");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Log lines captured from this test process's `tracing` subscriber (which
/// also receives the plugins' events through the host's log bridge).
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    /// Everything logged so far.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

struct CaptureWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once per test binary) a TRACE-level subscriber that records
/// every log line. Call it before loading plugins: their log bridge reads
/// the host's level when they are initialised.
pub fn capture_logs() -> &'static LogCapture {
    static CAPTURE: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
    CAPTURE.get_or_init(|| {
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = buffer.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || CaptureWriter(writer.clone()))
            .init();
        LogCapture(buffer)
    })
}

/// A registry holding the given plugin files only.
pub fn registry_of(files: &[&Path]) -> authhost::plugin::PluginRegistry {
    let mut registry = authhost::plugin::PluginRegistry::default();
    for file in files {
        let plugin = authhost::plugin::load_plugin(file, &Default::default())
            .unwrap_or_else(|e| panic!("loading {}: {e}", file.display()));
        registry.add(plugin);
    }
    assert!(registry.errors().is_empty(), "{:?}", registry.errors());
    registry
}

/// The Postgres URL for tests, from `AUTHHOST_TEST_POSTGRES_URL`. `None`
/// (skip) when unset; with `CI=true` a set-but-unreachable server fails the
/// test instead of skipping it.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("AUTHHOST_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let reachable = url::Url::parse(&url)
        .ok()
        .and_then(|u| Some((u.host_str()?.to_owned(), u.port().unwrap_or(5432))))
        .and_then(|(h, p)| std::net::TcpStream::connect((h.as_str(), p)).ok())
        .is_some();
    if !reachable {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("AUTHHOST_TEST_POSTGRES_URL={url} is set but Postgres is unreachable");
        }
        eprintln!("skipping: Postgres at {url} is unreachable");
        return None;
    }
    Some(url)
}

/// A name no other test run uses (for rows in a shared Postgres).
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Writes `yaml` as `workflow.yaml` in `dir` and returns its path.
pub fn write_workflow(dir: &Path, yaml: impl AsRef<str>) -> PathBuf {
    let path = dir.join("workflow.yaml");
    std::fs::write(&path, yaml.as_ref()).expect("write the workflow");
    path
}

/// The smallest workflow with a provider: `key`, an `api_key` with key `k`.
pub const API_KEY_WORKFLOW: &str = "authentication:\n  key:\n    _type: api_key\n    api_key: k\n";

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Child processes killed when this is dropped (a failing test leaves no
/// server running).
#[derive(Default)]
pub struct Children(pub Vec<std::process::Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
