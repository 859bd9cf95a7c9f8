//! The tools of remote MCP servers (`_type: mcp` workflow entries), per
//! calling user: one MCP session per (entry, user), opened with that user's
//! credentials from the bound provider and opened again when the server
//! ends it; each user's tool list kept for a minute. Tools come back under
//! their local names (`<prefix><remote name>`), only those the entry's
//! allow-list lets through.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use authhost_plugin_api::Credential;
use serde_json::{json, Value};

use super::transport::{RpcError, Transport};
use crate::{outbound::Outbound, tools::RemoteServer};

/// How long a user's tool list of a server is reused.
const LISTING_TTL: Duration = Duration::from_secs(60);
/// Most sessions kept; past it, all are dropped and reopened on demand.
const MAX_SESSIONS: usize = 10_000;

type Key = (String, String);
/// A user's tool list of a server, and when it was fetched.
type Listing = (Instant, Arc<Vec<Value>>);

/// Sessions with remote MCP servers and the tool lists they gave.
#[derive(Debug, Default)]
pub struct RemoteTools {
    sessions: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<Transport>>>>,
    listings: Mutex<HashMap<Key, Listing>>,
}

impl RemoteTools {
    /// The tools of `server` that `user` may use, under their local names.
    ///
    /// # Errors
    ///
    /// The server refused or failed ([`RpcError`]).
    pub async fn list(
        &self,
        outbound: &Arc<Outbound>,
        server: &RemoteServer,
        user: &str,
        credentials: Option<Arc<[Credential]>>,
    ) -> Result<Arc<Vec<Value>>, RpcError> {
        let key = (server.entry.clone(), user.to_owned());
        if let Some((at, tools)) = lock(&self.listings).get(&key) {
            if at.elapsed() < LISTING_TTL {
                return Ok(tools.clone());
            }
        }
        let mut transport = self.session(outbound, server, user, credentials).await?;
        let listed = match transport.list_tools().await {
            Err(RpcError::SessionExpired { .. }) => {
                transport.reset();
                transport.initialize().await?;
                transport.list_tools().await?
            }
            other => other?,
        };
        drop(transport);
        let tools: Vec<Value> = listed
            .into_iter()
            .filter_map(|mut tool| {
                let remote = tool.get("name").and_then(Value::as_str)?.to_owned();
                server.allows(&remote).then(|| {
                    tool["name"] = Value::String(format!("{}{remote}", server.prefix));
                    tool
                })
            })
            .collect();
        let tools = Arc::new(tools);
        lock(&self.listings).insert(key, (Instant::now(), tools.clone()));
        Ok(tools)
    }

    /// Calls the remote tool `remote` with `arguments`; its `CallToolResult`.
    ///
    /// # Errors
    ///
    /// The server refused or failed ([`RpcError`]).
    pub async fn call(
        &self,
        outbound: &Arc<Outbound>,
        server: &RemoteServer,
        user: &str,
        credentials: Option<Arc<[Credential]>>,
        remote: &str,
        arguments: serde_json::Map<String, Value>,
    ) -> Result<Value, RpcError> {
        self.request(
            outbound,
            server,
            user,
            credentials,
            "tools/call",
            json!({ "name": remote, "arguments": arguments }),
        )
        .await
    }

    /// `method` in the (entry, user) session; a session the server ended
    /// is opened again and the request sent once more (the spec's answer to
    /// a `404`).
    async fn request(
        &self,
        outbound: &Arc<Outbound>,
        server: &RemoteServer,
        user: &str,
        credentials: Option<Arc<[Credential]>>,
        method: &str,
        params: Value,
    ) -> Result<Value, RpcError> {
        let mut transport = self.session(outbound, server, user, credentials).await?;
        match transport.request(method, params.clone()).await {
            Err(RpcError::SessionExpired { .. }) => {
                transport.reset();
                transport.initialize().await?;
                transport.request(method, params).await
            }
            other => other,
        }
    }

    /// The (entry, user) connection, locked, with `credentials` and an
    /// initialized session.
    async fn session(
        &self,
        outbound: &Arc<Outbound>,
        server: &RemoteServer,
        user: &str,
        credentials: Option<Arc<[Credential]>>,
    ) -> Result<tokio::sync::OwnedMutexGuard<Transport>, RpcError> {
        let connection = {
            let mut sessions = lock(&self.sessions);
            if sessions.len() >= MAX_SESSIONS {
                sessions.clear();
            }
            sessions
                .entry((server.entry.clone(), user.to_owned()))
                .or_insert_with(|| {
                    let mut transport = Transport::new(outbound.clone(), server.url.clone(), None);
                    transport.set_timeout(server.timeout);
                    Arc::new(tokio::sync::Mutex::new(transport))
                })
                .clone()
        };
        let mut transport = connection.lock_owned().await;
        if let Some(credentials) = credentials {
            transport.set_credentials(credentials);
        }
        if !transport.is_initialized() {
            transport.initialize().await?;
        }
        Ok(transport)
    }

    /// Forgets `user`'s session and tool list of `entry` (after their
    /// credentials changed, or the server refused them).
    pub fn forget(&self, entry: &str, user: &str) {
        let key = (entry.to_owned(), user.to_owned());
        lock(&self.sessions).remove(&key);
        lock(&self.listings).remove(&key);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
