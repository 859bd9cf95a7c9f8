//! Finds the release build's plugin libraries for the benchmarks.
#![allow(dead_code)]

use std::path::PathBuf;

/// `target/release/lib<name>.so`, or a clear message to build it first.
pub fn release_library(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let file = target.join("release").join(format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(
        file.exists(),
        "{} is missing: run `cargo build --release --workspace` before the benchmarks",
        file.display()
    );
    file
}

/// A current-thread runtime (entered by the caller) and an `api_key`
/// instance of the release build's static plugin, as the host creates it.
pub fn api_key_provider(
    config: serde_json::Value,
) -> (tokio::runtime::Runtime, authhost::plugin::ProviderHandle) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let mut registry = authhost::plugin::PluginRegistry::default();
    registry.add(
        authhost::plugin::load_plugin(&release_library("authhost_static"), &Default::default())
            .expect("load"),
    );
    let provider = registry
        .create_provider(
            "api_key",
            "bench",
            &config,
            std::time::Duration::from_secs(5),
        )
        .expect("create");
    (runtime, provider)
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A child process stopped with SIGTERM (and waited for) when dropped.
#[derive(Debug)]
pub struct Kill(pub std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// `target/release/authhost serve --config WORKFLOW --bind 127.0.0.1:PORT`,
/// quiet, with `data` as its data folder when given.
pub fn serve_release(
    workflow: &std::path::Path,
    port: u16,
    data: Option<&std::path::Path>,
) -> Kill {
    let binary = release_library("authhost_static")
        .parent()
        .expect("folder")
        .join("authhost");
    let mut command = std::process::Command::new(binary);
    command
        .args(["serve", "--config"])
        .arg(workflow)
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::null());
    if let Some(data) = data {
        command.env("XDG_DATA_HOME", data);
    }
    Kill(command.spawn().expect("authhost serve"))
}
