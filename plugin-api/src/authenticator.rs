//! [`Authenticator`]: checks an inbound caller's credential (AgentFlow's
//! custom `BaseAuth`).

use std::{future::Future, sync::Arc};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RResult, RString, RVec},
};
use async_ffi::FfiFuture;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::{
    abi::{self, AuthenticatorBox, AuthenticatorInstance_TO, PluginError},
    convert::{opt, secret, string},
    guard::{guard_future, Site},
    CreateContext, Error, Host, Secret,
};

/// An inbound credential, as the host received it.
#[derive(Debug, Clone)]
pub struct InboundCredential {
    /// The `Authorization` scheme (`Bearer`), or empty.
    pub scheme: String,
    /// The credential after the scheme.
    pub credential: Secret,
    /// All request headers.
    pub headers: Vec<(String, Secret)>,
    /// The peer address, if known.
    pub remote_addr: Option<String>,
}

impl InboundCredential {
    /// An `Authorization: Bearer <token>` credential and nothing else, as a
    /// test sends it.
    pub fn bearer(token: &str) -> Self {
        Self {
            scheme: "Bearer".to_owned(),
            credential: Secret::new(token),
            headers: vec![(
                "authorization".to_owned(),
                Secret::new(format!("Bearer {token}")),
            )],
            remote_addr: None,
        }
    }
}

impl From<abi::InboundCredential> for InboundCredential {
    fn from(c: abi::InboundCredential) -> Self {
        Self {
            scheme: string(c.scheme),
            credential: secret(&c.credential),
            headers: c
                .headers
                .into_iter()
                .map(|h| (string(h.name), secret(&h.value)))
                .collect(),
            remote_addr: opt(c.remote_addr, string),
        }
    }
}

/// Who the caller is.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// The user id tokens are stored under.
    pub user_id: String,
    /// Scopes granted to the caller.
    pub scopes: Vec<String>,
    /// All claims, as a JSON object.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl From<&Claims> for abi::Claims {
    fn from(c: &Claims) -> Self {
        abi::Claims {
            user_id: RString::from(c.user_id.as_str()),
            scopes: c
                .scopes
                .iter()
                .map(|s| RString::from(s.as_str()))
                .collect::<RVec<_>>(),
            claims_json: RString::from(serde_json::Value::Object(c.claims.clone()).to_string()),
        }
    }
}

impl From<abi::Claims> for Claims {
    fn from(c: abi::Claims) -> Self {
        let claims = match serde_json::from_str::<serde_json::Value>(c.claims_json.as_str()) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        Self {
            user_id: string(c.user_id),
            scopes: c.scopes.into_iter().map(string).collect(),
            claims,
        }
    }
}

/// An inbound authenticator type. Register it with
/// [`register_authenticator!`](crate::register_authenticator).
pub trait Authenticator: Sized + Send + Sync + 'static {
    /// The type name (`my_sso`).
    const NAME: &'static str;
    /// One-line description.
    const DESCRIPTION: &'static str;
    /// The instance configuration.
    type Config: DeserializeOwned + JsonSchema;

    /// An example configuration that validates and creates an instance.
    fn example_config() -> serde_json::Value;

    /// Builds an instance from its configuration.
    ///
    /// # Errors
    ///
    /// [`Error::config`] when the configuration is unusable.
    fn create(config: Self::Config, ctx: &CreateContext) -> Result<Self, Error>;

    /// Checks a credential.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Unauthenticated`](crate::ErrorKind::Unauthenticated) when
    /// the credential is refused.
    fn authenticate(
        &self,
        credential: InboundCredential,
    ) -> impl Future<Output = Result<Claims, Error>> + Send;
}

struct AuthenticatorAdapter<A> {
    inner: Arc<A>,
    plugin: &'static str,
}

impl<A: Authenticator> abi::AuthenticatorInstance for AuthenticatorAdapter<A> {
    fn authenticate(
        &self,
        credential: abi::InboundCredential,
    ) -> FfiFuture<RResult<abi::Claims, PluginError>> {
        let inner = self.inner.clone();
        let site = Site {
            plugin: self.plugin,
            component: A::NAME,
            operation: "authenticate",
        };
        guard_future(site, move || async move {
            let claims = inner
                .authenticate(InboundCredential::from(credential))
                .await?;
            Ok(abi::Claims::from(&claims))
        })
    }
}

pub(crate) fn create_authenticator<A: Authenticator>(
    plugin: &'static str,
    instance_name: &str,
    config_json: &str,
) -> Result<AuthenticatorBox, Error> {
    let config: A::Config = crate::parse_config(config_json)?;
    let ctx = CreateContext {
        instance_name: instance_name.to_owned(),
        host: Host::current(),
    };
    let authenticator = A::create(config, &ctx)?;
    let adapter = AuthenticatorAdapter {
        inner: Arc::new(authenticator),
        plugin,
    };
    Ok(AuthenticatorInstance_TO::from_value(adapter, TD_Opaque))
}
