//! `authhost serve`: the HTTP gateway. An agent calls
//! `POST /v1/tools/{tool}/invoke` with its user's credential; authhost makes
//! the call with that user's provider credentials, or answers 401 with the
//! URL where the user authorizes.
//!
//! [`app`] builds the router from a [`ServerState`], so tests drive it on a
//! real socket or without one.

mod client_metadata;
mod connect_page;
mod connections;
mod device_connect;
mod error;
mod flows;
mod handout;
mod mcp;
mod metrics;
pub mod openapi;
mod proxy;
mod routes;
pub mod webhook;

use std::{net::SocketAddr, sync::Arc};

use axum::{
    extract::DefaultBodyLimit,
    routing::{any, delete, get, post, put},
    Router,
};

pub use crate::inbound::{
    Caller, ClaimRules, InboundAuth, InboundAuthConfig, InboundConfigError, Refused,
};
pub use connections::ConnectionLimits;
pub use error::ApiError;
pub use metrics::{Metrics, Outcome};

use crate::{broker::Broker, invoke::Invoker, store::TokenStore, workflow::Workflow};

/// Largest request body accepted.
pub(super) const MAX_BODY: usize = 1024 * 1024;

/// What every request handler shares.
#[derive(Debug)]
pub struct ServerState {
    /// The workflow.
    pub workflow: Arc<Workflow>,
    /// Tool calls with credentials from the broker.
    pub invoker: Invoker,
    /// Authorizations in progress (connect flows, states), when a provider
    /// keeps per-user tokens.
    pub authorizations: Option<crate::authorize::Authorizations>,
    /// Who is calling.
    pub inbound: InboundAuth,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Where finished connect flows are announced, if anywhere.
    pub webhook: Option<Arc<webhook::Webhook>>,
    /// What `/mcp` requires of a caller's token.
    pub(crate) resource_server: mcp::ResourceServer,
}

impl ServerState {
    /// State for `workflow`.
    ///
    /// # Errors
    ///
    /// An inbound auth configuration that cannot work on `bind`.
    pub fn new(
        workflow: Workflow,
        store: Option<Arc<TokenStore>>,
        bind: SocketAddr,
    ) -> Result<Self, String> {
        let workflow = Arc::new(workflow);
        let base = workflow
            .path
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        let inbound = InboundAuth::new(
            workflow.general.inbound_auth.as_ref(),
            bind.ip().is_loopback(),
            &base,
            &workflow.registry,
            workflow.general.timeouts.plugin_call.0,
            &workflow.outbound,
        )
        .map_err(|e| e.to_string())?;
        let inbound_config = workflow.general.inbound_auth.as_ref();
        let resource_server = mcp::ResourceServer::new(
            &workflow.general.server,
            bind,
            matches!(
                inbound_config,
                Some(crate::inbound::InboundAuthConfig::Jwt { .. })
            ),
            mcp::jwt_issuer(inbound_config),
        )?;
        if workflow.general.server.connect.verify == crate::workflow::VerifyMode::None
            && workflow.needs_store()
        {
            tracing::warn!("general.server.connect.verify is `none`: whoever completes a connect flow in a browser connects their account to the user who started it");
        }
        let broker = Arc::new(
            Broker::new(store.clone())
                .with_revalidate_after(workflow.general.store.revalidate_after.0)
                .with_capacity(
                    usize::try_from(workflow.general.limits.cache_entries).unwrap_or(usize::MAX),
                ),
        );
        broker.watch_store();
        crate::broker::KeepAlive::new(
            broker.clone(),
            workflow
                .providers
                .iter()
                .filter_map(|(name, entry)| {
                    Some(crate::broker::KeepAliveTarget {
                        after: entry.keep_alive?,
                        provider: workflow.provider(name).ok()?,
                    })
                })
                .collect(),
            workflow.general.store.keep_alive_every.0,
            usize::try_from(workflow.general.store.keep_alive_batch).unwrap_or(usize::MAX),
        )
        .spawn();
        let webhook = workflow
            .general
            .server
            .connect
            .webhook
            .as_ref()
            .and_then(|w| {
                let url = url::Url::parse(&w.url).ok()?;
                Some(Arc::new(webhook::Webhook::new(
                    url,
                    w.secret.clone(),
                    workflow.outbound.clone(),
                )))
            });
        Ok(Self {
            authorizations: crate::authorize::Authorizations::new(broker.clone()),
            invoker: Invoker::new(workflow.clone(), broker),
            inbound,
            metrics: Metrics::for_providers(workflow.providers.keys()),
            webhook,
            resource_server,
            workflow,
        })
    }
}

/// The router.
pub fn app(state: Arc<ServerState>) -> Router {
    let mcp = mcp::routes(state.clone());
    Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/metrics", get(routes::metrics))
        .route("/openapi.json", get(routes::openapi))
        .route("/v1/components", get(routes::components))
        .route("/v1/tools/{tool}/invoke", post(routes::invoke))
        .route("/v1/auth/{provider}/start", get(flows::start))
        .route("/v1/auth/flows/{link}", get(flows::open_link))
        .route("/v1/auth/flows/{id}/confirm", post(flows::confirm))
        .route("/v1/auth/preflight", post(routes::preflight))
        .route("/connect", get(connect_page::show))
        .route(
            "/connect/{provider}/disconnect",
            post(connect_page::disconnect),
        )
        .route("/auth/callback", get(flows::callback))
        .route(client_metadata::PATH, get(client_metadata::document))
        .route("/v1/credentials", get(routes::credentials))
        .route(
            "/v1/credentials/{provider}",
            get(routes::credential)
                .merge(delete(routes::revoke))
                .merge(put(routes::supply)),
        )
        .route("/v1/credentials/{provider}/token", post(handout::token))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state.clone())
        .merge(mcp)
        // Proxied bodies stream, whatever their size.
        .merge(
            Router::new()
                .route("/v1/proxy/{provider}", any(proxy::forward))
                .route("/v1/proxy/{provider}/{*path}", any(proxy::forward))
                .with_state(state),
        )
        .layer(axum::middleware::from_fn(error::log_server_errors))
}

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// Serves `state` on `listener` until `shutdown` completes; in-flight
/// requests then get up to [`SHUTDOWN_GRACE`] to finish. Connections are
/// held to the workflow's `general.server` limits (header read timeout,
/// idle timeout, most connections at once).
///
/// # Errors
///
/// The listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ServerState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let server = &state.workflow.general.server;
    let limits = ConnectionLimits {
        header_read_timeout: server.header_read_timeout.0,
        idle_timeout: server.idle_timeout.0,
        max_connections: usize::try_from(server.max_connections).unwrap_or(usize::MAX),
    };
    connections::serve_connections(listener, app(state), limits, shutdown, SHUTDOWN_GRACE).await
}
