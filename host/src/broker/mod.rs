//! The broker: the one entry point that turns (provider, user[, request])
//! into credentials, or "authorization required".
//!
//! - Credentials with an expiry are cached in memory until their refresh
//!   point: the expiry minus a margin (10% of the lifetime, at least 30 s,
//!   at most half the lifetime).
//! - Per-user OAuth tokens live in the [`TokenStore`]. Refresh is
//!   single-flight per (provider, user): inside the process through a
//!   per-key mutex, across processes through the store's refresh lock; the
//!   row is re-read after taking the lock and written with compare-and-swap.
//! - `invalid_grant` under the lock means the grant is dead (the row was
//!   just re-read, so no other replica rotated it): the row is deleted and
//!   the user must authorize again. Timeouts and 5xx keep the grant, back
//!   off, and serve the current token while it has not expired.

mod grants;
mod keep_alive;

pub use grants::{GrantStatus, Revocation};
pub use keep_alive::{KeepAlive, KeepAliveTarget, Round};

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, PoisonError, RwLock,
    },
};

use authhost_plugin_api::{
    AuthContext, AuthOutcome, Capabilities, Credential, ErrorKind, OutgoingRequest, Secret,
    TokenSet,
};

use crate::{
    clock::now,
    plugin::{CallError, ProviderHandle},
    store::{StoreError, StoredTokens, TokenStore},
};

/// Key of per-user entries of shared providers.
const SHARED_USER: &str = "\0shared";

/// How long a provider is left alone after a transient refresh failure.
const BACKOFF_SECS: i64 = 15;

/// What the broker answers.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// Credentials to apply.
    Ready(Arc<[Credential]>),
    /// The user must authorize the provider first.
    AuthorizationRequired {
        /// Why, in a short sentence.
        reason: String,
    },
}

/// Why the broker could not answer.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The plugin failed or timed out.
    #[error(transparent)]
    Provider(#[from] CallError),
    /// The token store failed, or a row does not decrypt.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An interactive provider, but no store was opened.
    #[error("provider `{0}` keeps per-user tokens, but no token store is open")]
    NoStore(String),
    /// The provider exchanges the caller's token, and the call came
    /// without one.
    #[error("provider `{0}` exchanges the caller's own token, and this call presented none (inbound auth must be `jwt` or an authenticator, or `authhost call --caller-token-env`)")]
    NoCallerToken(String),
    /// A refresh failed transiently and the token has expired.
    #[error("refreshing `{provider}` for user `{user}` failed ({reason}); the grant is kept and will be retried")]
    RefreshFailed {
        /// The provider instance.
        provider: String,
        /// The user.
        user: String,
        /// Why (no secret).
        reason: String,
    },
}

#[derive(Debug, Clone)]
struct Cached {
    credentials: Arc<[Credential]>,
    refresh_at: i64,
    /// The version of the token row these credentials come from (stored
    /// grants): checked again against the row every `revalidate_after`.
    version: Option<i64>,
    checked_at: i64,
    /// The scopes of the stored grant.
    scopes: Option<Arc<[String]>>,
}

/// What the cache holds for a (provider, user).
enum Lookup {
    /// Usable as it is.
    Hit(Arc<[Credential]>),
    /// Usable if the row still has `version`.
    Recheck(Arc<[Credential]>, i64),
    /// Nothing usable.
    Miss,
}

