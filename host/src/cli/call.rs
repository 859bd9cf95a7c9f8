//! `authhost call TOOL --config FILE`: one tool call with the bound
//! provider's credentials, from the command line.

use std::{collections::BTreeMap, io::Write, path::PathBuf, process::ExitCode, sync::Arc};

use anyhow::bail;
use serde::Serialize;

use super::{output::ReportFormat, Globals};
use crate::{
    broker::Broker,
    invoke::{InvokeError, Invoker},
    tools::Args,
};

/// `call` arguments.
#[derive(Debug, clap::Args)]
pub struct CallArgs {
    /// The tool to call.
    #[arg(value_name = "TOOL")]
    tool: String,
    /// The workflow file.
    #[arg(short, long, value_name = "FILE")]
    config: PathBuf,
    #[command(flatten)]
    caller: super::caller::CallerArgs,
    /// An argument for the tool's placeholders (repeatable).
    #[arg(short, long = "arg", value_name = "NAME=VALUE")]
    args: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
    /// Make N identical calls at once and print a summary of the statuses
    /// (a quick load check; each call goes through the broker).
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
}

#[derive(Serialize)]
struct JsonResponse {
    status: u16,
    headers: Option<serde_json::Map<String, serde_json::Value>>,
    body: serde_json::Value,
}

/// `--arg NAME=VALUE` values, typed as the tool's parameters declare them
/// (a number parameter reads `5` as 5), when they are known.
pub(crate) fn parse_args(
    raw: &[String],
    parameters: Option<&crate::tools::Parameters>,
) -> anyhow::Result<Args> {
    let mut args = Args::new();
    for item in raw {
        let Some((name, value)) = item.split_once('=') else {
            bail!("--arg `{item}`: expected NAME=VALUE");
        };
        let value = match parameters {
            Some(parameters) => parameters.typed(name, value),
            None => serde_json::Value::from(value),
        };
        if args.insert(name.to_owned(), value).is_some() {
            bail!("--arg `{name}` is given twice");
        }
    }
    Ok(args)
}

pub(crate) fn run(args: CallArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let workflow = super::load_workflow(&args.config, globals)?;
    let runtime = super::runtime()?;
    let store = runtime.block_on(super::open_store_if_needed(&workflow))?;
    let invoker = Invoker::new(Arc::new(workflow), Arc::new(Broker::new(store)));
    let call_args = match invoker.workflow().tools.get(&args.tool) {
        Some(entry) => parse_args(&args.args, Some(entry.tool.parameters()))?,
        // A remote MCP server's tool: typed by the schema it lists (for
        // this user); as strings when it cannot be listed now.
        None => {
            let schema = match invoker.remote_tool(&args.tool) {
                Some((server, _)) => runtime
                    .block_on(invoker.list_remote(server, &args.caller.caller()?))
                    .ok()
                    .and_then(|tools| {
                        tools
                            .iter()
                            .find(|t| {
                                t.get("name").and_then(|n| n.as_str()) == Some(args.tool.as_str())
                            })
                            .and_then(|t| t.get("inputSchema").cloned())
                    })
                    .and_then(|schema| crate::tools::Parameters::foreign(schema).ok()),
                None => None,
            };
            parse_args(&args.args, schema.as_ref())?
        }
    };
    if let Some(n) = args.concurrency {
        return runtime.block_on(concurrent(&invoker, &args, &call_args, n));
    }
    let caller = args.caller.caller()?;
    let response = match runtime.block_on(invoker.call(&args.tool, &caller, &call_args)) {
        Ok(response) => response,
        Err(e) => {
            if let InvokeError::AuthorizationRequired { provider, user, .. } = &e {
                eprintln!(
                    "hint: authhost login {provider} --config {} --user {user}",
                    args.config.display()
                );
            }
            return Err(anyhow::Error::new(e).context(format!("calling `{}`", args.tool)));
        }
    };

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        ReportFormat::Json => {
            let body = serde_json::from_slice(&response.body).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&response.body).into_owned())
            });
            let headers = (globals.verbose > 0).then(|| {
                response
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect()
            });
            let json = JsonResponse {
                status: response.status.as_u16(),
                headers,
                body,
            };
            serde_json::to_writer_pretty(&mut out, &json)?;
            writeln!(out)?;
        }
        ReportFormat::Text => {
            eprintln!("{} {}", response.status, response.url);
            if globals.verbose > 0 {
                for (name, value) in &response.headers {
                    eprintln!("{name}: {value}");
                }
            }
            out.write_all(&response.body)?;
            if !response.body.ends_with(b"\n") && !response.body.is_empty() {
                writeln!(out)?;
            }
        }
    }
    Ok(
        if response.status.is_client_error() || response.status.is_server_error() {
            ExitCode::from(super::EXIT_TOOL_ERROR)
        } else {
            ExitCode::SUCCESS
        },
    )
}

/// `--concurrency N`: N calls at once; prints `N ok` / status counts / errors.
async fn concurrent(
    invoker: &Invoker,
    args: &CallArgs,
    call_args: &Args,
    n: usize,
) -> anyhow::Result<ExitCode> {
    let caller = args.caller.caller()?;
    let calls = (0..n).map(|_| invoker.call(&args.tool, &caller, call_args));
    let results = futures_util::future::join_all(calls).await;
    let mut summary: BTreeMap<String, usize> = BTreeMap::new();
    let (mut tool_error, mut failed) = (false, false);
    for result in results {
        let key = match result {
            Ok(response) => {
                tool_error |=
                    response.status.is_client_error() || response.status.is_server_error();
                format!("{}", response.status.as_u16())
            }
            Err(e) => {
                failed = true;
                format!("error: {e}")
            }
        };
        *summary.entry(key).or_default() += 1;
    }
    for (outcome, count) in &summary {
        println!("{count} {outcome}");
    }
    let stats = &invoker.broker().stats;
    eprintln!(
        "broker: {} cache hits, {} refreshes, {} refresh failures",
        stats.cache_hits.load(std::sync::atomic::Ordering::Relaxed),
        stats.refreshes.load(std::sync::atomic::Ordering::Relaxed),
        stats
            .refresh_failures
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    Ok(if failed {
        super::failure()
    } else if tool_error {
        ExitCode::from(super::EXIT_TOOL_ERROR)
    } else {
        ExitCode::SUCCESS
    })
}
