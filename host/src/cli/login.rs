//! `authhost login PROVIDER --user ID`: authorize a user in the browser once;
//! the tokens are stored encrypted and used by every later call.

use std::{
    io::BufRead,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use authhost_plugin_api::{Capabilities, Secret};
use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
    response::Html,
    routing::get,
};
use tokio::net::TcpListener;

use super::Globals;
use crate::{
    authorize::{self, Authorizations, CallbackParams, Completed, FlowError},
    broker::Broker,
    clock::format_utc,
    device_flow,
    plugin::ProviderHandle,
    workflow::parse_duration,
};

/// `login` arguments.
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// The provider instance (an `oauth2_auth_code_flow` entry).
    #[arg(value_name = "PROVIDER")]
    provider: String,
    /// The workflow file.
    #[arg(short, long, value_name = "FILE")]
    config: PathBuf,
    /// The user the tokens are stored for.
    #[arg(short, long, value_name = "ID")]
    user: String,
    /// Open the authorization URL in a browser.
    #[arg(long)]
    open: bool,
    /// Do not listen on the redirect URI: paste the redirected URL instead.
    #[arg(long)]
    no_listen: bool,
    /// Authorize with the device flow (RFC 8628): print a URL and a code
    /// to enter on any device, and wait (the default for device-flow
    /// providers).
    #[arg(long)]
    device: bool,
    /// How long to wait for the authorization (500ms, 30s, 5m…).
    #[arg(long, default_value = "5m", value_parser = parse_timeout)]
    timeout: Duration,
}

pub(super) fn parse_timeout(text: &str) -> Result<Duration, String> {
    parse_duration(text).ok_or_else(|| "expected a duration such as 30s or 5m".to_owned())
}

