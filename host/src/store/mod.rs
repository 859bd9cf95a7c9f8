//! The token store: one encrypted row per (provider instance, user), in
//! SQLite (embedded default, WAL) or Postgres (several replicas), with the
//! same migrations. Rows carry a `version` for compare-and-swap, the id of
//! the key that sealed them, and the last refresh error. Authorization
//! states live here too, so any replica can finish a flow, once.

mod changes;
mod flows;
mod keys;
mod migrations;
mod token_row;

use std::{
    path::{Path, PathBuf},
    str::FromStr,
    sync::RwLock,
    time::Duration,
};

use sqlx::{
    any::{AnyConnectOptions, AnyPoolOptions},
    AnyPool, Row,
};

pub use changes::{parse_payload as parse_change, CHANNEL as CHANGE_CHANNEL};
pub use flows::{Flow, FlowStatus};
pub use keys::{random_bytes, KeyError, KeyRing, KeySource, OpenError, Sealed};
pub use token_row::{StoredTokens, TokenRow};

use authhost_plugin_api::TokenSet;

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Store failures. Messages never hold a token.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed. The driver's error is kept (callers may match
    /// on it) and said in the message, so it is not also a `source`.
    #[error("token store: {0}")]
    Database(sqlx::Error),
    /// Another process has held a refresh lease for longer than any token
    /// request takes.
    #[error("the refresh of user `{user}` for `{provider}` has been held by another process for over {LEASE_SECS} s")]
    LeaseHeld {
        /// The provider instance.
        provider: String,
        /// The user.
        user: String,
    },
    /// A row does not decrypt (moved from another row, altered, or its key is gone).
    #[error("the stored tokens of user `{user}` for `{provider}` {reason}; they are not used (run `authhost tokens revoke` and log in again)")]
    Undecryptable {
        /// The provider instance.
        provider: String,
        /// The user.
        user: String,
        /// Why.
        reason: OpenError,
    },
    /// Keys.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The URL is not a store URL.
    #[error("general.store.url: {0}")]
    Url(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

pub use crate::clock::now;

fn aad(provider: &str, user: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(provider.len() + user.len() + 1);
    aad.extend_from_slice(provider.as_bytes());
    aad.push(0);
    aad.extend_from_slice(user.as_bytes());
    aad
}

/// A pending authorization, as taken back by the callback.
#[derive(Debug)]
pub struct PendingState {
    /// The provider instance that started it.
    pub provider: String,
    /// The user who started it.
    pub user: String,
    /// The PKCE verifier.
    pub pkce_verifier: Option<authhost_plugin_api::Secret>,
    /// When it stops being accepted.
    pub expires_at: i64,
    /// Where to send the browser afterwards (server only).
    pub return_to: Option<String>,
}

/// The token store.
#[derive(Debug)]
pub struct TokenStore {
    pool: AnyPool,
    /// Postgres: the connections that take refresh locks (the main pool
    /// otherwise).
    lock_pool: AnyPool,
    backend: Backend,
    keys: RwLock<KeyRing>,
    /// The key file as last read (modification time, length), to notice
    /// another process's rotation before sealing.
    key_file_seen: std::sync::Mutex<Option<(std::time::SystemTime, u64)>>,
    location: String,
    /// The database URL (with its password), for the change listener.
    url: String,
}

/// The key file's modification time and length.
fn key_file_stamp(keys: &KeyRing) -> Option<(std::time::SystemTime, u64)> {
    let KeySource::File(path) = keys.source() else {
        return None;
    };
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Options for [`TokenStore::open`].
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// `general.store.url`; `None` for the default SQLite file.
    pub url: Option<String>,
    /// `general.store.key_file`.
    pub key_file: Option<PathBuf>,
    /// The value of `AUTHHOST_MASTER_KEY`.
    pub master_key: Option<authhost_plugin_api::Secret>,
    /// Postgres connections this process opens at most
    /// (`general.store.max_connections`); `None` for the default.
    pub max_connections: Option<u32>,
}

/// Postgres connections per process by default: with three replicas and
/// their change listeners, 75 of the server's default 100.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 24;

/// How a process's Postgres connections are shared: a third (at least 2)
/// for reads and writes, the rest for refresh locks (each refresh in
/// flight holds one while it waits for the token endpoint).
fn pool_sizes(max_connections: u32) -> (u32, u32) {
    let max = max_connections.max(4);
    let main = (max / 3).max(2);
    (main, max - main)
}

/// Which setting a refusal of [`StoreOptions::check`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreSetting {
    /// `general.store.url`.
    Url,
    /// `general.store.key_file`.
    KeyFile,
    /// The `AUTHHOST_MASTER_KEY` environment variable.
    MasterKey,
}

