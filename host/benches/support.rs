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
