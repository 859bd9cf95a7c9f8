//! The device authorization grant (RFC 8628) from the host's side: start
//! it at a [`Capabilities::DEVICE_CODE`] provider, show the user the code,
//! and poll until the user approves — waiting `interval` seconds between
//! polls and five more after each `slow_down` (§3.5) — then store the
//! grant as an authorization code grant is stored.

use std::time::{Duration, Instant};

use authhost_plugin_api::{AuthorizationRequest, Capabilities, CodeExchange, Secret, TokenSet};
use serde::Deserialize;

use crate::{
    broker::{Broker, BrokerError},
    plugin::{CallError, ProviderHandle},
};

/// Added to the interval after each `slow_down` (RFC 8628 §3.5).
const SLOW_DOWN_STEP: u64 = 5;
/// The shortest interval honoured, whatever the server says.
const MIN_INTERVAL: u64 = 1;

/// A started device authorization: what the user must see, and the
/// device code authhost polls with.
#[derive(Deserialize)]
pub struct DeviceAuthorization {
    /// The code the user types.
    pub user_code: String,
    /// Where the user types it.
    pub verification_uri: String,
    /// The same with the code filled in, if the server offers it.
    pub verification_uri_complete: Option<String>,
    /// Seconds the code is valid.
    pub expires_in: u64,
    /// Seconds between polls.
    pub interval: u64,
    device_code: String,
}

impl std::fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .finish_non_exhaustive()
    }
}

/// Why a device authorization did not end in a grant.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The provider has no device flow.
    #[error("provider `{0}` does not authorize with the device flow; use `authhost login` without --device")]
    NotDevice(String),
    /// The plugin failed (starting, or a poll refused for another reason).
    #[error(transparent)]
    Provider(#[from] CallError),
    /// The provider's answer to the start is not a device authorization.
    #[error("provider `{0}` answered the device authorization with something else")]
    BadStart(String),
    /// The user refused.
    #[error("the user refused the authorization (access_denied)")]
    Denied,
    /// The code expired before the user approved.
    #[error("the code expired before the user approved it; start again")]
    Expired,
    /// The grant could not be stored.
    #[error(transparent)]
    Store(#[from] BrokerError),
}

/// Starts a device authorization for `user` at `handle`.
///
/// # Errors
///
/// [`DeviceError::NotDevice`], or what the provider answered.
pub async fn start(
    handle: &ProviderHandle,
    user: &str,
) -> Result<DeviceAuthorization, DeviceError> {
    if !handle.capabilities().contains(Capabilities::DEVICE_CODE) {
        return Err(DeviceError::NotDevice(handle.instance().to_owned()));
    }
    let answer = handle
        .authorization_url(&AuthorizationRequest {
            user_id: user.to_owned(),
            // Unused by the device flow; random so nothing can rely on it.
            state: Secret::new(crate::authorize::pkce_pair().0),
            pkce_challenge: None,
        })
        .await?;
    serde_json::from_str(&answer).map_err(|_| DeviceError::BadStart(handle.instance().to_owned()))
}

/// Polls until the user approves `authorization`, the code expires, or
/// `deadline` passes; stores the grant for `user` and returns its tokens.
///
/// # Errors
///
/// [`DeviceError::Denied`], [`DeviceError::Expired`] (also at `deadline`),
/// a provider failure, or the store's.
pub async fn finish(
    handle: &ProviderHandle,
    broker: &Broker,
    user: &str,
    authorization: &DeviceAuthorization,
    deadline: Instant,
) -> Result<TokenSet, DeviceError> {
    let expires = Instant::now() + Duration::from_secs(authorization.expires_in);
    let deadline = deadline.min(expires);
    let mut interval = authorization.interval.max(MIN_INTERVAL);
    let code = Secret::new(authorization.device_code.clone());
    loop {
        let wait = Duration::from_secs(interval);
        if Instant::now() + wait > deadline {
            return Err(DeviceError::Expired);
        }
        tokio::time::sleep(wait).await;
        let polled = handle
            .exchange_code(&CodeExchange {
                user_id: user.to_owned(),
                code: code.clone(),
                pkce_verifier: None,
                issuer: None,
            })
            .await;
        let error = match polled {
            Ok(tokens) => {
                broker.save_grant(handle.instance(), user, &tokens).await?;
                return Ok(tokens);
            }
            Err(error) => error,
        };
        match oauth_code(&error) {
            Some("authorization_pending") => {}
            Some("slow_down") => interval += SLOW_DOWN_STEP,
            Some("access_denied") => return Err(DeviceError::Denied),
            Some("expired_token") => return Err(DeviceError::Expired),
            _ => return Err(error.into()),
        }
    }
}

/// The OAuth `error` code a poll was refused with, if any.
fn oauth_code(error: &CallError) -> Option<&str> {
    match error {
        CallError::Plugin { error, .. } => error.oauth_error(),
        CallError::Timeout { .. } => None,
    }
}