impl StoreOptions {
    /// The database URL to connect to, its backend, and the SQLite file.
    fn locate(&self) -> Result<(String, Backend, Option<PathBuf>), StoreError> {
        Ok(match self.url.as_deref() {
            None => {
                let path = default_sqlite_path();
                (
                    format!("sqlite://{}?mode=rwc", path.display()),
                    Backend::Sqlite,
                    Some(path),
                )
            }
            Some(u) if u.starts_with("sqlite:") => {
                let path = u
                    .trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:");
                let path = path.split('?').next().unwrap_or_default();
                if path.is_empty() || path == ":memory:" {
                    return Err(StoreError::Url("use a file path (sqlite:///var/lib/authhost/tokens.db): a memory database does not survive restarts".to_owned()));
                }
                (
                    format!("sqlite://{path}?mode=rwc"),
                    Backend::Sqlite,
                    Some(PathBuf::from(path)),
                )
            }
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                (u.to_owned(), Backend::Postgres, None)
            }
            Some(_) => {
                return Err(StoreError::Url(
                    "expected sqlite://PATH or postgres://…".to_owned(),
                ))
            }
        })
    }

    /// The refusals [`TokenStore::open`] makes before it reaches the
    /// database, made without writing anything, so `validate` makes them
    /// too: the URL, the key source a Postgres store needs, a master key
    /// that does not parse, an existing key file that does not read.
    ///
    /// # Errors
    ///
    /// The refusal and the setting it is about.
    pub fn check(&self) -> Result<(), (StoreSetting, StoreError)> {
        let (_, backend, _) = self.locate().map_err(|e| (StoreSetting::Url, e))?;
        match (&self.master_key, &self.key_file) {
            (Some(value), _) => KeyRing::from_env_value(value.expose())
                .map(drop)
                .map_err(|e| (StoreSetting::MasterKey, e.into())),
            (None, Some(file)) if file.exists() => KeyRing::from_file(file)
                .map(drop)
                .map_err(|e| (StoreSetting::KeyFile, e.into())),
            (None, None) if backend == Backend::Postgres => Err((
                StoreSetting::Url,
                KeyError::Missing(POSTGRES_NEEDS_A_KEY.to_owned()).into(),
            )),
            _ => Ok(()),
        }
    }
}

/// Why a Postgres store without a key source is refused.
const POSTGRES_NEEDS_A_KEY: &str = "a Postgres token store needs an encryption key: set AUTHHOST_MASTER_KEY (base64 of 32 bytes) or general.store.key_file";

/// Creates the SQLite database file readable by its owner only (and its
/// missing folders, 0700); an existing file is left as it is.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| StoreError::Url(format!("cannot create {}: {e}", dir.display())))?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Url(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

/// The default SQLite file: `$XDG_DATA_HOME/authhost/authhost.db`.
pub fn default_sqlite_path() -> PathBuf {
    crate::paths::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("authhost")
        .join("authhost.db")
}

