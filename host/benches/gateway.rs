//! Gateway overhead: `POST /v1/tools/{tool}/invoke` and the pass-through
//! proxy (`GET /v1/proxy/{provider}/…`), each with a JWT in and a cached
//! per-user OAuth token out, against a local upstream, compared with calling
//! the upstream directly and with nginx proxying to it and adding a static
//! header. wrk on loopback, three rounds (ratios reported per round and as
//! their minimum); also the server's RSS idle and after load.
//!
//! Needs `nginx` and `wrk` (Debian packages) on PATH; skips otherwise.
//!
//! Run: `cargo build --release --workspace && cargo bench -p authhost --bench gateway`

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use authhost::store::{now, StoreOptions, TokenStore};
use authhost_plugin_api::{Secret, TokenSet};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

#[path = "support.rs"]
mod support;

const SECRET: &str = "bench-secret-of-at-least-32-bytes-long!";

fn wait_for(url: &str) {
    for _ in 0..100 {
        if Command::new("curl")
            .args(["-fsS", "-o", "/dev/null", url])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{url} never answered");
}

/// Requests/sec and the median latency of one wrk run.
fn wrk(
    url: &str,
    script: Option<&std::path::Path>,
    seconds: u64,
    connections: u32,
) -> (f64, String) {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t1",
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--latency",
    ]);
    if let Some(script) = script {
        cmd.arg("-s").arg(script);
    }
    let out = cmd.arg(url).output().expect("wrk");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk output:\n{text}"));
    let p50 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("50%"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    let non2xx = text.lines().find(|l| l.contains("Non-2xx"));
    assert!(non2xx.is_none(), "errors during the run:\n{text}");
    (rps, p50)
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix(field)
                    .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0))
            })
        })
        .unwrap_or(0)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let have = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !full || !have("wrk") || !have("nginx") || !have("curl") {
        println!("gateway: skipped (run with `cargo bench`, and install nginx, wrk and curl)");
        return;
    }
    let seconds = 10;
    let dir = tempfile::tempdir().expect("tempdir");
    let (upstream, proxy, gateway) = (
        support::free_port(),
        support::free_port(),
        support::free_port(),
    );
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 1024; }}\nhttp {{\n  access_log off;\n  upstream up {{ server 127.0.0.1:{upstream}; keepalive 64; }}\n  server {{ listen 127.0.0.1:{upstream}; location / {{ default_type application/json; return 200 '{{\"ok\":true}}'; }} }}\n  server {{ listen 127.0.0.1:{proxy}; location / {{ proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header X-API-Key static-key; }} }}\n}}\n",
            d = dir.path().display()
        ),
    )
    .expect("nginx.conf");
    let _nginx = support::Kill(
        Command::new("nginx")
            .args([
                "-c",
                &conf.display().to_string(),
                "-p",
                &dir.path().display().to_string(),
            ])
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx"),
    );
    wait_for(&format!("http://127.0.0.1:{upstream}/ok"));

    // The workflow: JWT in, an OAuth user token out (already in the store).
    let db = dir.path().join("tokens.db");
    let workflow = dir.path().join("bench.yaml");
    std::fs::write(
        &workflow,
        format!(
            "general:\n  store:\n    url: sqlite://{db}\n  inbound_auth:\n    type: jwt\n    algorithms: [HS256]\n    secret: \"{SECRET}\"\nauthentication:\n  gh:\n    _type: oauth2_auth_code_flow\n    _base_url: http://127.0.0.1:{upstream}\n    client_id: bench\n    client_secret: s\n    authorization_url: https://as.example.com/authorize\n    token_url: https://as.example.com/token\n    redirect_uri: http://127.0.0.1:{gateway}/auth/callback\ntools:\n  ok:\n    _type: http\n    url: http://127.0.0.1:{upstream}/ok\n    auth_provider: gh\n",
            db = db.display()
        ),
    )
    .expect("workflow");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    runtime.block_on(async {
        let (store, _) = TokenStore::open(&StoreOptions {
            url: Some(format!("sqlite://{}", db.display())),
            ..StoreOptions::default()
        })
        .await
        .expect("store");
        let tokens = TokenSet {
            access_token: Secret::new("gho_bench_access_token"),
            token_type: "Bearer".into(),
            refresh_token: Some(Secret::new("ghr_bench_refresh")),
            id_token: None,
            expires_at: Some(now() + 8 * 3600),
            scopes: vec!["repo".into()],
            extra: serde_json::Map::new(),
        };
        store.put("gh", "bench", &tokens, None).await.expect("seed");
    });
    let server = support::serve_release(&workflow, gateway, None);
    wait_for(&format!("http://127.0.0.1:{gateway}/healthz"));
    let pid = server.0.id();
    let jwt = encode(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({"sub": "bench", "exp": now() + 3600}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("jwt");
    let script = dir.path().join("invoke.lua");
    std::fs::write(
        &script,
        format!("wrk.method = \"POST\"\nwrk.body = \"{{}}\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Authorization\"] = \"Bearer {jwt}\"\n"),
    )
    .expect("script");
    let proxy_script = dir.path().join("proxy.lua");
    std::fs::write(
        &proxy_script,
        format!("wrk.headers[\"Authorization\"] = \"Bearer {jwt}\"\n"),
    )
    .expect("script");
    // Warm up (first call reads the store; the rest hit the cache).
    let invoke_url = format!("http://127.0.0.1:{gateway}/v1/tools/ok/invoke");
    let _ = wrk(&invoke_url, Some(&script), 1, 4);
    let idle = rss_kib(pid, "VmRSS:");

    let started = Instant::now();
    let direct_url = format!("http://127.0.0.1:{upstream}/ok");
    let proxy_url = format!("http://127.0.0.1:{proxy}/ok");
    let through_url = format!("http://127.0.0.1:{gateway}/v1/proxy/gh/ok");
    let _ = wrk(&through_url, Some(&proxy_script), 1, 4);
    println!("gateway (wrk -t1; throughput with 32 connections for {seconds} s per run; latency with 1 connection for 5 s)");
    let (mut invoke_ratios, mut proxy_ratios) = (Vec::new(), Vec::new());
    for round in 1..=3 {
        let (direct, direct_p50) = wrk(&direct_url, None, seconds, 32);
        let (nginx, nginx_p50) = wrk(&proxy_url, None, seconds, 32);
        let (invoke, invoke_p50) = wrk(&invoke_url, Some(&script), seconds, 32);
        let (through, through_p50) = wrk(&through_url, Some(&proxy_script), seconds, 32);
        println!("  round {round}");
        println!("    upstream direct       {direct:>10.0} req/s   p50 {direct_p50}");
        println!("    nginx proxy + header  {nginx:>10.0} req/s   p50 {nginx_p50}");
        println!(
            "    authhost invoke       {invoke:>10.0} req/s   p50 {invoke_p50}   / nginx {:.2}",
            invoke / nginx
        );
        println!(
            "    authhost proxy        {through:>10.0} req/s   p50 {through_p50}   / nginx {:.2}",
            through / nginx
        );
        invoke_ratios.push(invoke / nginx);
        proxy_ratios.push(through / nginx);
    }
    let peak = rss_kib(pid, "VmHWM:");
    // Latency without queueing: one connection.
    let (_, direct_1) = wrk(&direct_url, None, 5, 1);
    let (_, nginx_1) = wrk(&proxy_url, None, 5, 1);
    let (_, invoke_1) = wrk(&invoke_url, Some(&script), 5, 1);
    let (_, through_1) = wrk(&through_url, Some(&proxy_script), 5, 1);
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    println!("  p50 at 1 connection: direct {direct_1}, nginx {nginx_1}, authhost invoke {invoke_1}, authhost proxy {through_1}");
    println!(
        "  authhost / nginx throughput, minimum of 3 rounds: invoke {:.2}, proxy {:.2}",
        min(&invoke_ratios),
        min(&proxy_ratios)
    );
    println!(
        "  authhost RSS: idle {idle} KiB after warm-up, peak {peak} KiB under load ({:?} in all)",
        started.elapsed()
    );
}
