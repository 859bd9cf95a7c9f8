//! `user_supplied`: credentials each user hands in themselves (through
//! `PUT /v1/credentials/{provider}`), as auto-bedrock-chat accepts them: a
//! bearer token, basic auth, an API key in a header, or custom headers.
//! The host keeps them per user (in memory with a TTL, or encrypted in the
//! token store with `persist: true`) and passes them back as the token
//! set's `access_token`, a JSON document this provider checks and turns
//! into credentials.

use std::collections::BTreeMap;

use authhost_plugin_api::{
    token_request, AuthContext, AuthOutcome, AuthProvider, Capabilities, CreateContext, Credential,
    Error, ErrorKind, Host, InstanceInfo, Secret,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::validate;

/// The kinds of credential users may supply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuppliedKind {
    /// `{"kind": "bearer", "token": …, "scheme"?: "Bearer", "header_name"?: "Authorization"}`
    Bearer,
    /// `{"kind": "basic", "username": …, "password": …}`
    Basic,
    /// `{"kind": "api_key", "key": …, "header"?: "X-API-Key"}`
    ApiKey,
    /// `{"kind": "headers", "headers": {name: value, …}}`
    Headers,
    /// `{"kind": "oauth2_client_credentials", "token_url": …, "client_id": …,
    /// "client_secret": …, "scopes"?: […], "audience"?: …}`: the user's own
    /// OAuth2 client, whose token authhost fetches and renews.
    Oauth2ClientCredentials,
}

/// The default kinds: every static one (`oauth2_client_credentials` must
/// be asked for, with the token endpoints it may reach).
fn all_kinds() -> Vec<SuppliedKind> {
    vec![
        SuppliedKind::Bearer,
        SuppliedKind::Basic,
        SuppliedKind::ApiKey,
        SuppliedKind::Headers,
    ]
}

fn default_ttl() -> u64 {
    3600
}

/// Credentials supplied by each user.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserSuppliedConfig {
    /// The kinds users may supply.
    #[serde(default = "all_kinds")]
    pub kinds: Vec<SuppliedKind>,
    /// How long supplied credentials are kept, in seconds.
    #[serde(default = "default_ttl")]
    pub ttl: u64,
    /// Keep them encrypted in the token store (they survive restarts and are
    /// shared by replicas) instead of only in this process's memory.
    #[serde(default)]
    pub persist: bool,
    /// Token endpoints users may name with `oauth2_client_credentials`
    /// (URL prefixes, such as `https://login.example.com/`); that kind is
    /// refused while this is empty.
    #[serde(default)]
    pub token_url_prefixes: Vec<String>,
    /// Header names a user may put credentials in beyond each kind's own
    /// (`Authorization` for bearer, `X-API-Key` for api_key); the `headers`
    /// kind may set only these. Default: none.
    #[serde(default)]
    pub allowed_headers: Vec<String>,
}

/// What a user sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum Supplied {
    Bearer {
        token: Secret,
        #[serde(default = "bearer")]
        scheme: String,
        #[serde(default = "authorization")]
        header_name: String,
    },
    Basic {
        username: String,
        password: Secret,
    },
    ApiKey {
        key: Secret,
        #[serde(default = "x_api_key")]
        header: String,
    },
    Headers {
        headers: BTreeMap<String, Secret>,
    },
    Oauth2ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: Secret,
        #[serde(default)]
        scopes: Vec<String>,
        audience: Option<String>,
        /// `true`: id and secret in the form body instead of HTTP Basic.
        #[serde(default)]
        secret_in_body: bool,
    },
}

fn bearer() -> String {
    "Bearer".to_owned()
}
fn authorization() -> String {
    "Authorization".to_owned()
}
fn x_api_key() -> String {
    "X-API-Key".to_owned()
}

/// The `user_supplied` provider.
#[derive(Debug)]
pub struct UserSupplied {
    kinds: Vec<SuppliedKind>,
    allowed_headers: Vec<String>,
    token_url_prefixes: Vec<String>,
    info: InstanceInfo,
    host: Option<Host>,
}

/// What a supplied document gives: credentials now, or a client whose
/// token must be fetched.
enum Checked {
    Ready(Vec<Credential>),
    Fetch {
        token_url: String,
        form: Vec<(&'static str, String)>,
        client: token_request::SecretClient,
    },
}

fn refuse(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidRequest, message)
}