/// How often, at most, cached credentials of a stored grant are checked
/// against the row's version by default (the fallback when change
/// notifications are lost, and the only mechanism on SQLite).
pub const DEFAULT_REVALIDATE_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// Counters, for tests and metrics.
#[derive(Debug, Default)]
pub struct BrokerStats {
    /// Answers from the memory cache.
    pub cache_hits: AtomicU64,
    /// Refreshes sent to an authorization server.
    pub refreshes: AtomicU64,
    /// Refreshes that failed.
    pub refresh_failures: AtomicU64,
    /// Refreshes refused with `invalid_grant` (the grant was deleted).
    pub refresh_invalid_grant: AtomicU64,
    /// "authorization required" answers.
    pub authorization_required: AtomicU64,
    /// Entries dropped from a full in-memory map.
    pub evictions: AtomicU64,
    /// Refreshes by (provider instance, outcome: `ok`, `invalid_grant`,
    /// `transient`): bounded by the workflow's providers.
    pub refreshes_by_provider: Mutex<std::collections::BTreeMap<(String, &'static str), u64>>,
    /// This process holds the keep-alive leader lease.
    pub keep_alive_leader: std::sync::atomic::AtomicBool,
    /// Keep-alive refreshes by (provider instance, outcome: `ok`, `failed`).
    pub keep_alive_by_provider: Mutex<std::collections::BTreeMap<(String, &'static str), u64>>,
}

impl BrokerStats {
    fn keep_alive_outcome(&self, provider: &str, ok: bool) {
        *self
            .keep_alive_by_provider
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((provider.to_owned(), if ok { "ok" } else { "failed" }))
            .or_default() += 1;
    }

    fn refresh_outcome(&self, provider: &str, outcome: &'static str) {
        *self
            .refreshes_by_provider
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((provider.to_owned(), outcome))
            .or_default() += 1;
    }
}

/// One mutex per (provider, user) being fetched or refreshed.
type Flights = HashMap<(String, String), Arc<tokio::sync::Mutex<()>>>;

/// User-supplied credentials kept in memory: (provider, user) → document.
type Supplied = HashMap<(String, String), TokenSet>;

/// The broker. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Broker {
    store: Option<Arc<TokenStore>>,
    supplied: RwLock<Supplied>,
    cache: RwLock<HashMap<String, HashMap<String, Cached>>>,
    flights: Mutex<Flights>,
    backoff: Mutex<HashMap<(String, String), i64>>,
    revalidate_after: i64,
    /// Most entries each in-memory map holds.
    capacity: usize,
    /// Counters.
    pub stats: Arc<BrokerStats>,
}

/// Default of the broker's in-memory capacity (`general.limits.cache_entries`).
pub const DEFAULT_CAPACITY: usize = 100_000;

/// A read guard that survives a poisoned lock (the data is a cache: a panic
/// elsewhere must not switch it off).
fn read_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// A write guard that survives a poisoned lock.
fn write_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// The refresh point of credentials valid from `obtained` to `expires_at`.
pub fn refresh_at(obtained: i64, expires_at: i64) -> i64 {
    let lifetime = (expires_at - obtained).max(0);
    let margin = (lifetime / 10).max(30).min(lifetime / 2);
    expires_at - margin
}

impl Broker {
    /// A broker over `store` (needed for interactive providers).
    pub fn new(store: Option<Arc<TokenStore>>) -> Self {
        Self {
            store,
            supplied: RwLock::new(HashMap::new()),
            cache: RwLock::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
            backoff: Mutex::new(HashMap::new()),
            revalidate_after: DEFAULT_REVALIDATE_AFTER.as_secs() as i64,
            capacity: DEFAULT_CAPACITY,
            stats: Arc::default(),
        }
    }

    /// Each in-memory map (cache, supplied credentials, refresh locks)
    /// holds at most `capacity` entries; beyond, stale ones go first, then
    /// any, counted in [`BrokerStats::evictions`].
    #[must_use]
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Cached credentials of stored grants are checked against their row at
    /// most this often.
    #[must_use]
    pub fn with_revalidate_after(mut self, every: std::time::Duration) -> Self {
        self.revalidate_after = i64::try_from(every.as_secs()).unwrap_or(i64::MAX).max(1);
        self
    }

