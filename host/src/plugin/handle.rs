//! Host-side handles to provider and authenticator instances: typed calls,
//! a deadline on every call, and plugin failures turned into [`CallError`]s.

use std::{future::Future, panic::AssertUnwindSafe, sync::Arc, time::Duration};

use abi_stable::std_types::RResult;
use authhost_plugin_api::{
    abi::{self, AuthenticatorBox, Capabilities, InstanceInfo, PluginError, ProviderBox},
    clamp_expiry, AuthContext, AuthOutcome, AuthorizationRequest, Claims, CodeExchange, Error,
    ErrorKind, InboundCredential, TokenSet,
};
use futures_util::FutureExt;

use super::CallError;

/// Names of an instance, for errors and logs, and its call deadline.
#[derive(Debug, Clone)]
pub(crate) struct InstanceNames {
    plugin: String,
    type_name: String,
    instance: String,
    timeout: Duration,
    /// The deadline of calls that reach a token endpoint.
    token_call_timeout: Duration,
    capabilities: Capabilities,
}

impl InstanceNames {
    pub(crate) fn new(
        plugin: &str,
        type_name: &str,
        instance: &str,
        timeout: Duration,
        capabilities: Capabilities,
    ) -> Arc<Self> {
        Arc::new(Self {
            plugin: plugin.to_owned(),
            type_name: type_name.to_owned(),
            instance: instance.to_owned(),
            timeout,
            token_call_timeout: timeout,
            capabilities,
        })
    }

    /// The same names with `timeout` for calls that reach a token endpoint.
    pub(crate) fn with_token_call_timeout(self: Arc<Self>, timeout: Duration) -> Arc<Self> {
        let mut names = Arc::unwrap_or_clone(self);
        names.token_call_timeout = timeout;
        Arc::new(names)
    }

    /// Awaits a call into the plugin with a deadline. A panic that escapes
    /// the plugin's own guard (a plugin not built with the SDK) is caught
    /// here too.
    async fn call<T>(
        &self,
        operation: &'static str,
        fut: impl Future<Output = RResult<T, PluginError>> + Unpin,
    ) -> Result<T, CallError> {
        self.call_within(operation, fut, self.timeout).await
    }

    /// [`call`](Self::call) with its own deadline.
    async fn call_within<T>(
        &self,
        operation: &'static str,
        fut: impl Future<Output = RResult<T, PluginError>> + Unpin,
        timeout: Duration,
    ) -> Result<T, CallError> {
        let mut guarded = AssertUnwindSafe(fut).catch_unwind();
        // Most calls (static credentials, cache hits inside a plugin) are
        // ready at once: poll first and only arm the deadline when pending.
        let first = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::pin::Pin::new(&mut guarded).poll(cx))
        })
        .await;
        let outcome = match first {
            std::task::Poll::Ready(ready) => Ok(ready),
            std::task::Poll::Pending => tokio::time::timeout(timeout, guarded).await,
        };
        let result = match outcome {
            Err(_) => {
                return Err(CallError::Timeout {
                    instance: self.instance.clone(),
                    type_name: self.type_name.clone(),
                    plugin: self.plugin.clone(),
                    operation,
                    after: timeout,
                })
            }
            Ok(Err(_panic)) => Err(Error::new(
                ErrorKind::Panicked,
                format!("plugin {} panicked in {operation}", self.plugin),
            )),
            Ok(Ok(result)) => result.into_result().map_err(Error::from),
        };
        result.map_err(|source| CallError::Plugin {
            instance: self.instance.clone(),
            type_name: self.type_name.clone(),
            plugin: self.plugin.clone(),
            operation,
            error: Box::new(source),
        })
    }
}

/// How long supplied credentials are kept when the plugin does not say.
const DEFAULT_SUPPLIED_TTL_SECS: i64 = 3600;

/// A configured provider instance.
#[derive(Clone)]
pub struct ProviderHandle {
    inner: Arc<ProviderBox>,
    names: Arc<InstanceNames>,
    info: InstanceInfo,
}

impl std::fmt::Debug for ProviderHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ProviderHandle").field(&self.names).finish()
    }
}

impl ProviderHandle {
    pub(crate) fn new(inner: ProviderBox, names: Arc<InstanceNames>) -> Self {
        let info = inner.info();
        Self {
            inner: Arc::new(inner),
            names,
            info,
        }
    }

    /// The instance name.
    pub fn instance(&self) -> &str {
        &self.names.instance
    }

    /// The provider type.
    pub fn type_name(&self) -> &str {
        &self.names.type_name
    }

    /// What the provider type can do.
    pub fn capabilities(&self) -> Capabilities {
        self.names.capabilities
    }

    /// Whether the host keeps each user's credentials for this instance in
    /// the token store: every interactive instance, and those whose plugin
    /// says so (a `user_supplied` instance with `persist: true`).
    pub fn stores_user_credentials(&self) -> bool {
        self.names.capabilities.contains(Capabilities::INTERACTIVE)
            || self.info.stores_user_credentials
    }

