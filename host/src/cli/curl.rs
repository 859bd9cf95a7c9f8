//! `authhost curl PROVIDER PATH --config FILE`: one request to a
//! provider's API (its `_base_url`) with a user's credentials, for scripts
//! — what `/v1/proxy/{provider}/{path}` does for HTTP callers. The answer's
//! body goes to stdout as it arrives.

use std::{io::Write as _, path::PathBuf, process::ExitCode, sync::Arc};

use anyhow::{bail, Context as _};
use futures_util::StreamExt as _;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::Globals;
use crate::{
    broker::Broker,
    invoke::{InvokeError, Invoker},
    proxy::{forwardable, ProxyBody, ProxyError, ProxyRequest},
};

/// `curl` arguments.
#[derive(Debug, clap::Args)]
pub struct CurlArgs {
    /// The provider instance whose API is called.
    #[arg(value_name = "PROVIDER")]
    provider: String,
    /// The path below its `_base_url`, with an optional `?query`.
    #[arg(value_name = "PATH")]
    path: String,
    /// The workflow file.
    #[arg(short, long, value_name = "FILE")]
    config: PathBuf,
    #[command(flatten)]
    caller: super::caller::CallerArgs,
    /// The method.
    #[arg(
        short = 'X',
        long = "request",
        value_name = "METHOD",
        default_value = "GET"
    )]
    method: String,
    /// The request body (`@FILE` reads a file).
    #[arg(short = 'd', long = "data", value_name = "BODY")]
    data: Option<String>,
    /// A request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// Print the status line and the response headers before the body.
    #[arg(short = 'i', long)]
    include: bool,
}

fn headers_of(raw: &[String]) -> anyhow::Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    for item in raw {
        let Some((name, value)) = item.split_once(':') else {
            bail!("-H `{item}`: expected `Name: value`");
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .with_context(|| format!("-H: `{}` is not a header name", name.trim()))?;
        let value = HeaderValue::from_str(value.trim())
            .with_context(|| format!("-H {name}: the value cannot be sent in a header"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

fn body_of(data: Option<&str>) -> anyhow::Result<bytes::Bytes> {
    Ok(match data {
        None => bytes::Bytes::new(),
        Some(file) if file.starts_with('@') => std::fs::read(&file[1..])
            .with_context(|| format!("-d {file}: cannot read the file"))?
            .into(),
        Some(text) => bytes::Bytes::from(text.to_owned()),
    })
}

pub(crate) fn run(args: CurlArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let method = Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .with_context(|| format!("-X `{}` is not an HTTP method", args.method))?;
    let headers = forwardable(&headers_of(&args.headers)?, None);
    let body = body_of(args.data.as_deref())?;
    let (path, query) = match args.path.trim_start_matches('/').split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (args.path.trim_start_matches('/').to_owned(), None),
    };
    let workflow = super::load_workflow(&args.config, globals)?;
    let runtime = super::runtime()?;
    let store = runtime.block_on(super::open_store_if_needed(&workflow))?;
    let config = workflow.general.server.proxy.clone();
    let invoker = Invoker::new(Arc::new(workflow), Arc::new(Broker::new(store)));
    let request = ProxyRequest {
        method,
        path,
        query,
        headers,
        body: ProxyBody::Buffered(body),
    };
    let caller = args.caller.caller()?;
    runtime.block_on(async {
        let response = match invoker
            .forward(&args.provider, &caller, None, request, &config)
            .await
        {
            Ok(response) => response,
            Err(e) => {
                if let ProxyError::Invoke(InvokeError::AuthorizationRequired {
                    provider,
                    user,
                    ..
                }) = &e
                {
                    eprintln!(
                        "hint: authhost login {provider} --config {} --user {user}",
                        args.config.display()
                    );
                }
                return Err(anyhow::Error::new(e)
                    .context(format!("calling `{}` at `{}`", args.provider, args.path)));
            }
        };
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        if args.include {
            writeln!(out, "{:?} {}", response.version(), response.status())?;
            for (name, value) in response.headers() {
                writeln!(out, "{name}: {}", String::from_utf8_lossy(value.as_bytes()))?;
            }
            writeln!(out)?;
        }
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            out.write_all(&chunk.context("reading the answer")?)?;
        }
        out.flush()?;
        Ok(ExitCode::SUCCESS)
    })
}
