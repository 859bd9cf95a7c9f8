//! Schema migrations, the same SQL for SQLite and Postgres, run on open.
//! Statements are idempotent so two processes starting together are safe.

use sqlx::AnyPool;

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
)];

/// Applies every migration not yet recorded.
pub(crate) async fn run(pool: &AnyPool) -> Result<(), sqlx::Error> {
    for (version, statements) in MIGRATIONS {
        for statement in *statements {
            sqlx::query(*statement).execute(pool).await?;
        }
        sqlx::query("INSERT INTO authhost_schema_migrations (version, applied_at) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING")
            .bind(*version)
            .bind(super::now())
            .execute(pool)
            .await?;
    }
    Ok(())
}