impl TokenStore {
    /// Opens (creating if needed) the store and runs migrations. Returns a
    /// notice to show the operator when a key file was created.
    ///
    /// # Errors
    ///
    /// Bad URL, unreachable database, missing key for Postgres, bad keys.
    ///
    /// # Security
    ///
    /// A new SQLite file is created with mode 0600 (its folder, when
    /// created, 0700), like the key file; SQLite gives its `-wal` and `-shm`
    /// files the database file's mode.
    pub async fn open(options: &StoreOptions) -> Result<(Self, Option<String>), StoreError> {
        sqlx::any::install_default_drivers();
        let (url, backend, sqlite_path) = options.locate()?;
        if let Some(path) = &sqlite_path {
            create_private_file(path)?;
        }

        let mut notice = None;
        let keys = match (&options.master_key, &options.key_file) {
            (Some(value), _) => KeyRing::from_env_value(value.expose())?,
            (None, Some(file)) if file.exists() => KeyRing::from_file(file)?,
            (None, Some(file)) => {
                let ring = KeyRing::create_file(file)?;
                notice = Some(format!("created the token store key file {} (mode 0600); back it up: without it stored tokens cannot be read", file.display()));
                ring
            }
            (None, None) => match &sqlite_path {
                None => {
                    return Err(StoreError::Keys(KeyError::Missing(
                        POSTGRES_NEEDS_A_KEY.to_owned(),
                    )))
                }
                Some(db) => {
                    let file = db.with_extension("key");
                    if file.exists() {
                        KeyRing::from_file(&file)?
                    } else {
                        let ring = KeyRing::create_file(&file)?;
                        notice = Some(format!(
                            "created the token store key file {} (mode 0600) beside {}; back it up: without it stored tokens cannot be read",
                            file.display(),
                            db.display()
                        ));
                        ring
                    }
                }
            },
        };

        let connect =
            AnyConnectOptions::from_str(&url).map_err(|e| StoreError::Url(e.to_string()))?;
        let lock_connect = connect.clone();
        let (main_connections, lock_connections) =
            pool_sizes(options.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS));
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite {
                4
            } else {
                main_connections
            })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::query("PRAGMA busy_timeout = 30000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(connect)
            .await?;
        if backend == Backend::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        migrations::run(&pool, backend).await?;
        let lock_pool = match backend {
            Backend::Sqlite => pool.clone(),
            // Opened lazily: only refreshes use it. Waiting for a lock may
            // take as long as another process's token request.
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(lock_connections)
                .min_connections(0)
                .acquire_timeout(Duration::from_secs(120))
                .connect_lazy_with(lock_connect),
        };
        let location = sqlite_path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| redact_url(&url));
        Ok((
            Self {
                pool,
                lock_pool,
                backend,
                key_file_seen: std::sync::Mutex::new(key_file_stamp(&keys)),
                keys: RwLock::new(keys),
                location,
                url,
            },
            notice,
        ))
    }

    /// Which database.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The database file or URL (password removed).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The key ring (a copy; reads go through [`with_keys`](Self::with_keys)).
    pub fn keys(&self) -> KeyRing {
        self.with_keys(KeyRing::clone)
    }

    /// Runs `f` with the key ring, without copying it. When the key file
    /// changed since it was read (another process rotated), it is read
    /// again first: nothing new is sealed or signed with a key being
    /// retired, and what another process sealed or signed with a new key
    /// opens here at once.
    pub fn with_keys<R>(&self, f: impl FnOnce(&KeyRing) -> R) -> R {
        self.reload_changed_key_file();
        self.read_keys(f)
    }

    fn read_keys<R>(&self, f: impl FnOnce(&KeyRing) -> R) -> R {
        match self.keys.read() {
            Ok(keys) => f(&keys),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    /// Reads the key file again when its size or modification time changed.
    fn reload_changed_key_file(&self) {
        let stamp = self.read_keys(key_file_stamp);
        let mut seen = self
            .key_file_seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if stamp.is_none() || stamp == *seen {
            return;
        }
        let KeySource::File(path) = self.read_keys(|k| k.source().clone()) else {
            return;
        };
        match KeyRing::from_file(&path) {
            Ok(fresh) => {
                if let Ok(mut keys) = self.keys.write() {
                    *keys = fresh;
                }
                *seen = stamp;
                tracing::info!(file = %path.display(), "the key file changed; keys reloaded");
            }
            Err(e) => {
                tracing::warn!(error = %e, "the key file changed but cannot be read; keeping the loaded keys")
            }
        }
    }

    /// Seals tokens for a row.
    fn seal(&self, provider: &str, user: &str, tokens: &TokenSet) -> Sealed {
        let plaintext = token_row::serialize(tokens);
        self.with_keys(|k| k.seal(plaintext.as_bytes(), &aad(provider, user)))
    }

    /// Opens a row's tokens; reloads the key file once if the row was sealed
    /// with a key this process has not seen (another replica rotated).
    fn unseal(&self, provider: &str, user: &str, sealed: &Sealed) -> Result<TokenSet, StoreError> {
        let aad = aad(provider, user);
        let (mut result, source) = self.with_keys(|k| (k.open(sealed, &aad), k.source().clone()));
        if let Err(OpenError::UnknownKey(_)) = result {
            if let KeySource::File(path) = source {
                if let Ok(fresh) = KeyRing::from_file(&path) {
                    result = fresh.open(sealed, &aad);
                    if let Ok(mut keys) = self.keys.write() {
                        *keys = fresh;
                    }
                }
            }
        }
        let plaintext = result.map_err(|reason| StoreError::Undecryptable {
            provider: provider.to_owned(),
            user: user.to_owned(),
            reason,
        })?;
        token_row::deserialize(&plaintext).ok_or_else(|| StoreError::Undecryptable {
            provider: provider.to_owned(),
            user: user.to_owned(),
            reason: OpenError::Tampered,
        })
    }

    /// Reads and decrypts the tokens of (provider, user).
    ///
    /// # Errors
    ///
    /// Database failure, or [`StoreError::Undecryptable`].
    pub async fn get(
        &self,
        provider: &str,
        user: &str,
    ) -> Result<Option<StoredTokens>, StoreError> {
        let row = sqlx::query(token_row::SELECT_ONE)
            .bind(provider)
            .bind(user)
            .fetch_optional(&self.pool)
            .await?;
        self.decode(row.as_ref(), provider, user)
    }

    fn decode(
        &self,
        row: Option<&sqlx::any::AnyRow>,
        provider: &str,
        user: &str,
    ) -> Result<Option<StoredTokens>, StoreError> {
        let Some(row) = row else { return Ok(None) };
        let meta = TokenRow::from_row(row)?;
        let sealed = Sealed {
            key_id: row.try_get("key_id")?,
            nonce: row.try_get("nonce")?,
            ciphertext: row.try_get("ciphertext")?,
        };
        let tokens = self.unseal(provider, user, &sealed)?;
        Ok(Some(StoredTokens { meta, tokens }))
    }

    /// Stores tokens for (provider, user). With `expected_version`, only if
    /// the row still has that version (compare-and-swap); returns the new
    /// version, or `None` when the swap lost.
    ///
    /// # Errors
    ///
    /// Database failure.
    pub async fn put(
        &self,
        provider: &str,
        user: &str,
        tokens: &TokenSet,
        expected_version: Option<i64>,
    ) -> Result<Option<i64>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        self.put_on(&mut conn, provider, user, tokens, expected_version, true)
            .await
    }

    /// Writes a row; `obtained` says the tokens are new from the server
    /// (else a re-encryption: the time they were obtained is kept).
    async fn put_on(
        &self,
        conn: &mut sqlx::AnyConnection,
        provider: &str,
        user: &str,
        tokens: &TokenSet,
        expected_version: Option<i64>,
        obtained: bool,
    ) -> Result<Option<i64>, StoreError> {
        let sealed = self.seal(provider, user, tokens);
        let now = now();
        let scopes = tokens.scopes.join(" ");
        match expected_version {
            Some(version) => {
                let done = sqlx::query(token_row::UPDATE_CAS)
                    .bind(version + 1)
                    .bind(&sealed.key_id)
                    .bind(&sealed.nonce)
                    .bind(&sealed.ciphertext)
                    .bind(tokens.expires_at)
                    .bind(&scopes)
                    .bind(now)
                    .bind(provider)
                    .bind(user)
                    .bind(version)
                    .bind(obtained.then_some(now))
                    .execute(&mut *conn)
                    .await?;
                if done.rows_affected() != 1 {
                    return Ok(None);
                }
                self.announce_change(&mut *conn, provider, user).await?;
                Ok(Some(version + 1))
            }
            None => {
                let row = sqlx::query(token_row::UPSERT)
                    .bind(provider)
                    .bind(user)
                    .bind(&sealed.key_id)
                    .bind(&sealed.nonce)
                    .bind(&sealed.ciphertext)
                    .bind(tokens.expires_at)
                    .bind(&scopes)
                    .bind(now)
                    .fetch_one(&mut *conn)
                    .await?;
                self.announce_change(&mut *conn, provider, user).await?;
                Ok(Some(row.try_get("version")?))
            }
        }
    }

    /// Stores many users' tokens for one provider in one transaction (an
    /// import, or a benchmark's setup). Existing rows are replaced.
    ///
    /// # Errors
    ///
    /// Database failure; nothing is written then.
    pub async fn put_batch(
        &self,
        provider: &str,
        entries: &[(String, TokenSet)],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (user, tokens) in entries {
            self.put_on(&mut tx, provider, user, tokens, None, true)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the row of (provider, user); whether there was one.
    ///
    /// # Errors
    ///
    /// Database failure.
    pub async fn delete(&self, provider: &str, user: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let deleted = delete_on(&mut *tx, provider, user).await?;
        self.announce_change(&mut *tx, provider, user).await?;
        tx.commit().await?;
        Ok(deleted)
    }

    /// Row metadata (never tokens), filtered, sorted by provider then user.
    ///
    /// # Errors
    ///
    /// Database failure.
    pub async fn list(
        &self,
        provider: Option<&str>,
        user: Option<&str>,
    ) -> Result<Vec<TokenRow>, StoreError> {
        let rows = sqlx::query(token_row::SELECT_META)
            .bind(provider.unwrap_or(""))
            .bind(user.unwrap_or(""))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(TokenRow::from_row).collect()
    }

    /// Records why the last refresh of a row failed (no secret in `error`).
    ///
    /// # Errors
    ///
    /// Database failure.
    pub async fn record_error(
        &self,
        provider: &str,
        user: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        mark_on(&self.pool, provider, user, Mark::Error(error)).await
    }

    /// Takes the cross-process refresh lock of (provider, user): a
    /// transaction holding a Postgres advisory lock, or SQLite's write lock
    /// (`BEGIN IMMEDIATE`). Released by [`RefreshLock::release`], or rolled
    /// back if dropped.
    ///
    /// # Errors
    ///
    /// Database failure or lock timeout.
    pub async fn lock(&self, provider: &str, user: &str) -> Result<RefreshLock<'_>, StoreError> {
        let held = match self.backend {
            Backend::Sqlite => Held::Lease {
                owner: self.take_lease(provider, user).await?,
            },
            Backend::Postgres => {
                // A pool of its own: connections that wait on the lock or hold
                // it across a token request never starve other users' reads.
                let mut tx = self.lock_pool.begin().await?;
                sqlx::query("SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock(hashtextextended($1, 0))) AS l")
                    .bind(format!("authhost:{}:{provider}:{user}", provider.len()))
                    .fetch_one(&mut *tx)
                    .await?;
                Held::Advisory(tx)
            }
        };
        Ok(RefreshLock {
            store: self,
            held: Some(held),
            provider: provider.to_owned(),
            user: user.to_owned(),
        })
    }

    /// Takes the SQLite refresh lease of (provider, user): a row with an
    /// owner and an expiry, taken when absent, expired, or held by a process
    /// that no longer runs. No transaction stays open while it is held, so
    /// other users' reads and writes go on during the token request.
    async fn take_lease(&self, provider: &str, user: &str) -> Result<String, StoreError> {
        let mut nonce = [0u8; 16];
        random_bytes(&mut nonce);
        let owner = format!("{}:{}", std::process::id(), hex::encode(nonce));
        let started = std::time::Instant::now();
        loop {
            let now = now();
            let taken = sqlx::query(
                "INSERT INTO authhost_refresh_leases (provider, user_id, owner, expires_at) VALUES ($1, $2, $3, $4) ON CONFLICT (provider, user_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at WHERE authhost_refresh_leases.expires_at < $5",
            )
            .bind(provider)
            .bind(user)
            .bind(&owner)
            .bind(now + LEASE_SECS)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if taken == 1 {
                return Ok(owner);
            }
            // A holder that died (kill -9 mid-refresh) frees its lease at once.
            let holder: Option<String> = sqlx::query(
                "SELECT owner FROM authhost_refresh_leases WHERE provider = $1 AND user_id = $2",
            )
            .bind(provider)
            .bind(user)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| row.try_get("owner"))
            .transpose()?;
            if let Some(holder) = holder.filter(|h| !lease_holder_alive(h)) {
                sqlx::query("DELETE FROM authhost_refresh_leases WHERE provider = $1 AND user_id = $2 AND owner = $3")
                    .bind(provider)
                    .bind(user)
                    .bind(&holder)
                    .execute(&self.pool)
                    .await?;
                continue;
            }
            if started.elapsed() > Duration::from_secs(LEASE_SECS as u64) {
                return Err(StoreError::LeaseHeld {
                    provider: provider.to_owned(),
                    user: user.to_owned(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a pending authorization (state id → provider, user, sealed
    /// PKCE verifier, expiry).
    ///
    /// # Errors
    ///
    /// Database failure.
    pub async fn put_state(&self, id: &str, state: &PendingState) -> Result<(), StoreError> {
        let verifier = state
            .pkce_verifier
            .as_ref()
            .map(|v| v.expose().to_owned())
            .unwrap_or_default();
        let sealed = self.with_keys(|k| k.seal(verifier.as_bytes(), &aad("state", id)));
        sqlx::query("INSERT INTO authhost_states (id, provider, user_id, key_id, nonce, ciphertext, return_to, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(id)
            .bind(&state.provider)
            .bind(&state.user)
            .bind(&sealed.key_id)
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .bind(state.return_to.as_deref())
            .bind(state.expires_at)
            .bind(now())
            .execute(&self.pool)
            .await?;
        // Expired states are of no use to anyone.
        sqlx::query("DELETE FROM authhost_states WHERE expires_at < $1")
            .bind(now() - 3600)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Takes a pending authorization atomically: the first caller gets it,
    /// every later one `None`.
    ///
    /// # Errors
    ///
    /// Database failure, or a state row that does not decrypt.
    pub async fn take_state(&self, id: &str) -> Result<Option<PendingState>, StoreError> {
        let row = sqlx::query("DELETE FROM authhost_states WHERE id = $1 RETURNING provider, user_id, key_id, nonce, ciphertext, return_to, expires_at")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let sealed = Sealed {
            key_id: row.try_get("key_id")?,
            nonce: row.try_get("nonce")?,
            ciphertext: row.try_get("ciphertext")?,
        };
        let provider: String = row.try_get("provider")?;
        let user: String = row.try_get("user_id")?;
        let verifier = self
            .with_keys(|k| k.open(&sealed, &aad("state", id)))
            .map_err(|reason| StoreError::Undecryptable {
                provider: provider.clone(),
                user: user.clone(),
                reason,
            })?;
        let verifier = String::from_utf8(verifier).unwrap_or_default();
        Ok(Some(PendingState {
            provider,
            user,
            pkce_verifier: (!verifier.is_empty())
                .then(|| authhost_plugin_api::Secret::new(verifier)),
            expires_at: row.try_get("expires_at")?,
            return_to: row.try_get("return_to")?,
        }))
    }

    /// Adds a new current key to the key file and re-encrypts every token
    /// row with it (compare-and-swap per row, so concurrent refreshes win);
    /// then retires the keys that no row of any table uses, keeping the one
    /// current until now (other processes reload the file before they seal
    /// again, see [`with_keys`](Self::with_keys)). Returns
    /// (new key id, rows re-encrypted, retired key ids).
    ///
    /// # Errors
    ///
    /// Keys from the environment, file or database failures.
    pub async fn rotate_keys(&self) -> Result<(String, usize, Vec<String>), StoreError> {
        let mut ring = self.with_keys(KeyRing::clone);
        let previous = ring.current_id().to_owned();
        let new_id = ring.add_key_to_file()?;
        if let Ok(mut keys) = self.keys.write() {
            *keys = ring.clone();
        }
        let mut rewritten = 0;
        loop {
            let rows = sqlx::query(
                "SELECT provider, user_id FROM authhost_tokens WHERE key_id <> $1 LIMIT 500",
            )
            .bind(&new_id)
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                break;
            }
            let mut progressed = false;
            for row in rows {
                let provider: String = row.try_get("provider")?;
                let user: String = row.try_get("user_id")?;
                match self.get(&provider, &user).await {
                    Ok(Some(stored)) => {
                        let mut conn = self.pool.acquire().await?;
                        let resealed = self
                            .put_on(
                                &mut conn,
                                &provider,
                                &user,
                                &stored.tokens,
                                Some(stored.meta.version),
                                false,
                            )
                            .await?;
                        if resealed.is_some() {
                            rewritten += 1;
                            progressed = true;
                        }
                    }
                    Ok(None) => progressed = true,
                    Err(StoreError::Undecryptable { .. }) => {
                        tracing::warn!(%provider, %user, "row does not decrypt; left as is");
                    }
                    Err(e) => return Err(e),
                }
            }
            if !progressed {
                break;
            }
        }
        // Kept: every key a row of any table still uses (pending states and
        // held grants are short-lived and are not re-encrypted), and the
        // key that was current until now — a process that read the key file
        // just before this rotation may still seal one row with it.
        let mut keep: Vec<String> = sqlx::query(
            "SELECT key_id FROM authhost_tokens UNION SELECT key_id FROM authhost_states UNION SELECT key_id FROM authhost_flows WHERE key_id IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .filter_map(|r| r.try_get::<String, _>("key_id").ok())
        .collect();
        keep.push(previous);
        let retired = ring.retire_keys_except(&keep)?;
        if let Ok(mut seen) = self.key_file_seen.lock() {
            *seen = key_file_stamp(&ring);
        }
        if let Ok(mut keys) = self.keys.write() {
            *keys = ring;
        }
        Ok((new_id, rewritten, retired))
    }

    /// The pool, for tests and benchmarks that need raw SQL.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Takes or renews the leader lease `name` for `owner` until `ttl` from
    /// now; whether `owner` leads. A lease is taken over only once it has
    /// expired, so a leader that stops renewing hands over after `ttl`.
    ///
    /// # Errors
    ///
    /// The database fails.
    pub async fn lead(&self, name: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = now();
        let until = now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
        let done = sqlx::query(
            "INSERT INTO authhost_leader_leases (name, owner, expires_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at WHERE authhost_leader_leases.owner = excluded.owner OR authhost_leader_leases.expires_at < $4",
        )
        .bind(name)
        .bind(owner)
        .bind(until)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether the database answers a query.
    ///
    /// # Errors
    ///
    /// It does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// How long a SQLite refresh lease lasts: longer than any token request.
const LEASE_SECS: i64 = 120;

/// Whether the process named in a lease owner (`pid:random`) still runs.
fn lease_holder_alive(owner: &str) -> bool {
    let Some(pid) = owner.split(':').next().and_then(|p| p.parse::<u32>().ok()) else {
        return true;
    };
    pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
}

/// How a refresh lock is held.
#[derive(Debug)]
enum Held {
    /// Postgres: a transaction holding an advisory lock.
    Advisory(sqlx::Transaction<'static, sqlx::Any>),
    /// SQLite: a lease row.
    Lease { owner: String },
}

/// The cross-process refresh lock of one (provider, user); see
/// [`TokenStore::lock`]. Dropped without [`release`](Self::release), it is
/// released in the background.
#[derive(Debug)]
pub struct RefreshLock<'s> {
    store: &'s TokenStore,
    held: Option<Held>,
    provider: String,
    user: String,
}

impl Drop for RefreshLock<'_> {
    fn drop(&mut self) {
        if let Some(Held::Lease { owner }) = self.held.take() {
            let pool = self.store.pool.clone();
            let (provider, user) = (self.provider.clone(), self.user.clone());
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = release_lease(&pool, &provider, &user, &owner).await;
                });
            }
        }
    }
}

async fn release_lease(
    pool: &AnyPool,
    provider: &str,
    user: &str,
    owner: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM authhost_refresh_leases WHERE provider = $1 AND user_id = $2 AND owner = $3",
    )
    .bind(provider)
    .bind(user)
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(())
}

impl RefreshLock<'_> {
    /// Re-reads the row under the lock.
    ///
    /// # Errors
    ///
    /// As [`TokenStore::get`].
    pub async fn get(&mut self) -> Result<Option<StoredTokens>, StoreError> {
        let query = sqlx::query(token_row::SELECT_ONE)
            .bind(&self.provider)
            .bind(&self.user);
        let row = match &mut self.held {
            Some(Held::Advisory(tx)) => query.fetch_optional(&mut **tx).await?,
            _ => query.fetch_optional(&self.store.pool).await?,
        };
        self.store.decode(row.as_ref(), &self.provider, &self.user)
    }

    /// Writes new tokens with compare-and-swap on `version`.
    ///
    /// # Errors
    ///
    /// Database failure.
    pub async fn put(
        &mut self,
        tokens: &TokenSet,
        version: i64,
    ) -> Result<Option<i64>, StoreError> {
        let (provider, user) = (self.provider.clone(), self.user.clone());
        match &mut self.held {
            Some(Held::Advisory(tx)) => {
                self.store
                    .put_on(tx, &provider, &user, tokens, Some(version), true)
                    .await
            }
            _ => {
                self.store
                    .put(&provider, &user, tokens, Some(version))
                    .await
            }
        }
    }

    /// Deletes the row (a dead grant).
    ///
    /// # Errors
    ///
    /// Database failure.
    pub async fn delete(&mut self) -> Result<(), StoreError> {
        match &mut self.held {
            Some(Held::Advisory(tx)) => {
                delete_on(&mut **tx, &self.provider, &self.user).await?;
                self.store
                    .announce_change(&mut **tx, &self.provider, &self.user)
                    .await
            }
            _ => self
                .store
                .delete(&self.provider, &self.user)
                .await
                .map(|_| ()),
        }
    }

    /// Records the last refresh error.
    ///
    /// # Errors
    ///
    /// Database failure.
    pub async fn record_error(&mut self, error: &str) -> Result<(), StoreError> {
        self.mark(Mark::Error(error)).await
    }

    /// Records a refresh whose outcome is unknown (sent, never answered):
    /// the row needs a re-check before its refresh token is sent again.
    ///
    /// # Errors
    ///
    /// Database failure.
    pub async fn record_unknown_outcome(&mut self, error: &str) -> Result<(), StoreError> {
        self.mark(Mark::UnknownOutcome(error)).await
    }

    /// Records whether the server rotated the refresh token.
    ///
    /// # Errors
    ///
    /// Database failure.
    pub async fn record_rotation(&mut self, rotates: bool) -> Result<(), StoreError> {
        self.mark(Mark::Rotates(rotates)).await
    }

    async fn mark(&mut self, mark: Mark<'_>) -> Result<(), StoreError> {
        match &mut self.held {
            Some(Held::Advisory(tx)) => mark_on(&mut **tx, &self.provider, &self.user, mark).await,
            _ => mark_on(&self.store.pool, &self.provider, &self.user, mark).await,
        }
    }

    /// Commits and releases the lock.
    ///
    /// # Errors
    ///
    /// Database failure.
    pub async fn release(mut self) -> Result<(), StoreError> {
        match self.held.take() {
            Some(Held::Advisory(tx)) => tx.commit().await?,
            Some(Held::Lease { owner }) => {
                release_lease(&self.store.pool, &self.provider, &self.user, &owner).await?;
            }
            None => {}
        }
        Ok(())
    }
}

/// A note on a token row that is not a new grant (the version stays).
enum Mark<'a> {
    /// The last refresh failed: why.
    Error(&'a str),
    /// The last refresh's outcome is unknown: why.
    UnknownOutcome(&'a str),
    /// The server rotates the refresh token, or keeps it.
    Rotates(bool),
}

async fn mark_on<'e, E>(
    executor: E,
    provider: &str,
    user: &str,
    mark: Mark<'_>,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let query = match mark {
        Mark::Error(error) => sqlx::query("UPDATE authhost_tokens SET last_error = $1, updated_at = $2 WHERE provider = $3 AND user_id = $4")
            .bind(error.to_owned())
            .bind(now()),
        Mark::UnknownOutcome(error) => sqlx::query("UPDATE authhost_tokens SET last_error = $1, updated_at = $2, recheck_since = $2 WHERE provider = $3 AND user_id = $4")
            .bind(error.to_owned())
            .bind(now()),
        Mark::Rotates(rotates) => sqlx::query("UPDATE authhost_tokens SET rotates = $1, updated_at = $2 WHERE provider = $3 AND user_id = $4")
            .bind(i64::from(rotates))
            .bind(now()),
    };
    query
        .bind(provider.to_owned())
        .bind(user.to_owned())
        .execute(executor)
        .await?;
    Ok(())
}

async fn delete_on<'e, E>(executor: E, provider: &str, user: &str) -> Result<bool, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let done = sqlx::query("DELETE FROM authhost_tokens WHERE provider = $1 AND user_id = $2")
        .bind(provider)
        .bind(user)
        .execute(executor)
        .await?;
    Ok(done.rows_affected() > 0)
}

fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "postgres".to_owned(),
    }
}
