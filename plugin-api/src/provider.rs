//! [`AuthProvider`]: the trait a plugin implements for each provider type.

use std::{future::Future, sync::Arc};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RResult, RString},
};
use async_ffi::FfiFuture;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::{
    abi::{self, Capabilities, InstanceInfo, PluginError, ProviderBox, ProviderInstance_TO},
    guard::{guard_future, Site},
    AuthContext, AuthOutcome, AuthorizationRequest, CodeExchange, Error, Host, TokenSet,
};

/// What a provider learns when it is created.
#[derive(Debug, Clone)]
pub struct CreateContext {
    /// The instance name in the workflow (`github`).
    pub instance_name: String,
    /// The host's services, when a host loaded the plugin (`None` when the
    /// plugin is tested in-process).
    pub host: Option<Host>,
}

/// An outbound auth provider type: a configuration and the credentials it
/// produces.
///
/// Implement it, then register the type with
/// [`register_provider!`](crate::register_provider). Interactive methods
/// default to "unsupported".
pub trait AuthProvider: Sized + Send + Sync + 'static {
    /// The type name workflows use in `_type`, snake_case (`api_key`).
    const NAME: &'static str;
    /// One-line description shown by `authhost info components`.
    const DESCRIPTION: &'static str;
    /// What the provider can do beyond `authenticate`.
    const CAPABILITIES: Capabilities = Capabilities::NONE;

    /// The instance configuration; its JSON Schema is published to the host.
    /// Use [`Secret`](crate::Secret) for secret fields.
    type Config: DeserializeOwned + JsonSchema;

    /// An example configuration that validates and creates an instance.
    fn example_config() -> serde_json::Value;

    /// Builds an instance from its configuration.
    ///
    /// # Errors
    ///
    /// [`Error::config`] when the configuration is unusable; name the key.
    fn create(config: Self::Config, ctx: &CreateContext) -> Result<Self, Error>;

    /// Credentials for one call.
    fn authenticate(
        &self,
        ctx: AuthContext,
    ) -> impl Future<Output = Result<AuthOutcome, Error>> + Send;

    /// The URL where the user authorizes.
    fn authorization_url(
        &self,
        request: AuthorizationRequest,
    ) -> impl Future<Output = Result<String, Error>> + Send {
        let _ = request;
        async { Err(Error::unsupported("authorization_url")) }
    }

    /// Exchanges an authorization code for tokens.
    fn exchange_code(
        &self,
        exchange: CodeExchange,
    ) -> impl Future<Output = Result<TokenSet, Error>> + Send {
        let _ = exchange;
        async { Err(Error::unsupported("exchange_code")) }
    }

    /// Refreshes a token set.
    fn refresh(&self, tokens: TokenSet) -> impl Future<Output = Result<TokenSet, Error>> + Send {
        let _ = tokens;
        async { Err(Error::unsupported("refresh")) }
    }

    /// Revokes a token set at the server.
    fn revoke(&self, tokens: TokenSet) -> impl Future<Output = Result<(), Error>> + Send {
        let _ = tokens;
        async { Err(Error::unsupported("revoke")) }
    }

    /// What the host must know about this instance that its capabilities do
    /// not say (whether supplied credentials are stored, for how long), read
    /// once after [`create`](Self::create). The host never reads keys inside
    /// the instance's configuration.
    fn info(&self) -> InstanceInfo {
        InstanceInfo::default()
    }
}

/// Adapts an [`AuthProvider`] to the ABI trait object, guarding every call.
struct ProviderAdapter<P> {
    inner: Arc<P>,
    plugin: &'static str,
}

impl<P: AuthProvider> ProviderAdapter<P> {
    fn site(&self, operation: &'static str) -> Site {
        Site {
            plugin: self.plugin,
            component: P::NAME,
            operation,
        }
    }
}

impl<P: AuthProvider> abi::ProviderInstance for ProviderAdapter<P> {
    fn authenticate(
        &self,
        ctx: abi::AuthContext,
    ) -> FfiFuture<RResult<abi::AuthOutcome, PluginError>> {
        let inner = self.inner.clone();
        guard_future(self.site("authenticate"), move || async move {
            let outcome = inner.authenticate(AuthContext::from(ctx)).await?;
            Ok(abi::AuthOutcome::from(outcome))
        })
    }

    fn authorization_url(
        &self,
        request: abi::AuthorizationRequest,
    ) -> FfiFuture<RResult<RString, PluginError>> {
        let inner = self.inner.clone();
        guard_future(self.site("authorization_url"), move || async move {
            let url = inner
                .authorization_url(AuthorizationRequest::from(request))
                .await?;
            Ok(RString::from(url))
        })
    }

    fn exchange_code(
        &self,
        exchange: abi::CodeExchange,
    ) -> FfiFuture<RResult<abi::TokenSet, PluginError>> {
        let inner = self.inner.clone();
        guard_future(self.site("exchange_code"), move || async move {
            let tokens = inner.exchange_code(CodeExchange::from(exchange)).await?;
            Ok(abi::TokenSet::from(&tokens))
        })
    }

    fn refresh(&self, tokens: abi::TokenSet) -> FfiFuture<RResult<abi::TokenSet, PluginError>> {
        let inner = self.inner.clone();
        guard_future(self.site("refresh"), move || async move {
            let tokens = inner.refresh(TokenSet::from(tokens)).await?;
            Ok(abi::TokenSet::from(&tokens))
        })
    }

    fn revoke(&self, tokens: abi::TokenSet) -> FfiFuture<RResult<(), PluginError>> {
        let inner = self.inner.clone();
        guard_future(self.site("revoke"), move || async move {
            inner.revoke(TokenSet::from(tokens)).await
        })
    }

    fn info(&self) -> InstanceInfo {
        // A panic here must not cross the ABI: the default stands in.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.inner.info()))
            .unwrap_or_default()
    }
}

/// Parses the configuration, creates the provider and boxes it for the host.
pub(crate) fn create_provider<P: AuthProvider>(
    plugin: &'static str,
    instance_name: &str,
    config_json: &str,
) -> Result<ProviderBox, Error> {
    let config: P::Config = crate::parse_config(config_json)?;
    let ctx = CreateContext {
        instance_name: instance_name.to_owned(),
        host: Host::current(),
    };
    let provider = P::create(config, &ctx)?;
    let adapter = ProviderAdapter {
        inner: Arc::new(provider),
        plugin,
    };
    Ok(ProviderInstance_TO::from_value(adapter, TD_Opaque))
}

/// Creates a provider in-process from a JSON configuration and wraps it in the
/// ABI trait object, exactly as the host would get it. For plugin tests.
///
/// # Errors
///
/// As [`AuthProvider::create`], plus configuration parse errors.
pub fn instantiate<P: AuthProvider>(config: serde_json::Value) -> Result<ProviderBox, Error> {
    create_provider::<P>("in-process", "test", &config.to_string())
}
