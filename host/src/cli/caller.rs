//! Who a CLI call (`call`, `curl`) is made for: the end user, and the
//! caller's own token for providers that exchange it.

use anyhow::Context as _;
use authhost_plugin_api::Secret;

use crate::inbound::Caller;

/// The caller of a CLI call.
#[derive(Debug, clap::Args)]
pub struct CallerArgs {
    /// The end user the call is made for.
    #[arg(short, long, value_name = "ID", default_value = "default")]
    pub user: String,
    /// The environment variable holding the caller's own token, for
    /// providers that exchange it (token exchange, on-behalf-of).
    #[arg(long, value_name = "NAME")]
    pub caller_token_env: Option<String>,
}

impl CallerArgs {
    /// The caller these arguments name.
    ///
    /// # Errors
    ///
    /// The token variable is unset or empty.
    pub fn caller(&self) -> anyhow::Result<Caller> {
        let mut caller = Caller::named(&self.user);
        if let Some(name) = &self.caller_token_env {
            let token = std::env::var(name)
                .ok()
                .filter(|t| !t.is_empty())
                .with_context(|| {
                    format!("--caller-token-env {name}: the variable is unset or empty")
                })?;
            caller.token = Some(Secret::new(token));
        }
        Ok(caller)
    }
}
