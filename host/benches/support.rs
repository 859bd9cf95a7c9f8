//! Finds the release build's plugin libraries for the benchmarks.

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
