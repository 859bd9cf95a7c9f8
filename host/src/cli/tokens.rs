//! `authhost tokens list|show|revoke`: stored per-user tokens. No secret is
//! ever printed.

use std::{path::PathBuf, process::ExitCode};

use anyhow::bail;
use clap::Subcommand;

use super::{
    output::{printable, write_table, ListFormat},
    Globals,
};
use crate::{
    broker::Revocation,
    clock::{format_utc, now},
};

/// `tokens` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// List stored tokens (provider, user, expiry, scopes, last error).
    List {
        /// The workflow file (its general.store).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// Only this provider instance.
        #[arg(long)]
        provider: Option<String>,
        /// Only this user.
        #[arg(long)]
        user: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Show one user's tokens for a provider (metadata only).
    Show {
        /// The provider instance.
        provider: String,
        /// The user.
        #[arg(short, long)]
        user: String,
        /// The workflow file.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Revoke a user's tokens at the authorization server (when it supports
    /// revocation), then delete them.
    Revoke {
        /// The provider instance.
        provider: String,
        /// The user.
        #[arg(short, long)]
        user: String,
        /// The workflow file.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
}

fn when(at: Option<i64>) -> String {
    match at {
        None => "never".to_owned(),
        Some(at) if at <= now() => format!("{} (expired)", format_utc(at)),
        Some(at) => format_utc(at),
    }
}

impl TokensCommand {
    pub(crate) fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        let runtime = super::runtime()?;
        match self {
            Self::List {
                config,
                provider,
                user,
                format,
            } => {
                let workflow = super::load_workflow(&config, globals)?;
                let rows = runtime.block_on(async {
                    let broker = super::open_broker(&workflow).await?;
                    anyhow::Ok(broker.grants(provider.as_deref(), user.as_deref()).await?)
                })?;
                match format {
                    ListFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
                    ListFormat::Table => {
                        let table: Vec<Vec<String>> = rows
                            .iter()
                            .map(|r| {
                                vec![
                                    r.provider.clone(),
                                    r.user.clone(),
                                    when(r.expires_at),
                                    r.scopes.join(" "),
                                    format_utc(r.updated_at),
                                    r.last_error.clone().unwrap_or_default(),
                                ]
                            })
                            .collect();
                        let mut out = std::io::stdout().lock();
                        write_table(
                            &mut out,
                            &[
                                "PROVIDER",
                                "USER",
                                "EXPIRES",
                                "SCOPES",
                                "UPDATED",
                                "LAST ERROR",
                            ],
                            &table,
                        )?;
                        if rows.is_empty() {
                            eprintln!("no stored tokens");
                        }
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            Self::Show {
                provider,
                user,
                config,
            } => {
                let workflow = super::load_workflow(&config, globals)?;
                runtime.block_on(async {
                    let broker = super::open_broker(&workflow).await?;
                    let Some(row) = broker
                        .grants(Some(&provider), Some(&user))
                        .await?
                        .into_iter()
                        .next()
                    else {
                        bail!("no tokens stored for user `{user}` and provider `{provider}`");
                    };
                    println!("provider      {}", printable(&row.provider));
                    println!("user          {}", printable(&row.user));
                    println!("expires       {}", when(row.expires_at));
                    println!("scopes        {}", printable(&row.scopes.join(" ")));
                    println!("stored        {}", format_utc(row.created_at));
                    println!("obtained      {}", format_utc(row.obtained_at));
                    println!(
                        "updated       {} (version {})",
                        format_utc(row.updated_at),
                        row.version
                    );
                    println!("key           {}", row.key_id);
                    match broker.grant(&provider, &user).await {
                        Ok(Some(stored)) => {
                            println!("decrypts      yes");
                            println!(
                                "refresh token {}",
                                if stored.tokens.refresh_token.is_some() {
                                    "yes"
                                } else {
                                    "no"
                                }
                            );
                        }
                        Ok(None) => {}
                        Err(e) => println!("decrypts      NO: {}", printable(&e.to_string())),
                    }
                    if let Some(error) = row.last_error {
                        println!("last error    {}", printable(&error));
                    }
                    Ok(ExitCode::SUCCESS)
                })
            }
            Self::Revoke {
                provider,
                user,
                config,
            } => {
                let workflow = super::load_workflow(&config, globals)?;
                let kept_by = if crate::mcp_client::saved::is_saved_by_mcp_client(&provider) {
                    Some("saved by `authhost mcp`")
                } else if crate::plugin::kept_store::is_kept_by_a_plugin(&provider) {
                    Some("kept by a plugin, such as a client it registered")
                } else {
                    None
                };
                if let Some(kept_by) = kept_by {
                    // No workflow provider revokes these rows at a server:
                    // only the local copy goes.
                    return runtime.block_on(async {
                        let store = super::open_store(&workflow).await?;
                        if !store.delete(&provider, &user).await? {
                            bail!("no tokens stored for user `{user}` and `{provider}`");
                        }
                        println!("deleted the tokens of user `{user}` for `{provider}` ({kept_by}; not revoked at the server)");
                        Ok(ExitCode::SUCCESS)
                    });
                }
                if !workflow.providers.contains_key(&provider) {
                    bail!("no provider `{provider}` in {}", config.display());
                }
                runtime.block_on(async {
                    let broker = super::open_broker(&workflow).await?;
                    let handle = workflow.provider(&provider)?;
                    match broker.disconnect(&handle, &user).await? {
                        None => bail!("no tokens stored for user `{user}` and provider `{provider}`"),
                        Some(Revocation::Revoked) => println!("revoked at the authorization server"),
                        Some(Revocation::Unsupported) => println!("the provider has no revocation endpoint; deleted the local copy"),
                        Some(Revocation::Failed(reason)) => eprintln!("warning: revocation at the server failed ({reason}); deleted the local copy anyway"),
                        Some(Revocation::Unreadable(reason)) => eprintln!("warning: {reason}; deleted the row"),
                        Some(Revocation::Supplied) => {}
                    }
                    println!("deleted the tokens of user `{user}` for `{provider}`");
                    Ok(ExitCode::SUCCESS)
                })
            }
        }
    }
}