    /// Whether this instance keeps per-user grants that can be refreshed
    /// (interactive and refreshable): the ones an upstream 401 may be
    /// answered for by one refresh and one retry.
    pub fn refreshes_user_grants(&self) -> bool {
        let caps = self.names.capabilities;
        caps.contains(Capabilities::INTERACTIVE) && caps.contains(Capabilities::REFRESHABLE)
    }

    /// How long supplied credentials are kept, in seconds (the plugin's
    /// answer, or one hour).
    pub fn supplied_ttl_secs(&self) -> i64 {
        match self.info.supplied_ttl_secs {
            0 => DEFAULT_SUPPLIED_TTL_SECS,
            secs => i64::try_from(secs).unwrap_or(i64::MAX),
        }
    }

    /// Credentials for one call.
    ///
    /// # Errors
    ///
    /// The plugin's error (a panic included) or a timeout.
    pub async fn authenticate(&self, ctx: &AuthContext) -> Result<AuthOutcome, CallError> {
        let fut = self.inner.authenticate(abi::AuthContext::from(ctx));
        let outcome = self
            .names
            .call("authenticate", fut)
            .await
            .map(AuthOutcome::from)?;
        Ok(match outcome {
            AuthOutcome::Credentials {
                credentials,
                expires_at,
            } => AuthOutcome::Credentials {
                credentials,
                expires_at: clamp_expiry(expires_at, crate::clock::now()),
            },
            other => other,
        })
    }

    /// The URL where the user authorizes.
    ///
    /// # Errors
    ///
    /// As [`authenticate`](Self::authenticate); `Unsupported` for static providers.
    pub async fn authorization_url(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<String, CallError> {
        let fut = self
            .inner
            .authorization_url(abi::AuthorizationRequest::from(request));
        self.names
            .call("authorization_url", fut)
            .await
            .map(|s| s.into_string())
    }

    /// Exchanges an authorization code.
    ///
    /// # Errors
    ///
    /// As [`authenticate`](Self::authenticate).
    pub async fn exchange_code(&self, exchange: &CodeExchange) -> Result<TokenSet, CallError> {
        let fut = self.inner.exchange_code(abi::CodeExchange::from(exchange));
        self.names
            .call_within("exchange_code", fut, self.names.token_call_timeout)
            .await
            .map(TokenSet::from)
            .map(clamped)
    }

    /// Refreshes a token set.
    ///
    /// # Errors
    ///
    /// As [`authenticate`](Self::authenticate).
    pub async fn refresh(&self, tokens: &TokenSet) -> Result<TokenSet, CallError> {
        let fut = self.inner.refresh(abi::TokenSet::from(tokens));
        self.names
            .call_within("refresh", fut, self.names.token_call_timeout)
            .await
            .map(TokenSet::from)
            .map(clamped)
    }

    /// Revokes a token set at the server.
    ///
    /// # Errors
    ///
    /// As [`authenticate`](Self::authenticate).
    pub async fn revoke(&self, tokens: &TokenSet) -> Result<(), CallError> {
        let fut = self.inner.revoke(abi::TokenSet::from(tokens));
        self.names.call("revoke", fut).await
    }
}

/// A plugin's token set with its expiry within the host's maximum lifetime
/// (a server's `expires_in` of 2^63 must not wrap into the past).
fn clamped(mut tokens: TokenSet) -> TokenSet {
    tokens.expires_at = clamp_expiry(tokens.expires_at, crate::clock::now());
    tokens
}

/// A configured authenticator instance.
#[derive(Clone)]
pub struct AuthenticatorHandle {
    inner: Arc<AuthenticatorBox>,
    names: Arc<InstanceNames>,
}

impl std::fmt::Debug for AuthenticatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AuthenticatorHandle")
            .field(&self.names)
            .finish()
    }
}

impl AuthenticatorHandle {
    pub(crate) fn new(inner: AuthenticatorBox, names: Arc<InstanceNames>) -> Self {
        Self {
            inner: Arc::new(inner),
            names,
        }
    }

    /// Checks an inbound credential.
    ///
    /// # Errors
    ///
    /// `Unauthenticated` when refused, the plugin's error, or a timeout.
    pub async fn authenticate(&self, credential: InboundCredential) -> Result<Claims, CallError> {
        let abi_credential = abi::InboundCredential {
            scheme: credential.scheme.as_str().into(),
            credential: abi::RSecret::from(&credential.credential),
            headers: credential
                .headers
                .iter()
                .map(|(name, value)| abi::HttpHeader {
                    name: name.as_str().into(),
                    value: abi::RSecret::from(value),
                })
                .collect(),
            remote_addr: credential.remote_addr.as_deref().map(Into::into).into(),
        };
        let fut = self.inner.authenticate(abi_credential);
        self.names.call("authenticate", fut).await.map(Claims::from)
    }
}
