//! authhost's built-in static-credential providers: `api_key`, `http_basic`,
//! `bearer_token`, `custom_headers`, and `user_supplied` (credentials each
//! user hands in).
//!
//! Built as `libauthhost_static.so`; the host finds it beside its executable.

mod api_key;
mod bearer_token;
mod custom_headers;
mod http_basic;
mod user_supplied;
mod validate;

pub use api_key::{ApiKey, ApiKeyConfig};
pub use bearer_token::{BearerToken, BearerTokenConfig};
pub use custom_headers::{CustomHeaders, CustomHeadersConfig};
pub use http_basic::{HttpBasic, HttpBasicConfig};
pub use user_supplied::{SuppliedKind, UserSupplied, UserSuppliedConfig};

authhost_plugin_api::register_provider!(ApiKey);
authhost_plugin_api::register_provider!(HttpBasic);
authhost_plugin_api::register_provider!(BearerToken);
authhost_plugin_api::register_provider!(CustomHeaders);
authhost_plugin_api::register_provider!(UserSupplied);
authhost_plugin_api::export_plugin!();

#[cfg(test)]
pub(crate) mod testing {
    use authhost_plugin_api::{
        abi::ProviderBox, instantiate, AuthContext, AuthOutcome, AuthProvider, Credential, Error,
    };

    /// Creates `P` from `config` through the ABI and authenticates once.
    pub(crate) fn credentials<P: AuthProvider>(
        config: serde_json::Value,
    ) -> Result<Vec<Credential>, Error> {
        let provider: ProviderBox = instantiate::<P>(config)?;
        let ctx = authhost_plugin_api::abi::AuthContext::from(&AuthContext::for_user("alice"));
        let outcome = futures_executor::block_on(provider.authenticate(ctx)).into_result()?;
        match AuthOutcome::from(outcome) {
            AuthOutcome::Credentials { credentials, .. } => Ok(credentials),
            other => panic!("unexpected outcome {other:?}"),
        }
    }

    /// The example config validates (deserializes) and authenticates.
    fn example_authenticates<P: AuthProvider>() {
        let creds = credentials::<P>(P::example_config()).expect("example config works");
        assert!(!creds.is_empty(), "{} example yields credentials", P::NAME);
    }

    #[test]
    fn every_static_example_config_authenticates() {
        example_authenticates::<crate::api_key::ApiKey>();
        example_authenticates::<crate::bearer_token::BearerToken>();
        example_authenticates::<crate::custom_headers::CustomHeaders>();
        example_authenticates::<crate::http_basic::HttpBasic>();
    }
}
