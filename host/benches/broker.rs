//! The broker's hot path and the token store's reads.
//!
//! - `broker/cached_credentials`: credentials for (provider, user) already
//!   in the memory cache (an `oauth2_auth_code_flow` user with a stored token).
//! - `store/read_miss/sqlite` and `store/read_miss/postgres`: one row read and
//!   decrypted (what a memory miss costs). Postgres runs when
//!   `AUTHHOST_TEST_POSTGRES_URL` is set.
//!
//! Run: `cargo build --release --workspace && AUTHHOST_TEST_POSTGRES_URL=postgres://root@127.0.0.1:5432/test cargo bench -p authhost --bench broker`

use std::{sync::Arc, time::Duration};

use authhost::{
    broker::{Broker, Credentials},
    plugin::{load_plugin, PluginRegistry},
    store::{now, StoreOptions, TokenStore},
};
use authhost_plugin_api::{Secret, TokenSet};
use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::FutureExt;

#[path = "support.rs"]
mod support;

fn tokens(i: usize) -> TokenSet {
    TokenSet {
        access_token: Secret::new(format!("gho_access_token_{i:08}_aaaaaaaaaaaaaaaaaaaaaaaa")),
        token_type: "Bearer".into(),
        refresh_token: Some(Secret::new(format!(
            "ghr_refresh_token_{i:08}_bbbbbbbbbbbbbbbbbbbb"
        ))),
        id_token: None,
        expires_at: Some(now() + 8 * 3600),
        scopes: vec!["repo".into(), "read:user".into()],
        extra: serde_json::Map::new(),
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("rt");
    let _guard = runtime.enter();
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Arc::new(
        runtime
            .block_on(TokenStore::open(&StoreOptions {
                url: Some(format!(
                    "sqlite://{}",
                    dir.path().join("bench.db").display()
                )),
                ..StoreOptions::default()
            }))
            .expect("sqlite")
            .0,
    );
    let users: Vec<(String, TokenSet)> =
        (0..1000).map(|i| (format!("user{i}"), tokens(i))).collect();
    runtime
        .block_on(sqlite.put_batch("gh", &users))
        .expect("seed");

    let mut registry = PluginRegistry::default();
    registry.add(
        load_plugin(
            &support::release_library("authhost_oauth2"),
            &Default::default(),
        )
        .expect("load"),
    );
    let provider = registry
        .create_provider(
            "oauth2_auth_code_flow",
            "gh",
            &serde_json::json!({
                "client_id": "c", "client_secret": "s",
                "authorization_url": "https://as.example.com/authorize",
                "token_url": "https://as.example.com/token",
                "redirect_uri": "http://127.0.0.1:8080/auth/callback"
            }),
            Duration::from_secs(5),
        )
        .expect("provider");
    let broker = Broker::new(Some(sqlite.clone()));
    let first = runtime
        .block_on(broker.credentials(&provider, "user7", None, None))
        .expect("first");
    assert!(matches!(first, Credentials::Ready(_)));
    c.bench_function("broker/cached_credentials", |b| {
        b.iter(|| {
            broker
                .credentials(&provider, std::hint::black_box("user7"), None, None)
                .now_or_never()
                .expect("cache hit is ready")
                .expect("ok")
        })
    });

    let mut i = 0usize;
    c.bench_function("store/read_miss/sqlite", |b| {
        b.iter(|| {
            i = (i + 7919) % 1000;
            runtime
                .block_on(sqlite.get("gh", &users[i].0))
                .expect("get")
                .expect("row")
        })
    });

    if let Ok(url) = std::env::var("AUTHHOST_TEST_POSTGRES_URL") {
        let postgres = runtime
            .block_on(TokenStore::open(&StoreOptions {
                url: Some(url),
                key_file: Some(dir.path().join("pg.key")),
                master_key: None,
                ..StoreOptions::default()
            }))
            .expect("postgres")
            .0;
        runtime
            .block_on(postgres.put_batch("bench-gh", &users))
            .expect("seed");
        let mut i = 0usize;
        c.bench_function("store/read_miss/postgres", |b| {
            b.iter(|| {
                i = (i + 7919) % 1000;
                runtime
                    .block_on(postgres.get("bench-gh", &users[i].0))
                    .expect("get")
                    .expect("row")
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