    /// Listens for other processes' changes to token rows (Postgres `NOTIFY`)
    /// and drops the cached entries they make stale; on a lost connection,
    /// drops every cached stored grant (notifications may have been lost).
    /// Does nothing on SQLite, where the version check is the mechanism.
    pub fn watch_store(self: &Arc<Self>) {
        let Some(store) = self.store.clone() else {
            return;
        };
        if store.backend() != crate::store::Backend::Postgres {
            return;
        }
        let broker = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let mut listener = match store.change_listener().await {
                    Ok(Some(listener)) => listener,
                    Ok(None) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for token changes; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        continue;
                    }
                };
                loop {
                    let received = listener.try_recv().await;
                    let Some(broker) = broker.upgrade() else {
                        return;
                    };
                    match received {
                        Ok(Some(notification)) => {
                            if let Some((provider, user)) =
                                crate::store::parse_change(notification.payload())
                            {
                                broker.forget(&provider, &user);
                            }
                        }
                        Ok(None) => {
                            tracing::info!(
                                "token change listener reconnecting; cached grants dropped"
                            );
                            broker.forget_stored_grants();
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "token change listener failed; reconnecting");
                            broker.forget_stored_grants();
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                            break;
                        }
                    }
                }
            }
        });
    }

    /// Drops every cached entry that comes from a stored grant.
    fn forget_stored_grants(&self) {
        {
            let mut cache = write_lock(&self.cache);
            for users in cache.values_mut() {
                users.retain(|_, entry| entry.version.is_none());
            }
        }
    }

    /// The store, if one is open.
    pub fn store(&self) -> Option<&Arc<TokenStore>> {
        self.store.as_ref()
    }

    fn lookup(&self, provider: &str, user: &str, now: i64) -> Lookup {
        let cache = read_lock(&self.cache);
        let Some(entry) = cache.get(provider).and_then(|users| users.get(user)) else {
            return Lookup::Miss;
        };
        if now >= entry.refresh_at {
            return Lookup::Miss;
        }
        match entry.version {
            Some(version) if now - entry.checked_at >= self.revalidate_after => {
                Lookup::Recheck(entry.credentials.clone(), version)
            }
            _ => Lookup::Hit(entry.credentials.clone()),
        }
    }

    fn cached(&self, provider: &str, user: &str, now: i64) -> Option<Arc<[Credential]>> {
        match self.lookup(provider, user, now) {
            Lookup::Hit(credentials) => Some(credentials),
            _ => None,
        }
    }

    /// The cached entry that must be checked against its row, used when the
    /// row still has its version (and marked checked), else dropped.
    async fn rechecked(
        &self,
        provider: &str,
        user: &str,
    ) -> Result<Option<Arc<[Credential]>>, BrokerError> {
        let now = now();
        let Lookup::Recheck(credentials, version) = self.lookup(provider, user, now) else {
            return Ok(None);
        };
        let Some(store) = &self.store else {
            return Ok(None);
        };
        if store.row_version(provider, user).await? == Some(version) {
            {
                let mut cache = write_lock(&self.cache);
                if let Some(entry) = cache.get_mut(provider).and_then(|u| u.get_mut(user)) {
                    entry.checked_at = now;
                }
            }
            return Ok(Some(credentials));
        }
        self.forget(provider, user);
        Ok(None)
    }

    fn remember(
        &self,
        provider: &str,
        user: &str,
        credentials: Arc<[Credential]>,
        refresh_at: i64,
        grant: Option<(i64, &[String])>,
    ) {
        {
            let mut cache = write_lock(&self.cache);
            cache.entry(provider.to_owned()).or_default().insert(
                user.to_owned(),
                Cached {
                    credentials,
                    refresh_at,
                    version: grant.map(|(version, _)| version),
                    checked_at: now(),
                    scopes: grant.map(|(_, scopes)| scopes.into()),
                },
            );
            let entries: usize = cache.values().map(HashMap::len).sum();
            if entries > self.capacity {
                let now = now();
                for users in cache.values_mut() {
                    users.retain(|_, entry| entry.refresh_at > now);
                }
                let mut over = cache
                    .values()
                    .map(HashMap::len)
                    .sum::<usize>()
                    .saturating_sub(self.capacity);
                for users in cache.values_mut() {
                    while over > 0 {
                        let Some(victim) = users.keys().next().cloned() else {
                            break;
                        };
                        users.remove(&victim);
                        over -= 1;
                        self.stats.evictions.fetch_add(1, Ordering::Relaxed);
                    }
                }
                cache.retain(|_, users| !users.is_empty());
            }
        }
    }

    /// Keeps `map` within the broker's capacity: entries `stale` says are
    /// dead go first, then any (counted as evictions).
    fn bound<K: Clone + Eq + std::hash::Hash, V>(
        &self,
        map: &mut HashMap<K, V>,
        stale: impl Fn(&V) -> bool,
    ) {
        if map.len() <= self.capacity {
            return;
        }
        map.retain(|_, v| !stale(v));
        while map.len() > self.capacity {
            let Some(victim) = map.keys().next().cloned() else {
                break;
            };
            map.remove(&victim);
            self.stats.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The scopes `user`'s stored grant for `provider` holds, if there is
    /// one: from the cache, else from the row.
    ///
    /// # Errors
    ///
    /// The store fails.
    pub async fn granted_scopes(
        &self,
        provider: &str,
        user: &str,
    ) -> Result<Option<Vec<String>>, BrokerError> {
        let cached = Some(read_lock(&self.cache)).and_then(|c| {
            c.get(provider)
                .and_then(|u| u.get(user))
                .and_then(|e| e.scopes.as_deref().map(<[String]>::to_vec))
        });
        if cached.is_some() {
            return Ok(cached);
        }
        let Some(store) = &self.store else {
            return Ok(None);
        };
        Ok(store
            .list(Some(provider), Some(user))
            .await?
            .into_iter()
            .next()
            .map(|row| row.scopes))
    }

    /// Drops what the cache holds for (provider, user), e.g. after a logout.
    pub fn forget(&self, provider: &str, user: &str) {
        {
            let mut cache = write_lock(&self.cache);
            if let Some(users) = cache.get_mut(provider) {
                users.remove(user);
            }
        }
    }

    fn flight(&self, provider: &str, user: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        if flights.len() > self.capacity {
            // Mutexes nobody waits on or holds are only the map's.
            flights.retain(|_, flight| Arc::strong_count(flight) > 1);
        }
        flights
            .entry((provider.to_owned(), user.to_owned()))
            .or_default()
            .clone()
    }

    /// What a [`Capabilities::CALLER_TOKEN`] provider gives for the caller's
    /// `token`: cached per (instance, token digest) until its refresh
    /// point, asked for once however many calls present the token at once.
    async fn exchanged(
        &self,
        provider: &ProviderHandle,
        user: &str,
        token: &Secret,
    ) -> Result<Credentials, BrokerError> {
        use sha2::{Digest, Sha256};
        let key = format!(
            "\0caller {}",
            hex::encode(Sha256::digest(token.expose().as_bytes()))
        );
        let name = provider.instance();
        if let Some(hit) = self.cached(name, &key, now()) {
            self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Credentials::Ready(hit));
        }
        let flight = self.flight(name, &key);
        let _guard = flight.lock().await;
        if let Some(hit) = self.cached(name, &key, now()) {
            self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Credentials::Ready(hit));
        }
        let obtained = now();
        let ctx = AuthContext {
            user_id: user.to_owned(),
            tokens: Some(TokenSet {
                access_token: token.clone(),
                token_type: "Bearer".to_owned(),
                refresh_token: None,
                id_token: None,
                expires_at: None,
                scopes: Vec::new(),
                extra: serde_json::Map::new(),
            }),
            request: None,
        };
        let outcome = provider.authenticate(&ctx).await?;
        if let AuthOutcome::Credentials {
            credentials,
            expires_at: Some(expires_at),
        } = &outcome
        {
            self.remember(
                name,
                &key,
                credentials.clone().into(),
                refresh_at(obtained, *expires_at),
                None,
            );
        }
        Ok(self.outcome(outcome))
    }

    /// Credentials from the memory cache only: the hot path.
    pub fn cached_credentials(
        &self,
        provider: &ProviderHandle,
        user: &str,
    ) -> Option<Arc<[Credential]>> {
        let user = if provider.capabilities().contains(Capabilities::SHARED) {
            SHARED_USER
        } else {
            user
        };
        let hit = self.cached(provider.instance(), user, now());
        if hit.is_some() {
            self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
        }
        hit
    }

    /// Credentials for `user` from `provider`, for `request` when known;
    /// `caller_token` is the bearer token the caller presented, which
    /// [`Capabilities::CALLER_TOKEN`] providers exchange.
    ///
    /// # Errors
    ///
    /// The provider's failure, a store failure (an undecryptable row is
    /// reported, never served), or a refresh that failed after expiry.
    #[tracing::instrument(name = "credentials", skip_all, fields(provider = %provider.instance()))]
    pub async fn credentials(
        &self,
        provider: &ProviderHandle,
        user: &str,
        caller_token: Option<&Secret>,
        request: Option<OutgoingRequest>,
    ) -> Result<Credentials, BrokerError> {
        let caps = provider.capabilities();
        if caps.contains(Capabilities::CALLER_TOKEN) {
            let token = caller_token
                .ok_or_else(|| BrokerError::NoCallerToken(provider.instance().to_owned()))?;
            return self.exchanged(provider, user, token).await;
        }
        if caps.contains(Capabilities::PER_REQUEST) {
            let ctx = AuthContext {
                user_id: user.to_owned(),
                tokens: None,
                request,
            };
            return Ok(self.outcome(provider.authenticate(&ctx).await?));
        }
        let key_user = if caps.contains(Capabilities::SHARED) {
            SHARED_USER
        } else {
            user
        };
        if let Some(hit) = self.cached_credentials(provider, user) {
            return Ok(Credentials::Ready(hit));
        }
        let flight = self.flight(provider.instance(), key_user);
        let _guard = flight.lock().await;
        if let Some(hit) = self.cached(provider.instance(), key_user, now()) {
            self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Credentials::Ready(hit));
        }
        if let Some(hit) = self.rechecked(provider.instance(), key_user).await? {
            self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Credentials::Ready(hit));
        }
        if caps.contains(Capabilities::USER_SUPPLIED) {
            return self.user_supplied(provider, user).await;
        }
        if !caps.contains(Capabilities::INTERACTIVE) {
            let obtained = now();
            let outcome = provider.authenticate(&AuthContext::for_user(user)).await?;
            if let AuthOutcome::Credentials {
                credentials,
                expires_at: Some(expires_at),
            } = &outcome
            {
                self.remember(
                    provider.instance(),
                    key_user,
                    credentials.clone().into(),
                    refresh_at(obtained, *expires_at),
                    None,
                );
            }
            return Ok(self.outcome(outcome));
        }
        let name = provider.instance();
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| BrokerError::NoStore(name.to_owned()))?;
        let Some(stored) = store.get(name, user).await? else {
            return Ok(
                self.authorization_required(format!("user `{user}` has not authorized `{name}`"))
            );
        };
        let now = now();
        let due = Self::stored_refresh_at(&stored);
        if now < due {
            return self
                .serve(
                    provider,
                    user,
                    stored.tokens,
                    due,
                    Some(stored.meta.version),
                )
                .await;
        }
        let backing_off = self
            .backoff
            .lock()
            .map(|b| {
                b.get(&(name.to_owned(), user.to_owned()))
                    .is_some_and(|until| now < *until)
            })
            .unwrap_or(false);
        let expired = stored.tokens.expires_at.is_some_and(|e| e <= now);
        if backing_off
            || !caps.contains(Capabilities::REFRESHABLE)
            || stored.tokens.refresh_token.is_none()
        {
            if !expired {
                let until = stored
                    .tokens
                    .expires_at
                    .unwrap_or(now + BACKOFF_SECS)
                    .min(now + BACKOFF_SECS);
                return self
                    .serve(
                        provider,
                        user,
                        stored.tokens,
                        until,
                        Some(stored.meta.version),
                    )
                    .await;
            }
            if backing_off {
                return Err(BrokerError::RefreshFailed {
                    provider: name.to_owned(),
                    user: user.to_owned(),
                    reason: stored
                        .meta
                        .last_error
                        .unwrap_or_else(|| "a recent refresh failed".to_owned()),
                });
            }
            return Ok(self.authorization_required(format!(
                "the token of user `{user}` for `{name}` expired and cannot be refreshed"
            )));
        }
        self.refresh(provider, store, user).await
    }

    /// Credentials a user supplied: from memory, else from the store.
    async fn user_supplied(
        &self,
        provider: &ProviderHandle,
        user: &str,
    ) -> Result<Credentials, BrokerError> {
        let name = provider.instance();
        let now = now();
        let in_memory = Some(read_lock(&self.supplied))
            .and_then(|s| s.get(&(name.to_owned(), user.to_owned())).cloned());
        let tokens = match in_memory {
            Some(tokens) => Some((tokens, None)),
            None => match &self.store {
                Some(store) => store
                    .get(name, user)
                    .await?
                    .map(|s| (s.tokens, Some(s.meta.version))),
                None => None,
            },
        };
        match tokens.filter(|(t, _)| t.expires_at.is_none_or(|e| e > now)) {
            Some((tokens, version)) => {
                let until = tokens.expires_at.unwrap_or(i64::MAX);
                self.serve(provider, user, tokens, until, version).await
            }
            None => Ok(self.authorization_required(format!(
                "user `{user}` has not supplied credentials for `{name}` (or they expired)"
            ))),
        }
    }

    /// Keeps credentials `user` supplied for `provider` (a JSON document the
    /// provider understands) for the instance's TTL, in memory or — when the
    /// instance stores user credentials — encrypted in the store. The
    /// provider checks them first. Returns when they expire.
    ///
    /// # Errors
    ///
    /// The provider refuses the document ([`BrokerError::Provider`]), or the
    /// store fails.
    pub async fn supply(
        &self,
        provider: &ProviderHandle,
        user: &str,
        document: &str,
    ) -> Result<i64, BrokerError> {
        let name = provider.instance();
        let expires_at = authhost_plugin_api::expires_after(
            now(),
            u64::try_from(provider.supplied_ttl_secs()).unwrap_or(0),
        );
        let tokens = TokenSet {
            access_token: authhost_plugin_api::Secret::new(document),
            token_type: "user_supplied".to_owned(),
            refresh_token: None,
            id_token: None,
            expires_at: Some(expires_at),
            scopes: Vec::new(),
            extra: serde_json::Map::new(),
        };
        let check = AuthContext {
            user_id: user.to_owned(),
            tokens: Some(tokens.clone()),
            request: None,
        };
        provider.authenticate(&check).await?;
        if provider.stores_user_credentials() {
            let store = self
                .store
                .as_ref()
                .ok_or_else(|| BrokerError::NoStore(name.to_owned()))?;
            store.put(name, user, &tokens, None).await?;
        } else {
            let mut supplied = write_lock(&self.supplied);
            supplied.insert((name.to_owned(), user.to_owned()), tokens);
            self.bound(&mut supplied, |t| t.expires_at.is_some_and(|e| e <= now()));
        }
        self.forget(name, user);
        Ok(expires_at)
    }

    /// Drops what `user` supplied for `provider` (memory and store); whether
    /// there was anything.
    ///
    /// # Errors
    ///
    /// The store fails.
    pub async fn remove_supplied(&self, provider: &str, user: &str) -> Result<bool, BrokerError> {
        let in_memory = write_lock(&self.supplied)
            .remove(&(provider.to_owned(), user.to_owned()))
            .is_some();
        let stored = match &self.store {
            Some(store) => store.delete(provider, user).await?,
            None => false,
        };
        self.forget(provider, user);
        Ok(in_memory || stored)
    }

    /// Whether `user` has unexpired supplied credentials for `provider`, and until when.
    pub async fn supplied_until(
        &self,
        provider: &str,
        user: &str,
    ) -> Result<Option<i64>, BrokerError> {
        let now = now();
        if let Some(t) = Some(read_lock(&self.supplied))
            .and_then(|s| s.get(&(provider.to_owned(), user.to_owned())).cloned())
        {
            return Ok(t.expires_at.filter(|e| *e > now));
        }
        match &self.store {
            Some(store) => Ok(store
                .list(Some(provider), Some(user))
                .await?
                .into_iter()
                .next()
                .and_then(|r| r.expires_at)
                .filter(|e| *e > now)),
            None => Ok(None),
        }
    }

    fn stored_refresh_at(stored: &StoredTokens) -> i64 {
        match stored.tokens.expires_at {
            Some(expires_at) => refresh_at(stored.meta.obtained_at.min(expires_at), expires_at),
            None => i64::MAX,
        }
    }

    /// "Authorization required", counted.
    fn authorization_required(&self, reason: String) -> Credentials {
        self.stats
            .authorization_required
            .fetch_add(1, Ordering::Relaxed);
        Credentials::AuthorizationRequired { reason }
    }

    fn outcome(&self, outcome: AuthOutcome) -> Credentials {
        match outcome {
            AuthOutcome::Credentials { credentials, .. } => Credentials::Ready(credentials.into()),
            AuthOutcome::AuthorizationRequired { reason } => self.authorization_required(reason),
        }
    }

    /// Asks the plugin for credentials from stored tokens and caches them.
    async fn serve(
        &self,
        provider: &ProviderHandle,
        user: &str,
        tokens: TokenSet,
        refresh_at: i64,
        version: Option<i64>,
    ) -> Result<Credentials, BrokerError> {
        let scopes = tokens.scopes.clone();
        let ctx = AuthContext {
            user_id: user.to_owned(),
            tokens: Some(tokens),
            request: None,
        };
        let obtained = now();
        let outcome = provider.authenticate(&ctx).await?;
        if let AuthOutcome::Credentials {
            credentials,
            expires_at,
        } = &outcome
        {
            // Credentials the provider made from the stored ones (a token
            // fetched with a user's own client) may expire sooner.
            let refresh_at = match expires_at {
                Some(expires_at) => refresh_at.min(self::refresh_at(obtained, *expires_at)),
                None => refresh_at,
            };
            self.remember(
                provider.instance(),
                user,
                credentials.clone().into(),
                refresh_at,
                version.map(|v| (v, scopes.as_slice())),
            );
        }
        Ok(self.outcome(outcome))
    }

    /// The refresh protocol, under the cross-process lock. The round trip
    /// and the write of its result run in a task of their own: a caller
    /// that gives up (a client that disconnects, a shorter deadline) never
    /// cuts off a refresh the server may already have acted on, and the new
    /// tokens are stored whatever happens to the caller.
    async fn refresh(
        &self,
        provider: &ProviderHandle,
        store: &Arc<TokenStore>,
        user: &str,
    ) -> Result<Credentials, BrokerError> {
        let outcome = self.refresh_outcome(provider, store, user, None).await?;
        self.settle(provider, user, outcome).await
    }

    /// Runs [`refresh_and_store`] detached and waits for its outcome.
    async fn refresh_outcome(
        &self,
        provider: &ProviderHandle,
        store: &Arc<TokenStore>,
        user: &str,
        rejected_version: Option<i64>,
    ) -> Result<Refreshed, BrokerError> {
        let task = tokio::spawn(refresh_and_store(
            provider.clone(),
            store.clone(),
            user.to_owned(),
            self.stats.clone(),
            rejected_version,
        ));
        match task.await {
            Ok(outcome) => outcome,
            Err(e) => Err(BrokerError::RefreshFailed {
                provider: provider.instance().to_owned(),
                user: user.to_owned(),
                reason: format!("the refresh task failed ({e})"),
            }),
        }
    }

    /// The upstream answered 401 to credentials of `user`'s stored grant
    /// that were believed valid: refreshes once (unless another caller just
    /// did) and says whether a retry may get other credentials — `false`
    /// for providers without refresh and for a refresh that failed
    /// transiently.
    ///
    /// # Errors
    ///
    /// As [`credentials`](Self::credentials).
    pub async fn refresh_rejected(
        &self,
        provider: &ProviderHandle,
        user: &str,
    ) -> Result<bool, BrokerError> {
        let (Some(store), true) = (self.store.as_ref(), provider.refreshes_user_grants()) else {
            return Ok(false);
        };
        let name = provider.instance();
        let flight = self.flight(name, user);
        let _guard = flight.lock().await;
        let cached_version = Some(read_lock(&self.cache)).and_then(|c| {
            c.get(name)
                .and_then(|u| u.get(user))
                .and_then(|e| e.version)
        });
        self.forget(name, user);
        let version = match cached_version {
            Some(version) => Some(version),
            None => store.row_version(name, user).await?,
        };
        let Some(version) = version else {
            // The grant is gone: the retry finds out and asks for authorization.
            return Ok(true);
        };
        tracing::info!(
            provider = name,
            user,
            "the upstream refused the token; refreshing once"
        );
        let outcome = self
            .refresh_outcome(provider, store, user, Some(version))
            .await?;
        let retry = !matches!(
            outcome,
            Refreshed::Failed { .. } | Refreshed::Unresolved { .. }
        );
        self.settle(provider, user, outcome).await?;
        Ok(retry)
    }

    /// Acts on a refresh's outcome: backoff, cache, the answer.
    async fn settle(
        &self,
        provider: &ProviderHandle,
        user: &str,
        outcome: Refreshed,
    ) -> Result<Credentials, BrokerError> {
        let name = provider.instance();
        match outcome {
            Refreshed::NotAuthorized => {
                Ok(self
                    .authorization_required(format!("user `{user}` has not authorized `{name}`")))
            }
            Refreshed::ByAnother(current) => {
                let at = Self::stored_refresh_at(&current);
                self.serve(
                    provider,
                    user,
                    current.tokens,
                    at,
                    Some(current.meta.version),
                )
                .await
            }
            Refreshed::Fresh {
                tokens,
                at,
                version,
            } => {
                {
                    let mut backoff = self.backoff.lock().unwrap_or_else(PoisonError::into_inner);
                    backoff.remove(&(name.to_owned(), user.to_owned()));
                }
                self.serve(provider, user, tokens, at, version).await
            }
            Refreshed::Unresolved { current, version } => match current.expires_at {
                Some(expires_at) if expires_at > now() => {
                    self.serve(provider, user, current, expires_at, Some(version))
                        .await
                }
                _ => Ok(self.authorization_required(format!(
                    "the last refresh of `{name}` for user `{user}` was sent but never answered, and the server may have used its refresh token up; sending it again could end the grant: authorize again"
                ))),
            },
            Refreshed::Gone => {
                self.forget(name, user);
                self.stats
                    .authorization_required
                    .fetch_add(1, Ordering::Relaxed);
                Ok(Credentials::AuthorizationRequired {
                    reason: format!("the grant of user `{user}` for `{name}` was revoked or has expired; authorize again"),
                })
            }
            Refreshed::Failed {
                reason,
                current,
                version,
                failed_at,
            } => {
                // The backoff and the expiry are judged from the moment the
                // refresh failed, not from before the round trip.
                {
                    let mut backoff = self.backoff.lock().unwrap_or_else(PoisonError::into_inner);
                    backoff.retain(|_, until| *until > failed_at);
                    backoff.insert((name.to_owned(), user.to_owned()), failed_at + BACKOFF_SECS);
                }
                match current.expires_at {
                    Some(expires_at) if expires_at <= failed_at => {
                        Err(BrokerError::RefreshFailed {
                            provider: name.to_owned(),
                            user: user.to_owned(),
                            reason,
                        })
                    }
                    // Served while it lasts, never past its expiry.
                    expires_at => {
                        let until = expires_at.unwrap_or(i64::MAX).min(failed_at + BACKOFF_SECS);
                        self.serve(provider, user, current, until, Some(version))
                            .await
                    }
                }
            }
        }
    }
}

