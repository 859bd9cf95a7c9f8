//! Three `authhost serve` processes (the release build) on one Postgres,
//! against a real authorization server on 127.0.0.1 that rotates refresh
//! tokens and detects their reuse:
//!
//! - **storm**: 1,000 concurrent calls spread over the three replicas for
//!   one user whose token has expired → how many refreshes (must be 1).
//! - **expiry wave**: 1,000 users whose tokens all expired, one call each,
//!   spread over the replicas → how many refreshes (must be 1,000, no
//!   refresh token presented twice), call latency p50 / p99.
//! - **revocation**: a grant cached by replica A is revoked through replica
//!   B; the time until A answers `authorization_required`, p50 / p99 / max.
//!
//! The reference measured in the same run is the upstream itself: the same
//! concurrent load sent straight to the resource with live tokens.
//! Each scenario runs three times; the report quotes each run and the
//! minimum.
//!
//! Run: `cargo build --release --workspace && AUTHHOST_TEST_POSTGRES_URL=postgres://root@127.0.0.1:5432/test cargo bench -p authhost --bench replicas`

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use authhost::{
    clock::now,
    store::{StoreOptions, TokenStore},
};
use authhost_plugin_api::{Secret, TokenSet};
use futures_util::{stream, StreamExt};

#[allow(dead_code)]
#[path = "../../tests/support/assertion_grants.rs"]
mod assertion_grants;
#[path = "../../tests/support/background.rs"]
mod background;
#[allow(dead_code)]
#[path = "../../tests/support/device_grant.rs"]
mod device_grant;
#[allow(dead_code)]
#[path = "../../tests/support/oauth_server.rs"]
mod oauth_server;
#[path = "support.rs"]
mod support;

const CALLS: usize = 1000;
const IN_FLIGHT: usize = 200;
const REVOCATION_TRIALS: usize = 50;

