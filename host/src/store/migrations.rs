//! Schema migrations, the same SQL for SQLite and Postgres, run on open.
//!
//! Versioned: the applied versions are read from
//! `authhost_schema_migrations` and each step runs once, in one transaction
//! with its version row. The whole run holds a database lock — a Postgres
//! advisory lock, SQLite's write lock (`BEGIN IMMEDIATE`) — so replicas
//! starting together on an empty database take turns: Postgres does not
//! make concurrent `CREATE TABLE IF NOT EXISTS` safe.

use sqlx::{AnyPool, Row};

use super::Backend;

/// The advisory lock key of migrations ("authhost" in ASCII).
const MIGRATION_LOCK: i64 = 0x6175_7468_686f_7374;

/// (version, statements). Append only.
const MIGRATIONS: &[(i64, &[&str])] = &[(
    1,
    &[
        "CREATE TABLE IF NOT EXISTS authhost_schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS authhost_tokens (
            provider TEXT NOT NULL,
            user_id TEXT NOT NULL,
            version BIGINT NOT NULL,
            key_id TEXT NOT NULL,
            nonce BYTEA NOT NULL,
            ciphertext BYTEA NOT NULL,
            expires_at BIGINT,
            scopes TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            last_error TEXT,
            PRIMARY KEY (provider, user_id)
        )",
        "CREATE TABLE IF NOT EXISTS authhost_states (
            id TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            user_id TEXT NOT NULL,
            key_id TEXT NOT NULL,
            nonce BYTEA NOT NULL,
            ciphertext BYTEA NOT NULL,
            return_to TEXT,
            expires_at BIGINT NOT NULL,
            created_at BIGINT NOT NULL
        )",
        "CREATE INDEX IF NOT EXISTS authhost_tokens_user ON authhost_tokens (user_id)",
    ],
), (
    2,
    &[
        // Connect flows: one per opened connect link; the held grant of an
        // `app`-mode flow waits here, sealed, for its confirmation.
        "CREATE TABLE IF NOT EXISTS authhost_flows (
            id TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            user_id TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT,
            browser_binding TEXT,
            confirm_hash TEXT,
            key_id TEXT,
            nonce BYTEA,
            ciphertext BYTEA,
            expires_at BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )",
        "CREATE INDEX IF NOT EXISTS authhost_flows_confirm ON authhost_flows (confirm_hash)",
    ],
), (
    3,
    &[
        // SQLite refresh leases: who refreshes (provider, user) until when,
        // so no write transaction stays open across a token request.
        "CREATE TABLE IF NOT EXISTS authhost_refresh_leases (
            provider TEXT NOT NULL,
            user_id TEXT NOT NULL,
            owner TEXT NOT NULL,
            expires_at BIGINT NOT NULL,
            PRIMARY KEY (provider, user_id)
        )",
    ],
), (
    4,
    &[
        // When the tokens were obtained: refresh timing must not move when a
        // refresh error is recorded or a row is re-encrypted.
        "ALTER TABLE authhost_tokens ADD COLUMN obtained_at BIGINT",
        "UPDATE authhost_tokens SET obtained_at = updated_at WHERE obtained_at IS NULL",
    ],
), (
    5,
    &[
        // Leader leases: one process at a time does a background duty
        // (keeping idle grants alive) until its lease expires.
        "CREATE TABLE IF NOT EXISTS authhost_leader_leases (
            name TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            expires_at BIGINT NOT NULL
        )",
    ],
), (
    6,
    &[
        // Whether the authorization server rotates this grant's refresh
        // token (NULL until a refresh shows it), and since when the outcome
        // of a refresh is unknown (the request may have been acted on).
        "ALTER TABLE authhost_tokens ADD COLUMN rotates BIGINT",
        "ALTER TABLE authhost_tokens ADD COLUMN recheck_since BIGINT",
    ],
)];

/// Applies every migration not yet recorded, under the database lock.
pub(crate) async fn run(pool: &AnyPool, backend: Backend) -> Result<(), sqlx::Error> {
    let mut tx = match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => {
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock($1)) AS l")
                .bind(MIGRATION_LOCK)
                .fetch_one(&mut *tx)
                .await?;
            tx
        }
    };
    sqlx::query("CREATE TABLE IF NOT EXISTS authhost_schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
        .execute(&mut *tx)
        .await?;
    let applied: Vec<i64> = sqlx::query("SELECT version FROM authhost_schema_migrations")
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| row.try_get::<i64, _>("version"))
        .collect::<Result<_, _>>()?;
    for (version, statements) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        for statement in *statements {
            sqlx::query(*statement).execute(&mut *tx).await?;
        }
        sqlx::query("INSERT INTO authhost_schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(*version)
            .bind(super::now())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}