/// What a refresh under the lock came to.
enum Refreshed {
    /// No row (any more).
    NotAuthorized,
    /// Another process refreshed while this one waited for the lock.
    ByAnother(StoredTokens),
    /// New tokens, stored (as `version`); cache them until `at`.
    Fresh {
        tokens: TokenSet,
        at: i64,
        version: Option<i64>,
    },
    /// `invalid_grant`: the row was deleted.
    Gone,
    /// An earlier refresh's outcome is unknown and the server rotates (or
    /// may rotate) refresh tokens: the stored one is not sent again. The
    /// current access token serves until it expires; then the user must
    /// authorize again.
    Unresolved { current: TokenSet, version: i64 },
    /// A transient failure; the grant is kept.
    Failed {
        reason: String,
        current: TokenSet,
        version: i64,
        failed_at: i64,
    },
}

#[tracing::instrument(name = "refresh", skip_all, fields(provider = %provider.instance()))]
/// Takes the refresh lock of (provider, user), re-reads the row, refreshes
/// at the server when still due (or when the upstream refused the token of
/// the row's `rejected_version`), and stores the outcome. Runs detached from
/// the caller (see [`Broker::refresh`]).
async fn refresh_and_store(
    provider: ProviderHandle,
    store: Arc<TokenStore>,
    user: String,
    stats: Arc<BrokerStats>,
    rejected_version: Option<i64>,
) -> Result<Refreshed, BrokerError> {
    let name = provider.instance();
    let user = user.as_str();
    let mut lock = store.lock(name, user).await?;
    let Some(current) = lock.get().await? else {
        lock.release().await?;
        return Ok(Refreshed::NotAuthorized);
    };
    let now = now();
    // Not due — unless the upstream refused exactly this row's token.
    let rejected = rejected_version == Some(current.meta.version);
    if !rejected && now < Broker::stored_refresh_at(&current) {
        lock.release().await?;
        return Ok(Refreshed::ByAnother(current));
    }
    if current.meta.recheck_since.is_some() {
        lock.release().await?;
        return Ok(Refreshed::Unresolved {
            current: current.tokens,
            version: current.meta.version,
        });
    }
    stats.refreshes.fetch_add(1, Ordering::Relaxed);
    match provider.refresh(&current.tokens).await {
        Ok(mut fresh) => {
            let rotates = fresh.refresh_token.as_ref().is_some_and(|new| {
                current
                    .tokens
                    .refresh_token
                    .as_ref()
                    .is_none_or(|old| old.expose() != new.expose())
            });
            if fresh.refresh_token.is_none() {
                fresh.refresh_token = current.tokens.refresh_token.clone();
            }
            let written = lock.put(&fresh, current.meta.version).await?;
            if current.meta.rotates != Some(rotates) {
                lock.record_rotation(rotates).await?;
            }
            lock.release().await?;
            if written.is_none() {
                // Cannot happen under the lock; keep the newer row if it does.
                tracing::warn!(
                    provider = name,
                    user,
                    "token row changed under the refresh lock"
                );
            }
            let at = fresh
                .expires_at
                .map(|e| refresh_at(now, e))
                .unwrap_or(i64::MAX);
            stats.refresh_outcome(name, "ok");
            tracing::info!(provider = name, user, "token refreshed");
            Ok(Refreshed::Fresh {
                tokens: fresh,
                at,
                version: written,
            })
        }
        Err(e) if e.kind() == Some(ErrorKind::InvalidGrant) => {
            stats.refresh_failures.fetch_add(1, Ordering::Relaxed);
            stats.refresh_invalid_grant.fetch_add(1, Ordering::Relaxed);
            stats.refresh_outcome(name, "invalid_grant");
            lock.delete().await?;
            lock.release().await?;
            tracing::warn!(
                provider = name,
                user,
                "refresh token refused (invalid_grant): the grant is gone"
            );
            Ok(Refreshed::Gone)
        }
        Err(e) => {
            let failed_at = crate::clock::now();
            stats.refresh_failures.fetch_add(1, Ordering::Relaxed);
            let reason = match &e {
                CallError::Plugin { error, .. } => error.to_string(),
                other => other.to_string(),
            };
            // Sent and never answered: the server may have used the refresh
            // token up. Sending it again is safe only if the server is known
            // to keep refresh tokens; else a reuse-detecting server would
            // revoke the whole grant.
            let unknown =
                matches!(e, CallError::Timeout { .. }) || e.kind() == Some(ErrorKind::Transport);
            if unknown && current.meta.rotates != Some(false) {
                stats.refresh_outcome(name, "unknown");
                lock.record_unknown_outcome(&reason).await?;
                lock.release().await?;
                tracing::warn!(provider = name, user, %reason, "refresh outcome unknown; its refresh token will not be sent again");
            } else {
                stats.refresh_outcome(name, "transient");
                lock.record_error(&reason).await?;
                lock.release().await?;
                tracing::warn!(provider = name, user, %reason, "refresh failed; the grant is kept");
            }
            Ok(Refreshed::Failed {
                reason,
                current: current.tokens,
                version: current.meta.version,
                failed_at,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 8: the broker's maps never shrank. Each holds at most its
    /// capacity; what goes is counted.
    #[test]
    fn the_cache_is_bounded_and_evictions_counted() {
        let broker = Broker::new(None).with_capacity(2);
        let far = now() + 3600;
        for user in ["a", "b", "c", "d", "e"] {
            broker.remember("p", user, Arc::from(Vec::new()), far, None);
        }
        let entries: usize = read_lock(&broker.cache).values().map(HashMap::len).sum();
        assert!(entries <= 2, "{entries} entries");
        assert_eq!(broker.stats.evictions.load(Ordering::Relaxed), 3);
        // Stale entries go first, without counting as evictions.
        let broker = Broker::new(None).with_capacity(2);
        broker.remember("p", "old1", Arc::from(Vec::new()), now() - 1, None);
        broker.remember("p", "old2", Arc::from(Vec::new()), now() - 1, None);
        broker.remember("p", "new", Arc::from(Vec::new()), far, None);
        assert_eq!(broker.stats.evictions.load(Ordering::Relaxed), 0);
        assert!(broker.cached("p", "new", now()).is_some());
    }

    /// Issue 8: refresh timing comes from when the tokens were obtained, not
    /// from the row's last write (a recorded error, a re-encryption).
    #[test]
    fn refresh_timing_ignores_later_writes() {
        let stored = StoredTokens {
            meta: crate::store::TokenRow {
                provider: "p".into(),
                user: "u".into(),
                version: 3,
                key_id: "k".into(),
                expires_at: Some(3600),
                scopes: vec![],
                created_at: 0,
                updated_at: 3300,
                obtained_at: 0,
                last_error: Some("the refresh failed: 503".into()),
                rotates: None,
                recheck_since: None,
            },
            tokens: TokenSet {
                access_token: authhost_plugin_api::Secret::new("a"),
                token_type: "Bearer".into(),
                refresh_token: None,
                id_token: None,
                expires_at: Some(3600),
                scopes: vec![],
                extra: serde_json::Map::new(),
            },
        };
        assert_eq!(Broker::stored_refresh_at(&stored), 3240);
    }

    #[test]
    fn refresh_points() {
        // 1 h token: refresh 6 min before expiry.
        assert_eq!(refresh_at(0, 3600), 3240);
        // 2 min token: at least 30 s early.
        assert_eq!(refresh_at(0, 120), 90);
        // 40 s token: never more than half the lifetime early.
        assert_eq!(refresh_at(0, 40), 20);
        assert_eq!(refresh_at(100, 50), 50);
    }
}