impl UserSupplied {
    /// Refuses a header the user may not set: only `own` (the kind's
    /// default header) or one listed in `allowed_headers`.
    fn check_allowed(&self, key: &str, name: &str, own: Option<&str>) -> Result<(), Error> {
        let allowed = own.is_some_and(|own| own.eq_ignore_ascii_case(name))
            || self
                .allowed_headers
                .iter()
                .any(|a| a.eq_ignore_ascii_case(name));
        if allowed {
            return Ok(());
        }
        let listed = if self.allowed_headers.is_empty() {
            "none are listed".to_owned()
        } else {
            format!("allowed: {}", self.allowed_headers.join(", "))
        };
        Err(refuse(format!(
            "{key}: this provider does not let users set header `{name}` ({}{listed}; an operator lists more in `allowed_headers`)",
            own.map(|o| format!("the default is `{o}`; ")).unwrap_or_default()
        )))
    }

    fn credentials(&self, document: &str) -> Result<Checked, Error> {
        let supplied: Supplied = authhost_plugin_api::parse_config(document)
            .map_err(|e| refuse(e.message().to_owned()))?;
        let kind = match &supplied {
            Supplied::Bearer { .. } => SuppliedKind::Bearer,
            Supplied::Basic { .. } => SuppliedKind::Basic,
            Supplied::ApiKey { .. } => SuppliedKind::ApiKey,
            Supplied::Headers { .. } => SuppliedKind::Headers,
            Supplied::Oauth2ClientCredentials { .. } => SuppliedKind::Oauth2ClientCredentials,
        };
        if !self.kinds.contains(&kind) {
            return Err(refuse(
                format!("this provider does not accept `{kind:?}` credentials").to_lowercase(),
            ));
        }
        let checked = |e: Error| refuse(e.message().to_owned());
        Ok(Checked::Ready(match supplied {
            Supplied::Bearer {
                token,
                scheme,
                header_name,
            } => {
                validate::secret_value("token", &token).map_err(checked)?;
                validate::header_name("header_name", &header_name).map_err(checked)?;
                self.check_allowed("header_name", &header_name, Some("Authorization"))?;
                validate::plain_value("scheme", &scheme).map_err(checked)?;
                vec![Credential::Bearer {
                    token,
                    scheme,
                    header_name,
                }]
            }
            Supplied::Basic { username, password } => {
                if username.contains(':') {
                    return Err(refuse("username: must not contain `:`"));
                }
                validate::plain_value("username", &username).map_err(checked)?;
                validate::secret_value("password", &password).map_err(checked)?;
                vec![Credential::Basic { username, password }]
            }
            Supplied::ApiKey { key, header } => {
                validate::secret_value("key", &key).map_err(checked)?;
                validate::header_name("header", &header).map_err(checked)?;
                self.check_allowed("header", &header, Some("X-API-Key"))?;
                vec![Credential::Header {
                    name: header,
                    value: key,
                }]
            }
            Supplied::Headers { headers } => {
                if headers.is_empty() {
                    return Err(refuse("headers: needs at least one header"));
                }
                let mut out = Vec::new();
                for (name, value) in headers {
                    validate::header_name(&format!("headers.{name}"), &name).map_err(checked)?;
                    self.check_allowed(&format!("headers.{name}"), &name, None)?;
                    validate::secret_value(&format!("headers.{name}"), &value).map_err(checked)?;
                    out.push(Credential::Header { name, value });
                }
                out
            }
            Supplied::Oauth2ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scopes,
                audience,
                secret_in_body,
            } => {
                let allowed = token_url.starts_with("https://") || token_url.starts_with("http://");
                if !allowed
                    || !self
                        .token_url_prefixes
                        .iter()
                        .any(|prefix| token_url.starts_with(prefix.as_str()))
                {
                    return Err(refuse(format!(
                        "token_url: this provider accepts token endpoints under {} only",
                        if self.token_url_prefixes.is_empty() {
                            "none (the operator lists them in token_url_prefixes)".to_owned()
                        } else {
                            self.token_url_prefixes.join(", ")
                        }
                    )));
                }
                validate::plain_value("client_id", &client_id).map_err(checked)?;
                validate::secret_value("client_secret", &client_secret).map_err(checked)?;
                let mut form = vec![("grant_type", "client_credentials".to_owned())];
                if !scopes.is_empty() {
                    form.push(("scope", scopes.join(" ")));
                }
                if let Some(audience) = audience {
                    form.push(("audience", audience));
                }
                return Ok(Checked::Fetch {
                    token_url,
                    form,
                    client: token_request::SecretClient {
                        id: client_id,
                        secret: client_secret,
                        in_body: secret_in_body,
                    },
                });
            }
        }))
    }

    /// The token of a user's own OAuth2 client (RFC 6749 §4.4).
    async fn fetch(
        &self,
        token_url: &str,
        form: Vec<(&'static str, String)>,
        client: &token_request::SecretClient,
    ) -> Result<AuthOutcome, Error> {
        let host = self.host.as_ref().ok_or_else(|| {
            Error::internal("fetching a token needs the authhost host (created in-process)")
        })?;
        let body = token_request::post_form(
            host,
            "the client credentials request with the supplied client",
            token_url,
            form,
            Some(client),
        )
        .await
        .map_err(|e| match e.oauth_error() {
            // The user's client was refused: theirs to fix, said as such.
            Some(code) => refuse(format!(
                "the supplied client was refused by its token endpoint ({code})"
            ))
            .with_oauth_error(code.to_owned()),
            None => e,
        })?;
        #[derive(Deserialize)]
        struct Answer {
            access_token: Secret,
            expires_in: Option<u64>,
        }
        let answer: Answer = serde_json::from_slice(&body).map_err(|_| {
            Error::new(
                ErrorKind::Upstream,
                "the supplied token endpoint's answer is not a token response",
            )
        })?;
        validate::secret_value("access_token", &answer.access_token)
            .map_err(|e| Error::new(ErrorKind::Upstream, e.message().to_owned()))?;
        let now = host
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Ok(AuthOutcome::Credentials {
            credentials: vec![Credential::bearer(answer.access_token)],
            // Without expires_in: an hour, never "forever".
            expires_at: Some(authhost_plugin_api::expires_after(
                now,
                answer.expires_in.unwrap_or(3600),
            )),
        })
    }
}

