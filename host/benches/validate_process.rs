//! `authhost validate` as a whole process on a generated workflow with 100
//! providers (all four static types) and 500 tools. Prints median, p90 and
//! max over 30 runs (3 when run as a test).
//!
//! Run: `cargo build --release --workspace && cargo bench -p authhost --bench validate_process`

use std::{
    fmt::Write as _,
    process::Command,
    time::{Duration, Instant},
};

#[path = "support.rs"]
mod support;

fn generate() -> String {
    let mut yaml = String::from("general:\n  timeouts:\n    http: 20s\nauthentication:\n");
    for i in 0..100 {
        let entry = match i % 4 {
            0 => format!("  p{i}:\n    _type: api_key\n    api_key: ${{KEY_{i}:-k{i}}}\n    header: X-Key-{i}\n"),
            1 => format!("  p{i}:\n    _type: http_basic\n    username: user{i}\n    password: ${{PW_{i}:-p{i}}}\n"),
            2 => format!("  p{i}:\n    _type: bearer_token\n    token: ${{TOKEN_{i}:-t{i}}}\n"),
            _ => format!("  p{i}:\n    _type: custom_headers\n    headers:\n      X-Tenant: t{i}\n      X-Key: ${{H_{i}:-h{i}}}\n"),
        };
        yaml.push_str(&entry);
    }
    yaml.push_str("tools:\n");
    for i in 0..500 {
        let _ = write!(
            yaml,
            "  tool{i}:\n    _type: http\n    method: {}\n    url: https://api{}.example.com/v1/items/{{id}}\n    headers:\n      Accept: application/json\n    query:\n      page: \"{{page}}\"\n    auth_provider: p{}\n",
            if i % 3 == 0 { "POST" } else { "GET" },
            i % 7,
            i % 100
        );
    }
    yaml
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let runs = if full { 30 } else { 3 };
    let binary = support::release_library("authhost_static")
        .parent()
        .expect("folder")
        .join("authhost");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --release --workspace`",
        binary.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("big.yaml");
    std::fs::write(&file, generate()).expect("write");
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let out = Command::new(&binary)
                .arg("validate")
                .arg(&file)
                .output()
                .expect("run");
            let elapsed = start.elapsed();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
            elapsed
        })
        .collect();
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "validate_process/100_providers_500_tools: {} runs, median {:?}, p90 {:?}, max {:?} ({} bytes)",
        times.len(),
        at(0.5),
        at(0.9),
        at(1.0),
        std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0)
    );
}
