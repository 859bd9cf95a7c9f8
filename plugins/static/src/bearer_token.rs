//! `bearer_token`: a static token, `Authorization: Bearer <token>` by default.

use authhost_plugin_api::{
    AuthContext, AuthOutcome, AuthProvider, CreateContext, Credential, Error, Secret,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::validate;

fn default_scheme() -> String {
    "Bearer".to_owned()
}

fn default_header_name() -> String {
    "Authorization".to_owned()
}

/// A static bearer token.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BearerTokenConfig {
    /// The token.
    pub token: Secret,
    /// The scheme before the token; an empty string sends the bare token.
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// The header carrying the token.
    #[serde(default = "default_header_name")]
    pub header_name: String,
}

/// The `bearer_token` provider.
#[derive(Debug)]
pub struct BearerToken {
    outcome: AuthOutcome,
}

impl AuthProvider for BearerToken {
    const NAME: &'static str = "bearer_token";
    const DESCRIPTION: &'static str =
        "A static token: Authorization: Bearer <token>, with configurable scheme and header";
    type Config = BearerTokenConfig;

    fn example_config() -> serde_json::Value {
        serde_json::json!({ "token": "${SERVICE_TOKEN}", "scheme": "Bearer", "header_name": "Authorization" })
    }

    fn create(config: BearerTokenConfig, _: &CreateContext) -> Result<Self, Error> {
        validate::secret_value("token", &config.token)?;
        validate::header_name("header_name", &config.header_name)?;
        validate::plain_value("scheme", &config.scheme)?;
        if config.scheme.contains(' ') {
            return Err(Error::config(
                "scheme: must be a single word such as `Bearer`",
            ));
        }
        Ok(Self {
            outcome: AuthOutcome::credentials(vec![Credential::Bearer {
                token: config.token,
                scheme: config.scheme,
                header_name: config.header_name,
            }]),
        })
    }

    async fn authenticate(&self, _: AuthContext) -> Result<AuthOutcome, Error> {
        Ok(self.outcome.clone())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::credentials;

    #[test]
    fn defaults_and_options() {
        let creds = credentials::<BearerToken>(json!({"token": "t"})).expect("valid");
        assert!(
            matches!(&creds[..], [Credential::Bearer { scheme, header_name, .. }]
            if scheme == "Bearer" && header_name == "Authorization")
        );
        let creds = credentials::<BearerToken>(
            json!({"token": "t", "scheme": "", "header_name": "X-Auth"}),
        )
        .expect("valid");
        assert!(
            matches!(&creds[..], [Credential::Bearer { scheme, header_name, .. }]
            if scheme.is_empty() && header_name == "X-Auth")
        );
    }

    #[test]
    fn bad_header_name_is_refused() {
        let err = credentials::<BearerToken>(json!({"token": "t", "header_name": "X Auth"}))
            .expect_err("space");
        assert!(err.message().starts_with("header_name:"));
    }
}
