//! What routes and CLI commands ask of stored grants, in one place: a
//! user's status with a provider, the rows an operator lists, completing an
//! authorization, disconnecting, and whether the store answers. Nothing
//! outside the broker reads or writes token rows, so the cache is always
//! told (`forget`) when a grant changes.

use authhost_plugin_api::{Capabilities, TokenSet};

use super::{Broker, BrokerError};
use crate::{
    plugin::ProviderHandle,
    store::{StoredTokens, TokenRow, TokenStore},
};

/// A user's standing with one provider instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantStatus {
    /// The provider keeps credentials per user (interactive or supplied).
    pub per_user: bool,
    /// Calls for this user can get credentials without the user acting.
    pub authorized: bool,
    /// When the current access token or supplied credentials expire.
    pub expires_at: Option<i64>,
    /// The scopes the grant holds (interactive providers).
    pub scopes: Vec<String>,
}

/// What [`Broker::disconnect`] did at the authorization server.
#[derive(Debug)]
pub enum Revocation {
    /// The server confirmed the revocation.
    Revoked,
    /// The provider cannot revoke at the server; only the local copy went.
    Unsupported,
    /// Revocation failed (reason, no secret); the local copy went anyway.
    Failed(String),
    /// The row could not be read (reason), so nothing could be revoked;
    /// the row went anyway.
    Unreadable(String),
    /// The credentials were supplied by the user; there is no server grant.
    Supplied,
}

impl Broker {
    fn require_store(&self, provider: &str) -> Result<&TokenStore, BrokerError> {
        self.store
            .as_deref()
            .ok_or_else(|| BrokerError::NoStore(provider.to_owned()))
    }

    /// `user`'s status with `provider`.
    ///
    /// # Errors
    ///
    /// The store fails.
    pub async fn status(
        &self,
        provider: &ProviderHandle,
        user: &str,
    ) -> Result<GrantStatus, BrokerError> {
        let capabilities = provider.capabilities();
        let name = provider.instance();
        if capabilities.contains(Capabilities::USER_SUPPLIED) {
            let until = self.supplied_until(name, user).await?;
            return Ok(GrantStatus {
                per_user: true,
                authorized: until.is_some(),
                expires_at: until,
                scopes: Vec::new(),
            });
        }
        if !capabilities.contains(Capabilities::INTERACTIVE) {
            return Ok(GrantStatus {
                per_user: false,
                authorized: true,
                expires_at: None,
                scopes: Vec::new(),
            });
        }
        let row = match &self.store {
            Some(store) => store.list(Some(name), Some(user)).await?.into_iter().next(),
            None => None,
        };
        Ok(match row {
            Some(row) => GrantStatus {
                per_user: true,
                // A grant whose last refresh went unanswered lives only as
                // long as its access token (see `Refreshed::Unresolved`).
                authorized: row.recheck_since.is_none()
                    || row.expires_at.is_some_and(|at| at > crate::clock::now()),
                expires_at: row.expires_at,
                scopes: row.scopes,
            },
            None => GrantStatus {
                per_user: true,
                authorized: false,
                expires_at: None,
                scopes: Vec::new(),
            },
        })
    }

    /// Metadata of the stored grants (never tokens), filtered, sorted by
    /// provider then user.
    ///
    /// # Errors
    ///
    /// No store is open, or it fails.
    pub async fn grants(
        &self,
        provider: Option<&str>,
        user: Option<&str>,
    ) -> Result<Vec<TokenRow>, BrokerError> {
        let store = self.require_store(provider.unwrap_or("*"))?;
        Ok(store.list(provider, user).await?)
    }

    /// The stored grant of `user` for `provider`, decrypted (for operators
    /// checking that a row opens; calls use [`credentials`](Self::credentials)).
    ///
    /// # Errors
    ///
    /// No store is open, it fails, or the row does not decrypt.
    pub async fn grant(
        &self,
        provider: &str,
        user: &str,
    ) -> Result<Option<StoredTokens>, BrokerError> {
        Ok(self.require_store(provider)?.get(provider, user).await?)
    }

    /// Completes an authorization: stores the grant `user` just gave
    /// `provider` (replacing any earlier one) and drops cached credentials.
    ///
    /// # Errors
    ///
    /// No store is open, or it fails.
    pub async fn save_grant(
        &self,
        provider: &str,
        user: &str,
        tokens: &TokenSet,
    ) -> Result<(), BrokerError> {
        self.require_store(provider)?
            .put(provider, user, tokens, None)
            .await?;
        self.forget(provider, user);
        tracing::info!(provider = %provider, user = %user, "authorization completed");
        Ok(())
    }

    /// Removes `user`'s credentials for `provider`: a stored grant is
    /// revoked at the server first when the provider can, then deleted;
    /// supplied credentials are dropped. `None` when there was nothing.
    ///
    /// # Errors
    ///
    /// The store fails (the grant is then still there).
    pub async fn disconnect(
        &self,
        provider: &ProviderHandle,
        user: &str,
    ) -> Result<Option<Revocation>, BrokerError> {
        let name = provider.instance();
        if provider
            .capabilities()
            .contains(Capabilities::USER_SUPPLIED)
        {
            let removed = self.remove_supplied(name, user).await?;
            return Ok(removed.then_some(Revocation::Supplied));
        }
        let store = self.require_store(name)?;
        let revocation = match store.get(name, user).await {
            Ok(None) => return Ok(None),
            Ok(Some(stored)) if provider.capabilities().contains(Capabilities::REVOCABLE) => {
                match provider.revoke(&stored.tokens).await {
                    Ok(()) => Revocation::Revoked,
                    Err(e) => Revocation::Failed(format!("{e:#}")),
                }
            }
            Ok(Some(_)) => Revocation::Unsupported,
            Err(e) => Revocation::Unreadable(e.to_string()),
        };
        if let Revocation::Failed(reason) | Revocation::Unreadable(reason) = &revocation {
            tracing::warn!(provider = %name, user = %user, reason = %reason, "revocation at the server not possible; deleting the grant anyway");
        }
        store.delete(name, user).await?;
        self.forget(name, user);
        Ok(Some(revocation))
    }

    /// Rotates the store's key online: every grant re-sealed with a new key,
    /// unused keys retired (see [`TokenStore::rotate_keys`]). Returns (new
    /// key id, grants re-sealed, retired key ids).
    ///
    /// # Errors
    ///
    /// No store is open, keys from the environment, file or database failures.
    pub async fn rotate_keys(&self) -> Result<(String, usize, Vec<String>), BrokerError> {
        Ok(self.require_store("*")?.rotate_keys().await?)
    }

    /// Whether the store (if any) answers a query.
    ///
    /// # Errors
    ///
    /// The store does not answer.
    pub async fn ready(&self) -> Result<(), BrokerError> {
        match &self.store {
            Some(store) => Ok(store.ping().await?),
            None => Ok(()),
        }
    }
}