impl AuthProvider for UserSupplied {
    const NAME: &'static str = "user_supplied";
    const DESCRIPTION: &'static str =
        "Credentials each user supplies (bearer, basic, API key, headers, their own OAuth2 client), kept per user with a TTL";
    const CAPABILITIES: Capabilities = Capabilities::USER_SUPPLIED;
    type Config = UserSuppliedConfig;

    fn example_config() -> serde_json::Value {
        serde_json::json!({ "kinds": ["bearer", "api_key"], "ttl": 3600, "persist": false })
    }

    fn create(config: UserSuppliedConfig, ctx: &CreateContext) -> Result<Self, Error> {
        if config.kinds.is_empty() {
            return Err(Error::config("kinds: list at least one kind"));
        }
        if config.ttl == 0 {
            return Err(Error::config("ttl: must be at least 1 second"));
        }
        for (i, name) in config.allowed_headers.iter().enumerate() {
            validate::header_name(&format!("allowed_headers.{i}"), name)?;
        }
        for (i, prefix) in config.token_url_prefixes.iter().enumerate() {
            // A prefix must end its host: `https://a.example` would also
            // match `https://a.example.evil.test/`.
            let host_ended = ["https://", "http://"].iter().any(|scheme| {
                prefix
                    .strip_prefix(scheme)
                    .is_some_and(|rest| rest.contains('/'))
            });
            if !host_ended {
                return Err(Error::config(format!(
                    "token_url_prefixes.{i}: expected an http(s) URL prefix whose host ends with `/` (https://login.example.com/)"
                )));
            }
        }
        if config
            .kinds
            .contains(&SuppliedKind::Oauth2ClientCredentials)
            && config.token_url_prefixes.is_empty()
        {
            return Err(Error::config(
                "token_url_prefixes: required with the oauth2_client_credentials kind (the token endpoints users may name)",
            ));
        }
        Ok(Self {
            kinds: config.kinds,
            allowed_headers: config.allowed_headers,
            token_url_prefixes: config.token_url_prefixes,
            host: ctx.host.clone(),
            info: InstanceInfo {
                stores_user_credentials: config.persist,
                supplied_ttl_secs: config.ttl,
            },
        })
    }

    fn info(&self) -> InstanceInfo {
        self.info
    }

