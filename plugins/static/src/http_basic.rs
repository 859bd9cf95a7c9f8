//! `http_basic`: `Authorization: Basic base64(username:password)`.

use authhost_plugin_api::{
    AuthContext, AuthOutcome, AuthProvider, CreateContext, Credential, Error, Secret,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::validate;

/// HTTP Basic authentication (RFC 7617).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpBasicConfig {
    /// The user name; must not contain `:`.
    pub username: String,
    /// The password.
    pub password: Secret,
}

/// The `http_basic` provider.
#[derive(Debug)]
pub struct HttpBasic {
    outcome: AuthOutcome,
}

impl AuthProvider for HttpBasic {
    const NAME: &'static str = "http_basic";
    const DESCRIPTION: &'static str =
        "HTTP Basic authentication: Authorization: Basic base64(username:password)";
    type Config = HttpBasicConfig;

    fn example_config() -> serde_json::Value {
        serde_json::json!({ "username": "svc-reports", "password": "${REPORTS_PASSWORD}" })
    }

    fn create(config: HttpBasicConfig, _: &CreateContext) -> Result<Self, Error> {
        if config.username.contains(':') {
            return Err(Error::config(
                "username: must not contain `:` (RFC 7617 uses it to separate the password)",
            ));
        }
        validate::plain_value("username", &config.username)?;
        if config.password.expose().chars().any(|c| c.is_control()) {
            return Err(Error::config(
                "password: contains a control character; the value is not shown",
            ));
        }
        Ok(Self {
            outcome: AuthOutcome::credentials(vec![Credential::Basic {
                username: config.username,
                password: config.password,
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
    fn yields_basic_credential() {
        // NAT 1.9.0's `auth_scheme: Basic` raises instead.
        let creds =
            credentials::<HttpBasic>(json!({"username": "u", "password": "p"})).expect("valid");
        match &creds[..] {
            [Credential::Basic { username, password }] => {
                assert_eq!((username.as_str(), password.expose()), ("u", "p"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn colon_in_username_is_refused() {
        let err = credentials::<HttpBasic>(json!({"username": "a:b", "password": "p"}))
            .expect_err("colon");
        assert!(err.message().starts_with("username:"));
    }
}
