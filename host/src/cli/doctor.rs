//! `authhost doctor --config FILE`: checks a deployment the way an operator
//! would before trusting it — the workflow, the token store and its schema,
//! that every stored row opens with the key ring, that plugins are pinned,
//! and the clock against the authorization servers' `Date` headers.
//! Exit 0 when nothing failed (warnings allowed), 2 otherwise.

use std::{path::PathBuf, process::ExitCode};

use authhost_plugin_api::{AuthorizationRequest, Capabilities, Secret};
use serde::Serialize;

use super::{output::ReportFormat, Globals};
use crate::workflow::Workflow;

/// `doctor` arguments.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// The workflow file.
    #[arg(short, long, value_name = "FILE")]
    config: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Verdict {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
struct Check {
    check: &'static str,
    verdict: Verdict,
    detail: String,
}

/// Largest clock difference tolerated before a warning, in seconds (token
/// lifetimes and JWT leeways are counted in tens of seconds).
const MAX_SKEW: i64 = 30;

pub(crate) fn run(args: DoctorArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let workflow = super::load_workflow(&args.config, globals)?;
    let mut checks = vec![Check {
        check: "workflow",
        verdict: Verdict::Ok,
        detail: format!(
            "{}: {} provider(s), {} tool(s)",
            args.config.display(),
            workflow.providers.len(),
            workflow.tools.len()
        ),
    }];
    checks.extend(plugin_pins(&workflow));
    let runtime = super::runtime()?;
    runtime.block_on(async {
        checks.extend(store_checks(&workflow).await);
        checks.extend(clock_checks(&workflow).await);
    });
    match args.format {
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&checks)?),
        ReportFormat::Text => {
            for c in &checks {
                let label = match c.verdict {
                    Verdict::Ok => "ok  ",
                    Verdict::Warn => "warn",
                    Verdict::Fail => "FAIL",
                };
                println!("{label}  {:<10} {}", c.check, super::printable(&c.detail));
            }
        }
    }
    Ok(if checks.iter().any(|c| c.verdict == Verdict::Fail) {
        super::failure()
    } else {
        ExitCode::SUCCESS
    })
}

/// Every loaded plugin should be pinned by the workflow.
fn plugin_pins(workflow: &Workflow) -> Vec<Check> {
    let pins: Vec<crate::plugin::Pin> = workflow
        .plugins
        .pins
        .iter()
        .map(|p| {
            let base = workflow.path.parent().unwrap_or(std::path::Path::new("."));
            crate::plugin::Pin::new(&p.file, &p.sha256, base)
        })
        .collect();
    workflow
        .registry
        .plugins()
        .map(|plugin| {
            let pinned = pins.iter().any(|pin| pin.matches(&plugin.path));
            Check {
                check: "plugin",
                verdict: if pinned { Verdict::Ok } else { Verdict::Warn },
                detail: format!(
                    "{} {} at {}{}",
                    plugin.name,
                    plugin.version,
                    plugin.path.display(),
                    if pinned {
                        " (pinned)"
                    } else {
                        " is not pinned: add its `authhost plugins verify` sha256 to plugins.pins"
                    }
                ),
            }
        })
        .collect()
}

