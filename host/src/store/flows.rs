//! Connect flows: one row per opened connect link (or `/start`), keyed by
//! the flow id, which is also the id of the authorization's state. A row
//! records how the flow must be verified (the hash of the browser's flow
//! cookie), where it stands, why it was refused, and — in `app` mode — the
//! grant held encrypted until the application confirms who completed it.

use authhost_plugin_api::TokenSet;
use sqlx::Row;

use super::{aad, now, token_row, Sealed, StoreError, TokenStore};

/// Where a connect flow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowStatus {
    /// The link was opened; the user is at the authorization server.
    Started,
    /// The grant is held until the application confirms the user (`app`).
    AwaitingConfirmation,
    /// The grant is stored for the user.
    Completed,
    /// Refused (wrong browser, confirmed by another user, denied, …).
    Refused,
}

impl FlowStatus {
    /// The name used in the database and the HTTP API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::AwaitingConfirmation => "awaiting_confirmation",
            Self::Completed => "completed",
            Self::Refused => "refused",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "awaiting_confirmation" => Self::AwaitingConfirmation,
            "completed" => Self::Completed,
            "refused" => Self::Refused,
            _ => Self::Started,
        }
    }

    /// Whether the flow can no longer change.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Refused)
    }
}

/// A connect flow as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// The flow id (also the state id).
    pub id: String,
    /// The provider instance.
    pub provider: String,
    /// The user the grant is for.
    pub user: String,
    /// Where it stands.
    pub status: FlowStatus,
    /// Why it was refused, when it was.
    pub reason: Option<String>,
    /// SHA-256 (hex) of the flow cookie the starting browser was given
    /// (`session` mode).
    pub browser_binding: Option<String>,
    /// When it stops being usable (Unix seconds).
    pub expires_at: i64,
}

fn flow_from_row(row: &sqlx::any::AnyRow) -> Result<Flow, StoreError> {
    Ok(Flow {
        id: row.try_get("id")?,
        provider: row.try_get("provider")?,
        user: row.try_get("user_id")?,
        status: FlowStatus::parse(&row.try_get::<String, _>("status")?),
        reason: row.try_get("reason")?,
        browser_binding: row.try_get("browser_binding")?,
        expires_at: row.try_get("expires_at")?,
    })
}

fn held_aad(id: &str) -> Vec<u8> {
    aad("flow", id)
}

impl TokenStore {
    /// Records a new flow; `false` when a flow with this id exists already
    /// (a connect link is opened once).
    ///
    /// # Errors
    ///
    /// Database failure.
    pub async fn create_flow(&self, flow: &Flow) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO authhost_flows (id, provider, user_id, status, reason, browser_binding, expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&flow.id)
        .bind(&flow.provider)
        .bind(&flow.user)
        .bind(flow.status.as_str())
        .bind(flow.reason.as_deref())
        .bind(flow.browser_binding.as_deref())
        .bind(flow.expires_at)
        .bind(now())
        .execute(&self.pool)
        .await?
        .rows_affected();
        // Flows are kept a day for their status, then dropped.
        sqlx::query("DELETE FROM authhost_flows WHERE expires_at < $1")
            .bind(now() - 86_400)
            .execute(&self.pool)
            .await?;
        Ok(inserted == 1)
    }

    /// The flow `id`, if recorded.
    ///
    /// # Errors
    ///
    /// Database failure.
    pub async fn flow(&self, id: &str) -> Result<Option<Flow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, provider, user_id, status, reason, browser_binding, expires_at FROM authhost_flows WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(flow_from_row).transpose()
    }

    /// Sets a flow's status (and reason), dropping any held grant.
    ///
    /// # Errors
    ///
    /// Database failure.
    pub async fn finish_flow(
        &self,
        id: &str,
        status: FlowStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE authhost_flows SET status = $2, reason = $3, key_id = NULL, nonce = NULL, ciphertext = NULL, confirm_hash = NULL, updated_at = $4 WHERE id = $1")
            .bind(id)
            .bind(status.as_str())
            .bind(reason)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Holds `tokens` (encrypted) in flow `id` until someone confirms it
    /// with the token whose SHA-256 is `confirm_hash`.
    ///
    /// # Errors
    ///
    /// Database failure.
    pub async fn hold_grant(
        &self,
        id: &str,
        tokens: &TokenSet,
        confirm_hash: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let plaintext = token_row::serialize(tokens);
        let sealed = self.with_keys(|k| k.seal(plaintext.as_bytes(), &held_aad(id)));
        sqlx::query("UPDATE authhost_flows SET status = $2, key_id = $3, nonce = $4, ciphertext = $5, confirm_hash = $6, expires_at = $7, updated_at = $8 WHERE id = $1")
            .bind(id)
            .bind(FlowStatus::AwaitingConfirmation.as_str())
            .bind(&sealed.key_id)
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .bind(confirm_hash)
            .bind(expires_at)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Takes the grant held under `confirm_hash`, atomically: the first
    /// caller gets the flow and its tokens, every later one `None`. The
    /// caller then finishes the flow with [`finish_flow`](Self::finish_flow),
    /// which drops the sealed grant.
    ///
    /// # Errors
    ///
    /// Database failure; a held grant that does not decrypt.
    pub async fn take_held_grant(
        &self,
        confirm_hash: &str,
    ) -> Result<Option<(Flow, TokenSet)>, StoreError> {
        // Clearing confirm_hash claims the grant (once); the sealed grant
        // stays in the row, is returned, and is dropped by `finish_flow`.
        let row = sqlx::query(
            "UPDATE authhost_flows SET confirm_hash = NULL, updated_at = $2 WHERE confirm_hash = $1 AND ciphertext IS NOT NULL RETURNING id, provider, user_id, status, reason, browser_binding, expires_at, key_id, nonce, ciphertext",
        )
        .bind(confirm_hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let flow = flow_from_row(&row)?;
        let sealed = Sealed {
            key_id: row
                .try_get::<Option<String>, _>("key_id")?
                .unwrap_or_default(),
            nonce: row
                .try_get::<Option<Vec<u8>>, _>("nonce")?
                .unwrap_or_default(),
            ciphertext: row
                .try_get::<Option<Vec<u8>>, _>("ciphertext")?
                .unwrap_or_default(),
        };
        let plaintext = self
            .with_keys(|k| k.open(&sealed, &held_aad(&flow.id)))
            .map_err(|reason| StoreError::Undecryptable {
                provider: flow.provider.clone(),
                user: flow.user.clone(),
                reason,
            })?;
        let tokens =
            token_row::deserialize(&plaintext).ok_or_else(|| StoreError::Undecryptable {
                provider: flow.provider.clone(),
                user: flow.user.clone(),
                reason: super::OpenError::Tampered,
            })?;
        Ok(Some((flow, tokens)))
    }
}
