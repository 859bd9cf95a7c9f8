//! `custom_headers`: a fixed set of headers, each value a secret.

use std::collections::BTreeMap;

use authhost_plugin_api::{
    AuthContext, AuthOutcome, AuthProvider, CreateContext, Credential, Error, Secret,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::validate;

/// Headers sent with every request; each value is treated as a secret.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomHeadersConfig {
    /// Header name → value.
    #[schemars(extend("minProperties" = 1))]
    pub headers: BTreeMap<String, Secret>,
}

/// The `custom_headers` provider.
#[derive(Debug)]
pub struct CustomHeaders {
    outcome: AuthOutcome,
}

impl AuthProvider for CustomHeaders {
    const NAME: &'static str = "custom_headers";
    const DESCRIPTION: &'static str = "A fixed set of headers whose values are secrets";
    type Config = CustomHeadersConfig;

    fn example_config() -> serde_json::Value {
        serde_json::json!({ "headers": { "X-Tenant-Id": "acme", "X-Tenant-Key": "${TENANT_KEY}" } })
    }

    fn create(config: CustomHeadersConfig, _: &CreateContext) -> Result<Self, Error> {
        if config.headers.is_empty() {
            return Err(Error::config("headers: needs at least one header"));
        }
        let mut credentials = Vec::with_capacity(config.headers.len());
        for (name, value) in config.headers {
            validate::header_name(&format!("headers.{name}"), &name)?;
            validate::secret_value(&format!("headers.{name}"), &value)?;
            credentials.push(Credential::Header { name, value });
        }
        Ok(Self {
            outcome: AuthOutcome::credentials(credentials),
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
    fn every_header_is_sent() {
        let creds =
            credentials::<CustomHeaders>(json!({"headers": {"A": "1", "B": "2"}})).expect("valid");
        let names: Vec<_> = creds
            .iter()
            .map(|c| match c {
                Credential::Header { name, value } => (name.as_str(), value.expose()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(names, [("A", "1"), ("B", "2")]);
    }

    #[test]
    fn empty_map_and_bad_names_are_refused() {
        assert!(credentials::<CustomHeaders>(json!({"headers": {}})).is_err());
        let err =
            credentials::<CustomHeaders>(json!({"headers": {"Bad Name": "v"}})).expect_err("space");
        assert!(err.message().starts_with("headers.Bad Name:"));
    }
}