/// The store opens (its schema migrated), and every row opens with the keys.
async fn store_checks(workflow: &Workflow) -> Vec<Check> {
    if !workflow.needs_store() {
        return vec![Check {
            check: "store",
            verdict: Verdict::Ok,
            detail: "no provider keeps per-user tokens".to_owned(),
        }];
    }
    let store = match workflow.open_store().await {
        Ok((store, _)) => store,
        Err(e) => {
            return vec![Check {
                check: "store",
                verdict: Verdict::Fail,
                detail: format!("cannot open: {e}"),
            }]
        }
    };
    let mut checks = vec![Check {
        check: "store",
        verdict: Verdict::Ok,
        detail: format!(
            "{} reachable, schema current, keys {}",
            store.location(),
            store.keys().ids().join(", ")
        ),
    }];
    let broker = crate::broker::Broker::new(Some(std::sync::Arc::new(store)));
    match broker.grants(None, None).await {
        Err(e) => checks.push(Check {
            check: "rows",
            verdict: Verdict::Fail,
            detail: format!("cannot list token rows: {e}"),
        }),
        Ok(rows) => {
            let mut unreadable = Vec::new();
            for row in &rows {
                if let Err(e) = broker.grant(&row.provider, &row.user).await {
                    unreadable.push(format!("{}/{}: {e}", row.provider, row.user));
                }
            }
            checks.push(Check {
                check: "rows",
                verdict: if unreadable.is_empty() {
                    Verdict::Ok
                } else {
                    Verdict::Fail
                },
                detail: if unreadable.is_empty() {
                    format!("all {} token row(s) open with the key ring", rows.len())
                } else {
                    format!(
                        "{} of {} row(s) do not open: {}",
                        unreadable.len(),
                        rows.len(),
                        unreadable.join("; ")
                    )
                },
            });
        }
    }
    checks
}

/// The clock against each interactive provider's authorization server (the
/// origin of the authorization URL the plugin builds; nothing is stored).
async fn clock_checks(workflow: &Workflow) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut origins = std::collections::BTreeSet::new();
    for name in workflow.providers.keys() {
        let Ok(handle) = workflow.provider(name) else {
            continue;
        };
        if !handle.capabilities().contains(Capabilities::INTERACTIVE) {
            continue;
        }
        let request = AuthorizationRequest {
            user_id: "doctor".to_owned(),
            state: Secret::new("doctor"),
            pkce_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned()),
        };
        match handle.authorization_url(&request).await {
            Ok(url) => {
                if let Ok(url) = url::Url::parse(&url) {
                    origins.insert(url.origin().ascii_serialization());
                }
            }
            Err(e) => checks.push(Check {
                check: "clock",
                verdict: Verdict::Warn,
                detail: format!("`{name}`: no authorization server to compare with ({e})"),
            }),
        }
    }
    let Ok(client) = workflow.outbound.client() else {
        return checks;
    };
    for origin in origins {
        let Ok(url) = url::Url::parse(&origin) else {
            continue;
        };
        if workflow.outbound.check_destination(&url).await.is_err() {
            continue;
        }
        let before = crate::clock::now();
        let date = client
            .head(url.clone())
            .send()
            .await
            .ok()
            .and_then(|r| r.headers().get(http::header::DATE).cloned())
            .and_then(|d| d.to_str().ok().map(str::to_owned))
            .and_then(|d| httpdate(&d));
        let check = match date {
            None => Check {
                check: "clock",
                verdict: Verdict::Warn,
                detail: format!("{origin} sent no usable Date header; skew unknown"),
            },
            Some(theirs) => {
                let skew = theirs - before;
                Check {
                    check: "clock",
                    verdict: if skew.abs() > MAX_SKEW {
                        Verdict::Warn
                    } else {
                        Verdict::Ok
                    },
                    detail: format!(
                        "{origin}: this clock is {} s {} it",
                        skew.abs(),
                        if skew > 0 { "behind" } else { "ahead of" }
                    ),
                }
            }
        };
        checks.push(check);
    }
    checks
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) as Unix seconds.
fn httpdate(text: &str) -> Option<i64> {
    let mut parts = text.split_whitespace().skip(1);
    let day: u8 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => time::Month::January,
        "Feb" => time::Month::February,
        "Mar" => time::Month::March,
        "Apr" => time::Month::April,
        "May" => time::Month::May,
        "Jun" => time::Month::June,
        "Jul" => time::Month::July,
        "Aug" => time::Month::August,
        "Sep" => time::Month::September,
        "Oct" => time::Month::October,
        "Nov" => time::Month::November,
        "Dec" => time::Month::December,
        _ => return None,
    };
    let year: i32 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<u8>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let time = time::Time::from_hms(h, m, s).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, time)
            .assume_utc()
            .unix_timestamp(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(httpdate("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(httpdate("nonsense"), None);
    }
}
