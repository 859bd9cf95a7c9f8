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
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

use super::Globals;
use crate::{
    authorize::{self, format_utc, CallbackParams, Completed, FlowError},
    plugin::ProviderHandle,
    store::TokenStore,
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
    /// How long to wait for the authorization (500ms, 30s, 5m…).
    #[arg(long, default_value = "5m", value_parser = parse_timeout)]
    timeout: Duration,
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    parse_duration(text).ok_or_else(|| "expected a duration such as 30s or 5m".to_owned())
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
    let Some(entry) = workflow.providers.get(&args.provider) else {
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
    };
    let redirect = entry
        .config
        .get("redirect_uri")
        .and_then(|r| r.as_str())
        .and_then(|r| url::Url::parse(r).ok());
    let handle = workflow
        .provider(&args.provider)
        .context("creating the provider")?;
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let store = super::open_store(&workflow).await?;
        let started = authorize::start(&store, &handle, &args.user, authorize::STATE_TTL, None).await?;
        eprintln!("Open this URL to authorize `{}` for user `{}`:", args.provider, args.user);
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
                wait_for_redirect(listener, redirect.path(), deadline, &store, &handle, &args).await?
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
                finish(&store, &handle, &args, &params).await
            }
        };
        match result {
            Ok(done) => {
                println!(
                    "user `{}` is logged in to `{}` until {}{}",
                    done.user,
                    done.provider,
                    done.expires_at.map(format_utc).unwrap_or_else(|| "it is revoked".to_owned()),
                    if done.scopes.is_empty() { String::new() } else { format!(" (scopes: {})", done.scopes.join(" ")) }
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(anyhow::Error::new(e).context(format!("logging `{}` in to `{}`", args.user, args.provider))),
        }
    })
}

async fn finish(
    store: &TokenStore,
    handle: &ProviderHandle,
    args: &LoginArgs,
    params: &CallbackParams,
) -> Result<Completed, FlowError> {
    let provider = handle.clone();
    authorize::complete(
        store,
        params,
        Some((args.provider.as_str(), args.user.as_str())),
        move |_| Some(provider.clone()),
    )
    .await
}

/// Serves the redirect URI on a loopback listener until the callback
/// arrives or the deadline passes, with a countdown on stderr.
async fn wait_for_redirect(
    listener: TcpListener,
    path: &str,
    deadline: Instant,
    store: &Arc<TokenStore>,
    handle: &ProviderHandle,
    args: &LoginArgs,
) -> anyhow::Result<Result<Completed, FlowError>> {
    let mut tick = tokio::time::interval(Duration::from_secs(15));
    tick.tick().await;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            bail!(
                "no authorization arrived within {:?}; run login again",
                args.timeout
            );
        }
        let (mut socket, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = tick.tick() => {
                eprintln!("still waiting for the authorization ({} s left)", remaining.as_secs());
                continue;
            }
            _ = tokio::time::sleep(remaining) => continue,
        };
        let mut head = Vec::new();
        let mut buf = [0u8; 2048];
        let read = tokio::time::timeout(Duration::from_secs(10), async {
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                let n = socket.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            std::io::Result::Ok(())
        })
        .await;
        if !matches!(read, Ok(Ok(()))) {
            continue;
        }
        let head = String::from_utf8_lossy(&head);
        let target = head
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("/");
        let (request_path, query) = target.split_once('?').unwrap_or((target, ""));
        if request_path != path {
            let _ = socket
                .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 10\r\nconnection: close\r\n\r\nnot found\n")
                .await;
            continue;
        }
        let result = finish(store, handle, args, &CallbackParams::from_query(query)).await;
        let page = authorize::result_page(&result);
        let status = if result.is_ok() {
            "200 OK"
        } else {
            "400 Bad Request"
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{page}",
            page.len()
        );
        let _ = socket.write_all(response.as_bytes()).await;
        let _ = socket.shutdown().await;
        return Ok(result);
    }
}
