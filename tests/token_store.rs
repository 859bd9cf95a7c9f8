//! The token store on a real SQLite file and the real Postgres: encryption
//! bound to the row, compare-and-swap, single-use states, key rotation.

use crate::support::{postgres_url, unique};
use authhost::store::{OpenError, PendingState, StoreError, StoreOptions, TokenStore};
use authhost_plugin_api::{Secret, TokenSet};
use base64::Engine as _;

fn tokens(access: &str) -> TokenSet {
    TokenSet {
        access_token: Secret::new(access),
        token_type: "Bearer".into(),
        refresh_token: Some(Secret::new(format!("refresh-{access}"))),
        id_token: None,
        expires_at: Some(authhost::store::now() + 3600),
        scopes: vec!["repo".into(), "read:user".into()],
        extra: serde_json::Map::new(),
    }
}

async fn sqlite_store(dir: &tempfile::TempDir) -> TokenStore {
    let options = StoreOptions {
        url: Some(format!(
            "sqlite://{}",
            dir.path().join("tokens.db").display()
        )),
        ..StoreOptions::default()
    };
    let (store, notice) = TokenStore::open(&options).await.expect("open sqlite");
    let notice = notice.expect("first run creates a key file");
    assert!(notice.contains("tokens.key"), "{notice}");
    store
}

async fn postgres_store(url: &str, key_file: &std::path::Path) -> TokenStore {
    let options = StoreOptions {
        url: Some(url.to_owned()),
        key_file: Some(key_file.to_path_buf()),
        master_key: None,
        ..StoreOptions::default()
    };
    TokenStore::open(&options).await.expect("open postgres").0
}

async fn roundtrip_cas_and_swap(store: &TokenStore) {
    let provider = unique("github");
    let (alice, bob) = (unique("alice"), unique("bob"));
    assert!(store.get(&provider, &alice).await.expect("get").is_none());
    let v1 = store
        .put(&provider, &alice, &tokens("a1"), None)
        .await
        .expect("put")
        .expect("version");
    let got = store
        .get(&provider, &alice)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(got.tokens.access_token.expose(), "a1");
    assert_eq!(
        got.tokens.refresh_token.as_ref().map(Secret::expose),
        Some("refresh-a1")
    );
    assert_eq!(got.meta.version, v1);
    assert_eq!(got.meta.scopes, ["repo", "read:user"]);

    // Compare-and-swap: the first writer with the right version wins.
    let v2 = store
        .put(&provider, &alice, &tokens("a2"), Some(v1))
        .await
        .expect("cas");
    assert_eq!(v2, Some(v1 + 1));
    assert_eq!(
        store
            .put(&provider, &alice, &tokens("a3"), Some(v1))
            .await
            .expect("cas"),
        None
    );
    assert_eq!(
        store
            .get(&provider, &alice)
            .await
            .expect("get")
            .expect("row")
            .tokens
            .access_token
            .expose(),
        "a2"
    );

    // Swap alice's and bob's ciphertexts: neither decrypts, both are reported.
    store
        .put(&provider, &bob, &tokens("b1"), None)
        .await
        .expect("put");
    let pool = store.pool();
    let read = |user: String| {
        let provider = provider.clone();
        async move {
            let row: (Vec<u8>, Vec<u8>, String) = sqlx::query_as("SELECT nonce, ciphertext, key_id FROM authhost_tokens WHERE provider = $1 AND user_id = $2")
                .bind(provider)
                .bind(user)
                .fetch_one(pool)
                .await
                .expect("raw read");
            row
        }
    };
    let (a, b) = (read(alice.clone()).await, read(bob.clone()).await);
    for (user, (nonce, ct, key)) in [(&alice, &b), (&bob, &a)] {
        sqlx::query("UPDATE authhost_tokens SET nonce = $1, ciphertext = $2, key_id = $3 WHERE provider = $4 AND user_id = $5")
            .bind(nonce.clone())
            .bind(ct.clone())
            .bind(key.clone())
            .bind(&provider)
            .bind(user.as_str())
            .execute(pool)
            .await
            .expect("swap");
    }
    for user in [&alice, &bob] {
        match store.get(&provider, user).await {
            Err(StoreError::Undecryptable { reason, .. }) => {
                assert_eq!(reason, OpenError::Tampered)
            }
            other => panic!("swapped row served: {other:?}"),
        }
    }
    let message = store
        .get(&provider, &alice)
        .await
        .expect_err("swapped")
        .to_string();
    assert!(
        message.contains("does not decrypt") && !message.contains("a1"),
        "{message}"
    );

    // No plaintext token in any column.
    let raw: Vec<(Vec<u8>,)> =
        sqlx::query_as("SELECT ciphertext FROM authhost_tokens WHERE provider = $1")
            .bind(&provider)
            .fetch_all(pool)
            .await
            .expect("raw");
    for (ct,) in raw {
        assert!(!String::from_utf8_lossy(&ct).contains("refresh-"));
    }
    assert!(store.delete(&provider, &alice).await.expect("delete"));
    assert!(!store.delete(&provider, &alice).await.expect("delete"));
}