fn release_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let binary = target.join("release/authhost");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --release --workspace` first",
        binary.display()
    );
    binary
}

/// A replica process; killed when dropped.
struct Replica {
    child: Child,
    base: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_replica(workflow: &Path) -> Replica {
    let port = support::free_port();
    let child = Command::new(release_binary())
        .args(["serve", "--config"])
        .arg(workflow)
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn authhost serve");
    Replica {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

async fn wait_ready(http: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base} did not become ready");
}

fn tokens(access: String, refresh: String, expires_at: i64) -> TokenSet {
    TokenSet {
        access_token: Secret::new(access),
        token_type: "Bearer".into(),
        refresh_token: Some(Secret::new(refresh)),
        id_token: None,
        expires_at: Some(expires_at),
        scopes: vec!["repo".into()],
        extra: serde_json::Map::new(),
    }
}

/// p-th percentile (0–100) of sorted durations, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// Sends `requests` with at most IN_FLIGHT at once; each answer's status and latency.
async fn load(requests: Vec<reqwest::RequestBuilder>) -> (Vec<u16>, Vec<Duration>) {
    let results: Vec<(u16, Duration)> = stream::iter(requests)
        .map(|request| async move {
            let started = Instant::now();
            let status = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let _ = response.bytes().await;
                    status
                }
                Err(_) => 0,
            };
            (status, started.elapsed())
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let statuses = results.iter().map(|(s, _)| *s).collect();
    let mut latencies: Vec<Duration> = results.into_iter().map(|(_, d)| d).collect();
    latencies.sort();
    (statuses, latencies)
}

fn invoke(http: &reqwest::Client, base: &str, user: &str) -> reqwest::RequestBuilder {
    http.post(format!("{base}/v1/tools/me/invoke"))
        .header("x-user-id", user)
        .header("content-type", "application/json")
        .body("{}")
}

/// How many invokes answered 200 (the upstream accepted the token).
fn all_reached_upstream(statuses: &[u16]) -> usize {
    statuses.iter().filter(|s| **s == 200).count()
}

struct Setup {
    auth: oauth_server::AuthServer,
    store: Arc<TokenStore>,
    provider: String,
    replicas: Vec<Replica>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn setup(postgres: &str) -> Setup {
    let auth = oauth_server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let provider = format!("bench_{}", std::process::id());
    let key_file = dir.path().join("store.key");
    let (store, _) = TokenStore::open(&StoreOptions {
        url: Some(postgres.to_owned()),
        key_file: Some(key_file.clone()),
        master_key: None,
        // The seeding side needs few connections; the replicas need theirs.
        max_connections: Some(4),
    })
    .await
    .expect("store");
    let workflow = dir.path().join("workflow.yaml");
    std::fs::write(
        &workflow,
        format!(
            "general:\n  server:\n    connect:\n      verify: none\n  store:\n    url: {postgres}\n    key_file: {key}\n  inbound_auth:\n    type: none\n    trust_user_header: X-User-Id\nauthentication:\n  {provider}:\n    _type: oauth2_auth_code_flow\n    client_id: authhost-test\n    client_secret: test-secret\n    issuer: {base}\n    redirect_uri: http://127.0.0.1:9/auth/callback\ntools:\n  me:\n    _type: http\n    url: {base}/api/me\n    auth_provider: {provider}\n",
            key = key_file.display(),
            base = auth.base,
        ),
    )
    .expect("write");
    let replicas: Vec<Replica> = (0..3).map(|_| spawn_replica(&workflow)).collect();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(IN_FLIGHT)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    for replica in &replicas {
        wait_ready(&http, &replica.base).await;
    }
    Setup {
        auth,
        store: Arc::new(store),
        provider,
        replicas,
        http,
        _dir: dir,
    }
}

/// The reference: the same number of calls straight to the resource, live tokens.
async fn direct(setup: &Setup, run: usize) -> Vec<Duration> {
    let requests = (0..CALLS)
        .map(|i| {
            let (access, _) = setup.auth.mint(&format!("direct-{run}-{i}"));
            setup
                .http
                .get(format!("{}/api/me", setup.auth.base))
                .bearer_auth(access)
        })
        .collect();
    load(requests).await.1
}

/// A grant for `user`, issued by the server and stored with `expires_at`.
async fn seed(setup: &Setup, user: &str, expires_at: i64) {
    let (access, refresh) = setup.auth.mint(user);
    setup
        .store
        .put(
            &setup.provider,
            user,
            &tokens(access, refresh, expires_at),
            None,
        )
        .await
        .expect("seed");
}

async fn storm(setup: &Setup, run: usize) -> (usize, usize, Vec<Duration>) {
    let user = format!("storm-{run}");
    seed(setup, &user, now() - 10).await;
    let before = setup.auth.calls("refresh_token");
    let requests = (0..CALLS)
        .map(|i| invoke(&setup.http, &setup.replicas[i % 3].base, &user))
        .collect();
    let (statuses, latencies) = load(requests).await;
    (
        setup.auth.calls("refresh_token") - before,
        all_reached_upstream(&statuses),
        latencies,
    )
}

async fn wave(setup: &Setup, run: usize) -> (usize, usize, Vec<Duration>) {
    let users: Vec<String> = (0..CALLS).map(|i| format!("wave-{run}-{i}")).collect();
    let entries: Vec<(String, TokenSet)> = users
        .iter()
        .map(|user| {
            let (access, refresh) = setup.auth.mint(user);
            (user.clone(), tokens(access, refresh, now() - 10))
        })
        .collect();
    setup
        .store
        .put_batch(&setup.provider, &entries)
        .await
        .expect("seed");
    let before = setup.auth.calls("refresh_token");
    let requests = users
        .iter()
        .enumerate()
        .map(|(i, user)| invoke(&setup.http, &setup.replicas[i % 3].base, user))
        .collect();
    let (statuses, latencies) = load(requests).await;
    (
        setup.auth.calls("refresh_token") - before,
        all_reached_upstream(&statuses),
        latencies,
    )
}

async fn revocation(setup: &Setup, run: usize) -> Vec<Duration> {
    let (a, b) = (&setup.replicas[0].base, &setup.replicas[1].base);
    let mut times = Vec::new();
    for trial in 0..REVOCATION_TRIALS {
        let user = format!("revoke-{run}-{trial}");
        seed(setup, &user, now() + 3600).await;
        // A caches the grant.
        let warm = invoke(&setup.http, a, &user).send().await.expect("warm");
        assert_eq!(warm.status(), 200);
        let deleted = setup
            .http
            .delete(format!("{b}/v1/credentials/{}", setup.provider))
            .header("x-user-id", &user)
            .send()
            .await
            .expect("revoke");
        assert_eq!(deleted.status(), 204);
        let revoked_at = Instant::now();
        loop {
            let answer = invoke(&setup.http, a, &user).send().await.expect("poll");
            if answer.status() == 401 {
                times.push(revoked_at.elapsed());
                break;
            }
            assert!(
                revoked_at.elapsed() < Duration::from_secs(30),
                "replica A kept serving a revoked grant for 30 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    times.sort();
    times
}

async fn cleanup(postgres: &str, provider: &str) {
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(postgres)
        .await
        .expect("pg");
    for statement in [
        "DELETE FROM authhost_tokens WHERE provider = $1",
        "DELETE FROM authhost_flows WHERE provider = $1",
        "DELETE FROM authhost_states WHERE provider = $1",
    ] {
        sqlx::query(statement)
            .bind(provider)
            .execute(&mut conn)
            .await
            .expect("cleanup");
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let Some(postgres) = std::env::var("AUTHHOST_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("replicas: set AUTHHOST_TEST_POSTGRES_URL to run this benchmark");
        return;
    };
    sqlx::any::install_default_drivers();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let setup = setup(&postgres).await;
        println!("replicas: 3 × authhost serve (release) on Postgres; {CALLS} calls, {IN_FLIGHT} in flight; times in ms");
        let mut storm_p99 = Vec::new();
        let mut wave_p99 = Vec::new();
        let mut direct_p99 = Vec::new();
        let mut revoke_p99 = Vec::new();
        for run in 0..3 {
            let reference = direct(&setup, run).await;
            let (refreshes, ok, latencies) = storm(&setup, run).await;
            println!(
                "run {run} storm:      refreshes {refreshes} (want 1), upstream reached {ok}/{CALLS}, p50 {:.1}, p99 {:.1}",
                percentile(&latencies, 50.0),
                percentile(&latencies, 99.0)
            );
            storm_p99.push(percentile(&latencies, 99.0));
            let (refreshes, ok, latencies) = wave(&setup, run).await;
            println!(
                "run {run} wave:       refreshes {refreshes} (want {CALLS}), upstream reached {ok}/{CALLS}, p50 {:.1}, p99 {:.1}",
                percentile(&latencies, 50.0),
                percentile(&latencies, 99.0)
            );
            wave_p99.push(percentile(&latencies, 99.0));
            println!(
                "run {run} direct:     p50 {:.1}, p99 {:.1} (the resource alone, same load)",
                percentile(&reference, 50.0),
                percentile(&reference, 99.0)
            );
            direct_p99.push(percentile(&reference, 99.0));
            let times = revocation(&setup, run).await;
            println!(
                "run {run} revocation: p50 {:.1}, p99 {:.1}, max {:.1} over {REVOCATION_TRIALS} trials",
                percentile(&times, 50.0),
                percentile(&times, 99.0),
                percentile(&times, 100.0)
            );
            revoke_p99.push(percentile(&times, 99.0));
        }
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        println!(
            "min of 3: storm p99 {:.1}, wave p99 {:.1}, direct p99 {:.1} (wave/direct {:.1}×), revocation p99 {:.1}",
            min(&storm_p99),
            min(&wave_p99),
            min(&direct_p99),
            min(&wave_p99) / min(&direct_p99),
            min(&revoke_p99)
        );
        println!(
            "refresh tokens presented twice: {}",
            setup.auth.get(|s| s.reuse_detected)
        );
        cleanup(&postgres, &setup.provider).await;
    });
}
