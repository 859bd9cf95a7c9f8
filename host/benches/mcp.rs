//! MCP overhead: `tools/call` through `/mcp` against `POST
//! /v1/tools/{tool}/invoke` for the same tool (an `api_key` provider, its
//! credentials cached after the first call) and the same local upstream,
//! both on one release `authhost serve`, measured side by side in one run
//! by the same client. Three rounds; each gives throughput with 16
//! connections and the median latency with one connection per route, the
//! two routes called in turn.
//!
//! Run: `cargo build --release --workspace && cargo bench -p authhost --bench mcp`

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

#[path = "../../tests/support/background.rs"]
mod background;
#[path = "support.rs"]
mod support;

const CONNECTIONS: usize = 16;
const LOAD: Duration = Duration::from_secs(5);
const LATENCY: Duration = Duration::from_secs(3);

/// JSON-RPC ids: unique within the session, as a client must keep them.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How one call is made.
#[derive(Clone)]
enum Call {
    Invoke { url: String },
    Mcp { url: String, session: String },
}

impl Call {
    async fn once(&self, http: &reqwest::Client) {
        let response = match self {
            Self::Invoke { url } => http
                .post(url)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .expect("invoke"),
            Self::Mcp { url, session } => http
                .post(url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25")
                .body(format!(
                    r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"ok","arguments":{{}}}}}}"#,
                    NEXT_ID.fetch_add(1, Ordering::Relaxed)
                ))
                .send()
                .await
                .expect("tools/call"),
        };
        assert!(response.status().is_success(), "{}", response.status());
        let body = response.bytes().await.expect("body");
        let needle = b"\"ok\":true";
        assert!(
            body.windows(needle.len()).any(|w| w == needle),
            "unexpected answer: {}",
            String::from_utf8_lossy(&body)
        );
    }
}

/// Calls per second with `connections` callers for `duration`.
async fn throughput(call: &Call, connections: usize, duration: Duration) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (call, done, stop) = (call.clone(), done.clone(), stop.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                while !stop.load(Ordering::Relaxed) {
                    call.once(&http).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("worker");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// The median latencies of `a` and `b`, called in turn (one connection
/// each) for `duration`: both see the same machine at the same moments, so
/// the difference is theirs, not the noise of two separate phases.
async fn paired_median_latency(a: &Call, b: &Call, duration: Duration) -> (Duration, Duration) {
    let (http_a, http_b) = (reqwest::Client::new(), reqwest::Client::new());
    let (mut samples_a, mut samples_b) = (Vec::new(), Vec::new());
    let started = Instant::now();
    while started.elapsed() < duration {
        let t = Instant::now();
        a.once(&http_a).await;
        samples_a.push(t.elapsed());
        let t = Instant::now();
        b.once(&http_b).await;
        samples_b.push(t.elapsed());
    }
    let median = |mut samples: Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    (median(samples_a), median(samples_b))
}

/// `initialize` and `notifications/initialized`; the session id.
async fn open_session(url: &str) -> String {
    let http = reqwest::Client::new();
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#)
        .send()
        .await
        .expect("initialize");
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let _ = response.bytes().await;
    let ack = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .body(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .send()
        .await
        .expect("initialized");
    assert!(ack.status().is_success(), "{}", ack.status());
    session
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("mcp: skipped (run with `cargo bench`)");
        return;
    }
    let upstream = background::serve_in_background(1, |_| {
        axum::Router::new().route(
            "/ok",
            axum::routing::get(|| async { axum::Json(serde_json::json!({"ok": true})) }),
        )
    });
    let gateway = support::free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let workflow = dir.path().join("bench.yaml");
    std::fs::write(
        &workflow,
        format!(
            "general:\n  inbound_auth:\n    type: none\nauthentication:\n  key:\n    _type: api_key\n    api_key: bench-key\ntools:\n  ok:\n    _type: http\n    url: http://{upstream}/ok\n    auth_provider: key\n"
        ),
    )
    .expect("workflow");
    let _server = support::serve_release(&workflow, gateway, Some(dir.path()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let base = format!("http://127.0.0.1:{gateway}");
        for _ in 0..100 {
            if reqwest::get(format!("{base}/healthz")).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let invoke = Call::Invoke {
            url: format!("{base}/v1/tools/ok/invoke"),
        };
        let mcp_url = format!("{base}/mcp");
        let mcp = Call::Mcp {
            session: open_session(&mcp_url).await,
            url: mcp_url,
        };
        // Warm-up: the first call fills the credential cache.
        throughput(&invoke, 4, Duration::from_secs(1)).await;
        throughput(&mcp, 4, Duration::from_secs(1)).await;
        println!(
            "mcp vs invoke ({CONNECTIONS} connections for {LOAD:?}; latency: 1 connection for {LATENCY:?})"
        );
        for round in 1..=3 {
            let invoke_rps = throughput(&invoke, CONNECTIONS, LOAD).await;
            let mcp_rps = throughput(&mcp, CONNECTIONS, LOAD).await;
            let (invoke_p50, mcp_p50) = paired_median_latency(&invoke, &mcp, LATENCY).await;
            println!(
                "  round {round}: invoke {invoke_rps:>8.0} calls/s p50 {:>5} µs | mcp {mcp_rps:>8.0} calls/s p50 {:>5} µs | mcp/invoke throughput {:.2}, added p50 {:+} µs",
                invoke_p50.as_micros(),
                mcp_p50.as_micros(),
                mcp_rps / invoke_rps,
                mcp_p50.as_micros() as i64 - invoke_p50.as_micros() as i64,
            );
        }
    });
}