    async fn authenticate(&self, ctx: AuthContext) -> Result<AuthOutcome, Error> {
        match ctx.tokens {
            None => Ok(AuthOutcome::AuthorizationRequired {
                reason: "the user has not supplied credentials for this provider".to_owned(),
            }),
            Some(tokens) => match self.credentials(tokens.access_token.expose())? {
                Checked::Ready(credentials) => Ok(AuthOutcome::Credentials {
                    credentials,
                    expires_at: tokens.expires_at,
                }),
                Checked::Fetch {
                    token_url,
                    form,
                    client,
                } => self.fetch(&token_url, form, &client).await,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use authhost_plugin_api::TokenSet;

    use super::*;

    /// What the host needs (stored or not, for how long) comes through the
    /// ABI's instance description, read from the configuration here.
    #[test]
    fn the_instance_describes_its_storage_and_ttl() {
        let instance = authhost_plugin_api::instantiate::<UserSupplied>(
            serde_json::json!({"persist": true, "ttl": 600}),
        )
        .expect("created");
        assert_eq!(
            instance.info(),
            InstanceInfo {
                stores_user_credentials: true,
                supplied_ttl_secs: 600
            }
        );
        let default = authhost_plugin_api::instantiate::<UserSupplied>(serde_json::json!({}))
            .expect("created");
        assert_eq!(
            default.info(),
            InstanceInfo {
                stores_user_credentials: false,
                supplied_ttl_secs: 3600
            }
        );
    }

    fn supplied(
        document: serde_json::Value,
        kinds: Vec<SuppliedKind>,
    ) -> Result<Vec<Credential>, Error> {
        let provider = UserSupplied {
            kinds,
            allowed_headers: vec!["X-Key".into(), "A".into(), "B".into()],
            token_url_prefixes: Vec::new(),
            info: InstanceInfo::default(),
            host: None,
        };
        let tokens = TokenSet {
            access_token: Secret::new(document.to_string()),
            token_type: "user_supplied".into(),
            refresh_token: None,
            id_token: None,
            expires_at: None,
            scopes: vec![],
            extra: serde_json::Map::new(),
        };
        let ctx = AuthContext {
            user_id: "u".into(),
            tokens: Some(tokens),
            request: None,
        };
        match futures_executor::block_on(provider.authenticate(ctx))? {
            AuthOutcome::Credentials { credentials, .. } => Ok(credentials),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_kind_and_the_allow_list() {
        let c = supplied(
            serde_json::json!({"kind": "bearer", "token": "t"}),
            all_kinds(),
        )
        .expect("bearer");
        assert!(matches!(&c[..], [Credential::Bearer { scheme, .. }] if scheme == "Bearer"));
        let c = supplied(
            serde_json::json!({"kind": "api_key", "key": "k", "header": "X-Key"}),
            all_kinds(),
        )
        .expect("key");
        assert!(matches!(&c[..], [Credential::Header { name, .. }] if name == "X-Key"));
        let c = supplied(
            serde_json::json!({"kind": "headers", "headers": {"A": "1", "B": "2"}}),
            all_kinds(),
        )
        .expect("headers");
        assert_eq!(c.len(), 2);
        let err = supplied(
            serde_json::json!({"kind": "basic", "username": "u", "password": "p"}),
            vec![SuppliedKind::Bearer],
        )
        .expect_err("not allowed");
        assert_eq!(
            err.message(),
            "this provider does not accept `basic` credentials"
        );
        let err = supplied(
            serde_json::json!({"kind": "bearer", "token": "SENTINEL\r\nX: y"}),
            all_kinds(),
        )
        .expect_err("crlf");
        assert!(!err.message().contains("SENTINEL"));
        let err =
            supplied(serde_json::json!({"kind": "oauth"}), all_kinds()).expect_err("unknown kind");
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    }

    #[test]
    fn headers_outside_the_allow_list_are_refused() {
        for document in [
            serde_json::json!({"kind": "headers", "headers": {"X-User": "bob"}}),
            serde_json::json!({"kind": "headers", "headers": {"Host": "evil"}}),
            serde_json::json!({"kind": "bearer", "token": "t", "header_name": "Cookie"}),
            serde_json::json!({"kind": "api_key", "key": "k", "header": "X-Forwarded-For"}),
        ] {
            let err = supplied(document.clone(), all_kinds()).expect_err("refused");
            assert!(
                err.message().contains("does not let users set header"),
                "{document}: {}",
                err.message()
            );
        }
        supplied(
            serde_json::json!({"kind": "api_key", "key": "k"}),
            all_kinds(),
        )
        .expect("the kind's own header is always allowed");
    }

    #[test]
    fn example_config_creates() {
        let provider = UserSupplied::create(
            serde_json::from_value(UserSupplied::example_config()).expect("config"),
            &CreateContext {
                instance_name: "x".into(),
                host: None,
            },
        );
        assert!(provider.is_ok());
    }
}