async fn states_are_single_use(store: &TokenStore) {
    let id = unique("state");
    store
        .put_state(
            &id,
            &PendingState {
                provider: "github".into(),
                user: "alice".into(),
                pkce_verifier: Some(Secret::new("verifier-123")),
                expires_at: authhost::store::now() + 600,
                return_to: None,
            },
        )
        .await
        .expect("put state");
    let taken = store
        .take_state(&id)
        .await
        .expect("take")
        .expect("first take");
    assert_eq!(
        (taken.provider.as_str(), taken.user.as_str()),
        ("github", "alice")
    );
    assert_eq!(
        taken.pkce_verifier.as_ref().map(Secret::expose),
        Some("verifier-123")
    );
    assert!(
        store.take_state(&id).await.expect("take").is_none(),
        "replayed state accepted"
    );
}

#[tokio::test]
async fn sqlite_store_works() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = sqlite_store(&dir).await;
    roundtrip_cas_and_swap(&store).await;
    states_are_single_use(&store).await;
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.path().join("tokens.key"))
            .expect("key")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn postgres_store_works_and_needs_a_key() {
    let Some(url) = postgres_url() else { return };
    let err = TokenStore::open(&StoreOptions {
        url: Some(url.clone()),
        ..StoreOptions::default()
    })
    .await
    .expect_err("no key");
    assert!(err.to_string().contains("needs an encryption key"), "{err}");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = postgres_store(&url, &dir.path().join("pg.key")).await;
    roundtrip_cas_and_swap(&store).await;
    states_are_single_use(&store).await;
}

#[tokio::test]
async fn key_rotation_reencrypts_and_retires_old_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = sqlite_store(&dir).await;
    let old_key = store.keys().current_id().to_owned();
    for i in 0..5 {
        store
            .put("p", &format!("u{i}"), &tokens(&format!("t{i}")), None)
            .await
            .expect("put");
    }
    let (new_key, rewritten, retired) = store.rotate_keys().await.expect("rotate");
    assert_ne!(new_key, old_key);
    assert_eq!(rewritten, 5);
    // The key current until now stays one more rotation (issue 11: a process
    // that read the file just before may still seal one row with it).
    assert!(retired.is_empty(), "{retired:?}");
    for row in store.list(Some("p"), None).await.expect("list") {
        assert_eq!(row.key_id, new_key);
    }
    let (_, rewritten, retired) = store.rotate_keys().await.expect("rotate again");
    assert_eq!(rewritten, 5);
    assert_eq!(retired, [old_key]);
    // A second process that still has only the file reads the rows.
    let (reopened, _) = TokenStore::open(&StoreOptions {
        url: Some(format!(
            "sqlite://{}",
            dir.path().join("tokens.db").display()
        )),
        ..StoreOptions::default()
    })
    .await
    .expect("reopen");
    assert_eq!(
        reopened
            .get("p", "u3")
            .await
            .expect("get")
            .expect("row")
            .tokens
            .access_token
            .expose(),
        "t3"
    );
}

#[tokio::test]
async fn master_key_from_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let options = StoreOptions {
        url: Some(format!("sqlite://{}", dir.path().join("t.db").display())),
        key_file: None,
        master_key: Some(Secret::new(key)),
        ..StoreOptions::default()
    };
    let (store, notice) = TokenStore::open(&options).await.expect("open");
    assert!(notice.is_none());
    assert!(!dir.path().join("t.key").exists());
    store.put("p", "u", &tokens("x"), None).await.expect("put");
    let err = store
        .rotate_keys()
        .await
        .expect_err("env keys cannot rotate");
    assert!(err.to_string().contains("cannot rotate"), "{err}");
    let bad = TokenStore::open(&StoreOptions {
        master_key: Some(Secret::new("not base64!")),
        ..options
    })
    .await
    .expect_err("bad key");
    assert!(bad.to_string().contains("AUTHHOST_MASTER_KEY"), "{bad}");
}

