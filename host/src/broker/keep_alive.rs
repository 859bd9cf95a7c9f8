//! Keeping idle grants alive. Refresh tokens lapse when unused (Google's
//! after six months, many IdPs' after 30–90 days of inactivity); a user who
//! connected an account and then did not call a tool for a while would have
//! to connect again. For providers with `_keep_alive: 30d`, one process
//! among those sharing the store — the holder of the `keep_alive` leader
//! lease — refreshes every grant that has not been refreshed for that long,
//! at most `general.store.keep_alive_batch` per round, one round every
//! `general.store.keep_alive_every`.

use std::{
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use super::{Broker, BrokerError, Refreshed};
use crate::{clock::now, plugin::ProviderHandle, store::random_bytes};

/// The name of the leader lease.
const LEASE: &str = "keep_alive";

/// One provider instance to keep alive: grants idle for `after` are refreshed.
#[derive(Debug, Clone)]
pub struct KeepAliveTarget {
    /// The instance.
    pub provider: ProviderHandle,
    /// How long a grant may go without a refresh.
    pub after: Duration,
}

/// The keep-alive duty of one process.
#[derive(Debug)]
pub struct KeepAlive {
    broker: Arc<Broker>,
    targets: Vec<KeepAliveTarget>,
    every: Duration,
    batch: usize,
    owner: String,
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// This process held the lease.
    pub leader: bool,
    /// Grants refreshed.
    pub refreshed: usize,
    /// Refreshes that failed (the grant kept, or gone on `invalid_grant`).
    pub failed: usize,
}

impl KeepAlive {
    /// The duty for `targets`, a round every `every`, at most `batch`
    /// refreshes a round.
    pub fn new(
        broker: Arc<Broker>,
        targets: Vec<KeepAliveTarget>,
        every: Duration,
        batch: usize,
    ) -> Self {
        let mut nonce = [0u8; 8];
        random_bytes(&mut nonce);
        Self {
            broker,
            targets,
            every,
            batch,
            owner: format!("{}:{}", std::process::id(), hex::encode(nonce)),
        }
    }

    /// Runs rounds in the background until the runtime stops; nothing when
    /// there is no target or no store.
    pub fn spawn(self) {
        if self.targets.is_empty() || self.broker.store().is_none() {
            return;
        }
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(self.every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(e) = self.round().await {
                    tracing::warn!(error = %e, "keep-alive round failed");
                }
            }
        });
    }

    /// One round: take or renew the lease; as leader, refresh the idle
    /// grants, oldest first, up to the batch size.
    ///
    /// # Errors
    ///
    /// The store fails.
    pub async fn round(&self) -> Result<Round, BrokerError> {
        let Some(store) = self.broker.store().cloned() else {
            return Ok(Round::default());
        };
        // Three missed rounds hand the duty over.
        let leader = store.lead(LEASE, &self.owner, self.every * 3).await?;
        self.broker
            .stats
            .keep_alive_leader
            .store(leader, Ordering::Relaxed);
        let mut round = Round {
            leader,
            ..Round::default()
        };
        if !leader {
            return Ok(round);
        }
        let mut budget = self.batch;
        for target in &self.targets {
            let name = target.provider.instance();
            let idle_since = now() - i64::try_from(target.after.as_secs()).unwrap_or(i64::MAX);
            let mut idle: Vec<_> = self
                .broker
                .grants(Some(name), None)
                .await?
                .into_iter()
                .filter(|row| row.obtained_at <= idle_since && row.recheck_since.is_none())
                .collect();
            idle.sort_by_key(|row| row.obtained_at);
            for row in idle {
                if budget == 0 {
                    return Ok(round);
                }
                budget -= 1;
                // Without a refresh token there is nothing to keep alive;
                // refreshing would only end the grant early.
                let has_refresh_token = matches!(
                    self.broker.grant(name, &row.user).await,
                    Ok(Some(stored)) if stored.tokens.refresh_token.is_some()
                );
                if !has_refresh_token {
                    continue;
                }
                let outcome = self
                    .broker
                    .refresh_outcome(&target.provider, &store, &row.user, Some(row.version))
                    .await?;
                self.broker.forget(name, &row.user);
                let ok = matches!(outcome, Refreshed::Fresh { .. } | Refreshed::ByAnother(_));
                self.broker.stats.keep_alive_outcome(name, ok);
                if ok {
                    round.refreshed += 1;
                } else {
                    round.failed += 1;
                }
            }
        }
        Ok(round)
    }
}
