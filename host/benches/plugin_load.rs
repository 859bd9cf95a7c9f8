//! Loading one plugin: open, version + ABI layout check, `init`, describe.
//! Each sample loads a fresh copy of `libauthhost_static.so` (the dynamic
//! loader and abi_stable cache a file once loaded), so every sample pays the
//! full cost. Prints median, p90 and max.
//!
//! Run: `cargo build --release --workspace && cargo bench -p authhost --bench plugin_load`

use std::time::{Duration, Instant};

use authhost::plugin::load_plugin;

#[path = "support.rs"]
mod support;

const SAMPLES: usize = 200;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // and wants a quick smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let samples = if full { SAMPLES } else { 3 };
    let source = support::release_library("authhost_static");
    let dir = tempfile::tempdir().expect("tempdir");
    let copies: Vec<_> = (0..samples)
        .map(|i| {
            let to = dir.path().join(format!("libauthhost_static_{i}.so"));
            std::fs::copy(&source, &to).expect("copy");
            // Warm the page cache so the sample measures loading, not disk.
            std::fs::read(&to).expect("read");
            to
        })
        .collect();
    let mut times: Vec<Duration> = copies
        .iter()
        .map(|file| {
            let start = Instant::now();
            let plugin = load_plugin(file, &Default::default()).expect("load");
            let elapsed = start.elapsed();
            assert_eq!(plugin.components.len(), 4);
            elapsed
        })
        .collect();
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "plugin_load/static: {} samples, median {:?}, p90 {:?}, max {:?}",
        times.len(),
        at(0.5),
        at(0.9),
        at(1.0)
    );
}