/// Issue 11, finding 2: replicas started together on an empty Postgres
/// crashed (`duplicate key value violates unique constraint
/// "pg_type_typname_nsp_index"`). Five `authhost` processes open the store
/// of a fresh database at once (`tokens list`, which migrates it), twenty
/// times: all succeed. Each database is dropped afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_processes_opening_an_empty_postgres_together_all_start() {
    let Some(url) = postgres_url() else { return };
    let admin_url = {
        let mut u = url::Url::parse(&url).expect("url");
        u.set_path("/postgres");
        u.to_string()
    };
    sqlx::any::install_default_drivers();
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .expect("admin connection");
    let key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let dir = tempfile::tempdir().expect("tempdir");
    for trial in 0..20 {
        let name = format!("authhost_mig_{}_{trial}", std::process::id());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create database");
        let mut db_url = url::Url::parse(&url).expect("url");
        db_url.set_path(&format!("/{name}"));
        let workflow = crate::support::write_workflow(
            dir.path(),
            format!(
                "general:\n  store:\n    url: {db_url}\nauthentication:\n  byo:\n    _type: user_supplied\n    persist: true\n"
            ),
        );
        let children: Vec<std::process::Child> = (0..5)
            .map(|_| {
                crate::support::authhost()
                    .env("AUTHHOST_MASTER_KEY", &key)
                    .args(["tokens", "list", "--config"])
                    .arg(&workflow)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        let failures: Vec<String> = children
            .into_iter()
            .map(|child| child.wait_with_output().expect("wait"))
            .filter(|out| !out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stderr).into_owned())
            .collect();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        .expect("drop database");
        assert!(failures.is_empty(), "trial {trial}: {failures:?}");
    }
}

/// Issue 11, finding 1: after `keys rotate` in another process retired the
/// key a running server still sealed with, its new rows and pending logins
/// became unreadable. Ten rotations by a second process interleaved with
/// writes and logins of the first: every row readable by a third, every
/// pending state completes.
#[tokio::test]
async fn rotations_by_another_process_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = sqlite_store(&dir).await;
    let options = StoreOptions {
        url: Some(format!(
            "sqlite://{}",
            dir.path().join("tokens.db").display()
        )),
        ..StoreOptions::default()
    };
    let operator = TokenStore::open(&options).await.expect("second process").0;
    for round in 0..10 {
        // A login in flight across the rotation.
        let pending = PendingState {
            provider: "p".into(),
            user: format!("login{round}"),
            pkce_verifier: Some(Secret::new(format!("verifier-{round}"))),
            expires_at: authhost::store::now() + 600,
            return_to: None,
        };
        server
            .put_state(&format!("state{round}"), &pending)
            .await
            .expect("state");
        let (new_key, _, _) = operator.rotate_keys().await.expect("rotate");
        // The server writes after the rotation: with the new key.
        server
            .put(
                "p",
                &format!("u{round}"),
                &tokens(&format!("t{round}")),
                None,
            )
            .await
            .expect("put");
        let row = server
            .list(Some("p"), Some(&format!("u{round}")))
            .await
            .expect("list")
            .remove(0);
        assert_eq!(row.key_id, new_key, "round {round}: sealed with an old key");
        let taken = server
            .take_state(&format!("state{round}"))
            .await
            .expect("state readable")
            .expect("state");
        assert_eq!(
            taken.pkce_verifier.expect("verifier").expose(),
            format!("verifier-{round}")
        );
    }
    let reader = TokenStore::open(&options).await.expect("third process").0;
    for round in 0..10 {
        let got = reader
            .get("p", &format!("u{round}"))
            .await
            .expect("readable")
            .expect("row");
        assert_eq!(got.tokens.access_token.expose(), format!("t{round}"));
    }
}

/// Issue 8: `updated_at` served as "when the token was obtained", but a
/// recorded refresh error or a re-encryption bumps it, so refresh timing and
/// its backoff moved. `obtained_at` changes only with new tokens.
#[tokio::test]
async fn obtained_at_moves_only_with_new_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = sqlite_store(&dir).await;
    store.put("p", "u", &tokens("a"), None).await.expect("put");
    let first = store
        .list(Some("p"), Some("u"))
        .await
        .expect("list")
        .remove(0);
    assert_eq!(first.obtained_at, first.updated_at);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut lock = store.lock("p", "u").await.expect("lock");
    lock.record_error("the refresh failed: 503")
        .await
        .expect("record");
    lock.release().await.expect("release");
    store.rotate_keys().await.expect("rotate");
    let after = store
        .list(Some("p"), Some("u"))
        .await
        .expect("list")
        .remove(0);
    assert!(after.updated_at > first.updated_at, "{after:?}");
    assert_eq!(after.obtained_at, first.obtained_at, "{after:?}");
    // New tokens: obtained now.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    store
        .put("p", "u", &tokens("b"), Some(after.version))
        .await
        .expect("put")
        .expect("swapped");
    let renewed = store
        .list(Some("p"), Some("u"))
        .await
        .expect("list")
        .remove(0);
    assert!(renewed.obtained_at > first.obtained_at, "{renewed:?}");
}
