//! Token reads with one million users in the store: the rows are generated
//! here (encrypted, in batches), then 20 000 random users are read and
//! decrypted; prints p50, p99 and max per read. SQLite always; Postgres when
//! `AUTHHOST_TEST_POSTGRES_URL` is set.
//!
//! Run: `cargo build --release --workspace && AUTHHOST_TEST_POSTGRES_URL=postgres://root@127.0.0.1:5432/test cargo bench -p authhost --bench store_scale`

use std::time::{Duration, Instant};

use authhost::store::{now, StoreOptions, TokenStore};
use authhost_plugin_api::{Secret, TokenSet};

fn tokens(i: usize) -> TokenSet {
    TokenSet {
        access_token: Secret::new(format!("gho_access_{i:08}_aaaaaaaaaaaaaaaaaaaaaaaaaaaa")),
        token_type: "Bearer".into(),
        refresh_token: Some(Secret::new(format!(
            "ghr_refresh_{i:08}_bbbbbbbbbbbbbbbbbbbbbbbb"
        ))),
        id_token: None,
        expires_at: Some(now() + 8 * 3600),
        scopes: vec!["repo".into()],
        extra: serde_json::Map::new(),
    }
}

fn report(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label}: {} reads, p50 {:?}, p99 {:?}, max {:?}",
        times.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

async fn run(label: &str, options: StoreOptions, users: usize, reads: usize, provider: &str) {
    let (store, _) = TokenStore::open(&options).await.expect("open");
    let existing = store
        .list(Some(provider), Some("u0"))
        .await
        .expect("list")
        .len();
    let seeded = Instant::now();
    if existing == 0 {
        for start in (0..users).step_by(10_000) {
            let batch: Vec<(String, TokenSet)> = (start..(start + 10_000).min(users))
                .map(|i| (format!("u{i}"), tokens(i)))
                .collect();
            store.put_batch(provider, &batch).await.expect("seed");
        }
    }
    println!("{label}: {users} users ready in {:?}", seeded.elapsed());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut times = Vec::with_capacity(reads);
    for _ in 0..reads {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let user = format!("u{}", x as usize % users);
        let start = Instant::now();
        let row = store.get(provider, &user).await.expect("get");
        times.push(start.elapsed());
        assert!(row.is_some());
    }
    report(label, times);
    if provider != "gh" {
        // A shared Postgres: leave no million rows behind.
        sqlx::query("DELETE FROM authhost_tokens WHERE provider = $1")
            .bind(provider)
            .execute(store.pool())
            .await
            .expect("cleanup");
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (users, reads) = if full {
        (1_000_000, 20_000)
    } else {
        (1_000, 100)
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let dir = tempfile::tempdir().expect("tempdir");
    runtime.block_on(run(
        "store_scale/sqlite",
        StoreOptions {
            url: Some(format!(
                "sqlite://{}",
                dir.path().join("scale.db").display()
            )),
            ..StoreOptions::default()
        },
        users,
        reads,
        "gh",
    ));
    if let Ok(url) = std::env::var("AUTHHOST_TEST_POSTGRES_URL") {
        runtime.block_on(run(
            "store_scale/postgres",
            StoreOptions {
                url: Some(url),
                key_file: Some(dir.path().join("pg.key")),
                master_key: None,
                ..StoreOptions::default()
            },
            users,
            reads,
            &format!("scale-{users}-{}", std::process::id()),
        ));
    }
}
