//! Telling other processes that a (provider, user) row changed, so no
//! replica keeps serving credentials from a grant that was revoked, deleted
//! or replaced elsewhere.
//!
//! On Postgres every write of a token row sends `NOTIFY authhost_changed`
//! with `["provider", "user"]` in the same transaction (delivered when it
//! commits); each server listens and drops its cached entry. Notifications
//! can be lost (a dropped connection), so cached entries are also checked
//! against the row's `version` every so often — the only mechanism on SQLite,
//! where processes share the file but not a channel.

use sqlx::Row;

use super::{Backend, StoreError, TokenStore};

/// The notification channel.
pub const CHANNEL: &str = "authhost_changed";

/// A change notification's payload: (provider, user).
pub fn parse_payload(payload: &str) -> Option<(String, String)> {
    serde_json::from_str::<(String, String)>(payload).ok()
}

impl TokenStore {
    /// Announces that the row of (provider, user) changed, on `executor`
    /// (inside the writing transaction, when there is one). Postgres only.
    pub(super) async fn announce_change<'e, E>(
        &self,
        executor: E,
        provider: &str,
        user: &str,
    ) -> Result<(), StoreError>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let payload = serde_json::to_string(&(provider, user)).unwrap_or_default();
        sqlx::query("SELECT 1 AS sent FROM (SELECT pg_notify($1, $2)) AS n")
            .bind(CHANNEL)
            .bind(payload)
            .fetch_one(executor)
            .await?;
        Ok(())
    }

    /// The current `version` of the row of (provider, user), if any: a
    /// cheap check that cached credentials are still those of the row.
    ///
    /// # Errors
    ///
    /// Database failure.
    pub async fn row_version(&self, provider: &str, user: &str) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query("SELECT version FROM authhost_tokens WHERE provider = $1 AND user_id = $2")
                .bind(provider)
                .bind(user)
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.try_get::<i64, _>("version"))
                .transpose()?,
        )
    }

    /// A listener on the change channel (Postgres), reconnecting by itself;
    /// `None` on SQLite.
    ///
    /// # Errors
    ///
    /// The first connection fails.
    pub async fn change_listener(&self) -> Result<Option<sqlx::postgres::PgListener>, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = sqlx::postgres::PgListener::connect(&self.url).await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(listener))
    }
}
