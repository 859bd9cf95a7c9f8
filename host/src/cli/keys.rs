//! `authhost keys rotate`: a new encryption key, every row re-encrypted.

use std::{path::PathBuf, process::ExitCode};

use clap::Subcommand;

use super::Globals;

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new current key to the key file, re-encrypt every stored token
    /// with it (online: concurrent refreshes win), then retire unused keys.
    Rotate {
        /// The workflow file (its general.store).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
}

impl KeysCommand {
    pub(crate) fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        match self {
            Self::Rotate { config } => {
                let workflow = super::load_workflow(&config, globals)?;
                let runtime = super::runtime()?;
                let (new_key, rows, retired) = runtime.block_on(async {
                    let broker = super::open_broker(&workflow).await?;
                    anyhow::Ok(broker.rotate_keys().await?)
                })?;
                println!("new key {new_key}: {rows} token row(s) re-encrypted");
                if retired.is_empty() {
                    println!("no key retired (the previous key is kept until the next rotation, and any key a row still uses)");
                } else {
                    println!("retired key(s): {}", retired.join(", "));
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}
