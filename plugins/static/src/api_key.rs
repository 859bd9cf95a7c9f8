//! `api_key`: a key in a header (with an optional scheme), a query parameter
//! or a cookie.

use authhost_plugin_api::{
    AuthContext, AuthOutcome, AuthProvider, CreateContext, Credential, Error, Secret,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::validate;

const DEFAULT_HEADER: &str = "X-API-Key";

/// An API key sent with every request. Set at most one of `header`, `query`
/// and `cookie`; with none, the key goes in the `X-API-Key` header.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// The API key.
    pub api_key: Secret,
    /// Send the key in this header (default `X-API-Key` when neither `query`
    /// nor `cookie` is set).
    pub header: Option<String>,
    /// A scheme written before the key in the header, such as `Bearer` or
    /// `Token` (`Authorization: Token <key>`). Header placement only.
    pub prefix: Option<String>,
    /// Send the key as this query parameter instead (`?api_key=<key>`).
    pub query: Option<String>,
    /// Send the key as this cookie instead (`Cookie: session=<key>`).
    pub cookie: Option<String>,
}

/// The `api_key` provider.
#[derive(Debug)]
pub struct ApiKey {
    outcome: AuthOutcome,
}

impl AuthProvider for ApiKey {
    const NAME: &'static str = "api_key";
    const DESCRIPTION: &'static str =
        "API key in a header (optional scheme such as Bearer or Token), a query parameter or a cookie";
    type Config = ApiKeyConfig;

    fn example_config() -> serde_json::Value {
        serde_json::json!({ "api_key": "${WEATHER_API_KEY}", "header": "X-API-Key" })
    }

    fn create(config: ApiKeyConfig, _: &CreateContext) -> Result<Self, Error> {
        validate::secret_value("api_key", &config.api_key)?;
        let placements = [&config.header, &config.query, &config.cookie]
            .iter()
            .filter(|p| p.is_some())
            .count();
        if placements > 1 {
            return Err(Error::config(
                "set only one of `header`, `query` and `cookie`: the key goes in one place",
            ));
        }
        if config.prefix.is_some() && (config.query.is_some() || config.cookie.is_some()) {
            return Err(Error::config(
                "prefix: only applies to a header; remove it or use `header`",
            ));
        }
        let credential = if let Some(name) = config.query {
            validate::plain_value("query", &name)?;
            if name.is_empty() {
                return Err(Error::config("query: must not be empty"));
            }
            Credential::Query {
                name,
                value: config.api_key,
            }
        } else if let Some(name) = config.cookie {
            validate::header_name("cookie", &name)?;
            Credential::Cookie {
                name,
                value: config.api_key,
            }
        } else {
            let name = config.header.unwrap_or_else(|| DEFAULT_HEADER.to_owned());
            validate::header_name("header", &name)?;
            match config.prefix {
                Some(prefix) if !prefix.trim().is_empty() => {
                    validate::plain_value("prefix", &prefix)?;
                    Credential::Bearer {
                        token: config.api_key,
                        scheme: prefix.trim().to_owned(),
                        header_name: name,
                    }
                }
                _ => Credential::Header {
                    name,
                    value: config.api_key,
                },
            }
        };
        Ok(Self {
            outcome: AuthOutcome::credentials(vec![credential]),
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
    fn header_name_is_used_as_given() {
        // NAT 1.9.0 sends a header with an empty name for `header: X-API-Key`.
        let creds =
            credentials::<ApiKey>(json!({"api_key": "k1", "header": "X-API-Key"})).expect("valid");
        match &creds[..] {
            [Credential::Header { name, value }] => {
                assert_eq!(name, "X-API-Key");
                assert_eq!(value.expose(), "k1");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn default_is_x_api_key_header() {
        let creds = credentials::<ApiKey>(json!({"api_key": "k1"})).expect("valid");
        assert!(matches!(&creds[..], [Credential::Header { name, .. }] if name == "X-API-Key"));
    }

    #[test]
    fn prefix_makes_a_scheme() {
        let creds = credentials::<ApiKey>(
            json!({"api_key": "k1", "header": "Authorization", "prefix": "Token"}),
        )
        .expect("valid");
        match &creds[..] {
            [Credential::Bearer {
                token,
                scheme,
                header_name,
            }] => {
                assert_eq!(
                    (token.expose(), scheme.as_str(), header_name.as_str()),
                    ("k1", "Token", "Authorization")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn query_and_cookie() {
        let creds = credentials::<ApiKey>(json!({"api_key": "k1", "query": "appid"})).expect("ok");
        assert!(matches!(&creds[..], [Credential::Query { name, .. }] if name == "appid"));
        let creds = credentials::<ApiKey>(json!({"api_key": "k1", "cookie": "sid"})).expect("ok");
        assert!(matches!(&creds[..], [Credential::Cookie { name, .. }] if name == "sid"));
    }

    #[test]
    fn misuse_is_refused_without_echoing_the_key() {
        let err =
            credentials::<ApiKey>(json!({"api_key": "sentinel-k", "query": "a", "cookie": "b"}))
                .expect_err("two placements");
        assert!(err.message().contains("only one of"));
        let err = credentials::<ApiKey>(
            json!({"api_key": "sentinel-k", "query": "a", "prefix": "Bearer"}),
        )
        .expect_err("prefix with query");
        assert!(err.message().starts_with("prefix:"));
        let err = credentials::<ApiKey>(json!({"api_key": 123456})).expect_err("number");
        assert_eq!(
            err.message(),
            "api_key: invalid type: integer, expected a string"
        );
        let err = credentials::<ApiKey>(json!({"api_key": "k", "heder": "X"})).expect_err("typo");
        assert!(
            err.message().contains("unknown field `heder`"),
            "{}",
            err.message()
        );
        assert!(!err.message().contains("sentinel"));
    }
}
