//! `authhost serve --config FILE`: run the gateway until SIGINT/SIGTERM.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc};

use anyhow::{bail, Context};

use super::Globals;
use crate::server::{self, ServerState};

/// `serve` arguments.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The workflow file.
    #[arg(short, long, value_name = "FILE")]
    config: PathBuf,
    /// Listen here instead of general.server.bind.
    #[arg(long, value_name = "ADDR")]
    bind: Option<SocketAddr>,
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    eprintln!("shutting down: finishing in-flight requests");
}

impl ServeArgs {
    /// The workflow file.
    pub(crate) fn config(&self) -> &std::path::Path {
        &self.config
    }
}

pub(crate) fn run(args: ServeArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let workflow = super::load_workflow(&args.config, globals)?;
    let bind = match args.bind {
        Some(bind) => bind,
        None => workflow.general.server.bind.parse().with_context(|| {
            format!(
                "general.server.bind: `{}` is not an address:port",
                workflow.general.server.bind
            )
        })?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let store = super::open_store_if_needed(&workflow).await?;
        let state = match ServerState::new(workflow, store, bind) {
            Ok(state) => Arc::new(state),
            Err(message) => bail!("{message}"),
        };
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot listen on {bind}"))?;
        let local = listener.local_addr()?;
        eprintln!("authhost listening on http://{local}");
        server::serve(listener, state, shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}