/// The `redirect_uri` an authorization URL carries.
fn redirect_uri(authorization_url: &str) -> Option<url::Url> {
    url::Url::parse(authorization_url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .and_then(|(_, v)| url::Url::parse(&v).ok())
}

/// The loopback address to listen on, when the redirect URI has one.
fn loopback(redirect: &url::Url) -> Option<SocketAddr> {
    if redirect.scheme() != "http" {
        return None;
    }
    let port = redirect.port_or_known_default()?;
    let ip: IpAddr = match redirect.host()? {
        url::Host::Domain("localhost") => IpAddr::from([127, 0, 0, 1]),
        url::Host::Ipv4(ip) if ip.is_loopback() => IpAddr::V4(ip),
        url::Host::Ipv6(ip) if ip.is_loopback() => IpAddr::V6(ip),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

pub(crate) fn run(args: LoginArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let workflow = super::load_workflow(&args.config, globals)?;
    if !workflow.providers.contains_key(&args.provider) {
        let hint = crate::suggest::closest(
            &args.provider,
            workflow.providers.keys().map(String::as_str),
        )
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default();
        bail!(
            "no provider `{}` in {}{hint}",
            args.provider,
            args.config.display()
        );
    }
    let handle = workflow
        .provider(&args.provider)
        .context("creating the provider")?;
    let runtime = super::runtime()?;
    if args.device || handle.capabilities().contains(Capabilities::DEVICE_CODE) {
        return runtime.block_on(device_login(&workflow, &handle, &args));
    }
    runtime.block_on(async {
        let store = super::open_store(&workflow).await?;
        let flows = Authorizations::new(Arc::new(Broker::new(Some(store))))
            .context("the token store is open")?;
        let started = flows.start(&handle, &args.user, authorize::STATE_TTL, None).await?;
        // Where the browser comes back: the authorization URL the plugin
        // built says it (the host reads nothing inside a plugin's config).
        let redirect = redirect_uri(&started.url);
        eprintln!("Open this URL to authorize `{}` for user `{}`:", args.provider, super::printable(&args.user));
        println!("{}", started.url);
        if args.open {
            if let Err(e) = std::process::Command::new("xdg-open").arg(&started.url).spawn() {
                eprintln!("could not open a browser ({e}); open the URL yourself");
            }
        }
        let deadline = Instant::now() + args.timeout;
        let listen = if args.no_listen { None } else { redirect.as_ref().and_then(loopback) };
        let result = match (listen, &redirect) {
            (Some(addr), Some(redirect)) => {
                let listener = TcpListener::bind(addr).await.with_context(|| {
                    format!("cannot listen on {addr} (the redirect URI's address); free it, or use --no-listen and paste the redirected URL")
                })?;
                eprintln!("waiting for the browser at {redirect} ...");
                let (done, finished) = tokio::sync::mpsc::channel(1);
                let waiting = Waiting {
                    flows: flows.clone(),
                    handle: handle.clone(),
                    provider: args.provider.clone(),
                    user: args.user.clone(),
                    state: started.state.clone(),
                    done,
                };
                wait_for_redirect(listener, redirect.path(), deadline, waiting, finished, args.timeout).await?
            }
            _ => {
                if !args.no_listen {
                    eprintln!("the redirect URI is not a loopback http address, so authhost cannot receive it itself");
                }
                eprintln!("after authorizing, paste the URL your browser was sent to:");
                let line = tokio::task::spawn_blocking(|| {
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line).map(|_| line)
                })
                .await??;
                let url = url::Url::parse(line.trim()).context("that is not a URL")?;
                let params = CallbackParams::from_query(url.query().unwrap_or_default());
                finish(&flows, &handle, &args.provider, &args.user, &params).await
            }
        };
        match result {
            Ok(done) => {
                logged_in(&done.user, &done.provider, done.expires_at, &done.scopes);
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(anyhow::Error::new(e).context(format!("logging `{}` in to `{}`", args.user, args.provider))),
        }
    })
}

/// Says who is logged in to what, until when.
fn logged_in(user: &str, provider: &str, expires_at: Option<i64>, scopes: &[String]) {
    println!(
        "user `{}` is logged in to `{provider}` until {}{}",
        super::printable(user),
        expires_at
            .map(format_utc)
            .unwrap_or_else(|| "it is revoked".to_owned()),
        if scopes.is_empty() {
            String::new()
        } else {
            format!(" (scopes: {})", scopes.join(" "))
        }
    );
}

/// `login` with the device flow: the URL and the code on stdout, then
/// polling until the user approves, the code expires or `--timeout` passes.
async fn device_login(
    workflow: &crate::workflow::Workflow,
    handle: &ProviderHandle,
    args: &LoginArgs,
) -> anyhow::Result<ExitCode> {
    let store = super::open_store(workflow).await?;
    let broker = Broker::new(Some(store));
    let context = || format!("logging `{}` in to `{}`", args.user, args.provider);
    let authorization = device_flow::start(handle, &args.user)
        .await
        .with_context(context)?;
    eprintln!(
        "To authorize `{}` for user `{}`, open this URL and enter the code:",
        args.provider,
        super::printable(&args.user)
    );
    let url = authorization
        .verification_uri_complete
        .as_deref()
        .unwrap_or(&authorization.verification_uri);
    println!("{}", super::printable(url));
    println!("code: {}", super::printable(&authorization.user_code));
    if args.open {
        if let Err(e) = std::process::Command::new("xdg-open").arg(url).spawn() {
            eprintln!("could not open a browser ({e}); open the URL yourself");
        }
    }
    eprintln!(
        "waiting for the approval (the code is valid {} s) ...",
        authorization.expires_in
    );
    let deadline = Instant::now() + args.timeout;
    let tokens = device_flow::finish(handle, &broker, &args.user, &authorization, deadline)
        .await
        .with_context(context)?;
    logged_in(
        &args.user,
        &args.provider,
        tokens.expires_at,
        &tokens.scopes,
    );
    Ok(ExitCode::SUCCESS)
}

async fn finish(
    flows: &Authorizations,
    handle: &ProviderHandle,
    provider: &str,
    user: &str,
    params: &CallbackParams,
) -> Result<Completed, FlowError> {
    let instance = handle.clone();
    flows
        .complete(params, Some((provider, user)), move |_| {
            Some(instance.clone())
        })
        .await
}

/// What the loopback callback route needs.
struct Waiting {
    flows: Authorizations,
    handle: ProviderHandle,
    provider: String,
    user: String,
    /// The state this login sent; any other callback is refused.
    state: Secret,
    done: tokio::sync::mpsc::Sender<Result<Completed, FlowError>>,
}

/// The redirect URI's route: a callback with another `state` (forged, or
/// from another login) gets a 400 page and changes nothing; this login's
/// callback finishes it, success or refusal.
async fn callback(
    State(waiting): State<Arc<Waiting>>,
    RawQuery(query): RawQuery,
) -> (
    StatusCode,
    [(http::HeaderName, &'static str); 1],
    Html<String>,
) {
    let no_store = [(http::header::CACHE_CONTROL, "no-store")];
    let params = CallbackParams::from_query(query.as_deref().unwrap_or_default());
    if !params.carries_state(waiting.state.expose()) {
        tracing::info!("ignored a callback that does not carry this login's state");
        let refused: Result<Completed, FlowError> = Err(FlowError::ForgedState);
        return (
            StatusCode::BAD_REQUEST,
            no_store,
            Html(authorize::result_page(&refused)),
        );
    }
    let result = finish(
        &waiting.flows,
        &waiting.handle,
        &waiting.provider,
        &waiting.user,
        &params,
    )
    .await;
    let page = authorize::result_page(&result);
    let status = if result.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let _ = waiting.done.try_send(result);
    (status, no_store, Html(page))
}

/// Serves the redirect URI on a loopback listener until this login's
/// callback arrives or the deadline passes, with a countdown on stderr.
/// Connections are served concurrently: an idle or hostile one never delays
/// the real callback, and a forged one never ends the wait.
async fn wait_for_redirect(
    listener: TcpListener,
    path: &str,
    deadline: Instant,
    waiting: Waiting,
    mut finished: tokio::sync::mpsc::Receiver<Result<Completed, FlowError>>,
    timeout: Duration,
) -> anyhow::Result<Result<Completed, FlowError>> {
    let waiting = Arc::new(waiting);
    let app = axum::Router::new()
        .route(path, get(callback))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(waiting);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let mut tick = tokio::time::interval(Duration::from_secs(15));
    tick.tick().await;
    let outcome = loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break None;
        }
        tokio::select! {
            result = finished.recv() => break result,
            _ = tick.tick() => {
                eprintln!("still waiting for the authorization ({} s left)", remaining.as_secs());
            }
            () = tokio::time::sleep(remaining) => {}
        }
    };
    let _ = stop.send(());
    // The page has been written; give the browser a moment to read it.
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    outcome.ok_or_else(|| {
        anyhow::anyhow!("no authorization arrived within {timeout:?}; run login again")
    })
}
