//! `oauth2_jwt_bearer`: a service account's signed assertion exchanged for
//! an access token (RFC 7523 §2.1), as Google service accounts, Salesforce
//! and Box use. The assertion is signed with the configured key (a PEM, or
//! the `private_key` of a Google-style service account key file) and lives
//! a few minutes; its subject is the service itself, a fixed subject, or
//! the calling user (domain-wide delegation). Tokens are kept per subject
//! until shortly before they expire, so users who share a subject share
//! one token.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
};

use authhost_plugin_api::{
    AuthContext, AuthOutcome, AuthProvider, CreateContext, Credential, Error, Host, Secret,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::{
    common::{self, AssertionAlgorithm, TokenEndpointAuthMethod},
    grant_request::{self, SecretClient},
};

/// The grant type of RFC 7523 §2.1.
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// A P-256 key generated for the example configuration only.
const EXAMPLE_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgfe+75GywbP1wB++3
DR/GPsjC0k4KolAiCzfCV4DrcCuhRANCAAQbnmzwViri8T5PUiSIKDFpGl7bGF0o
IYkHUDuwr+OZKAwfdoLJ6hEzSD7sb5b5Rp8kGP6hhEE6N/tP5W7yqhnW
-----END PRIVATE KEY-----
";
/// The longest assertion lifetime accepted (Google's limit).
const MAX_ASSERTION_LIFETIME: u64 = 3600;

/// Where the requested scopes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScopesIn {
    /// The token request's `scope` parameter (RFC 7523).
    Parameter,
    /// The assertion's `scope` claim, space-separated (Google).
    Claim,
}

/// RFC 7523 JWT bearer grant.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtBearerConfig {
    /// The token endpoint; a service account's `token_uri` when omitted.
    pub token_url: Option<String>,
    /// A Google-style service account key file (JSON with `client_email`,
    /// `private_key`, `private_key_id`, `token_uri`).
    pub service_account_file: Option<String>,
    /// The same key file's contents (e.g. `${GOOGLE_SERVICE_ACCOUNT}`).
    pub service_account_json: Option<Secret>,
    /// The assertion's issuer (`iss`), without a service account.
    pub issuer: Option<String>,
    /// The PEM private key signing the assertion, without a service account.
    pub private_key: Option<Secret>,
    /// The algorithm of `private_key`.
    #[serde(default)]
    pub private_key_algorithm: AssertionAlgorithm,
    /// `kid` of the assertion's header.
    pub key_id: Option<String>,
    /// The assertion's audience (`aud`); the token endpoint by default.
    pub audience: Option<String>,
    /// Scopes to ask for.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Where scopes go: `claim` for service accounts, else `parameter`.
    pub scopes_in: Option<ScopesIn>,
    /// A fixed subject (`sub`) to act as; the issuer itself by default.
    pub subject: Option<String>,
    /// Act as the calling user: `sub` is the user id (domain-wide
    /// delegation); tokens are then kept per user.
    #[serde(default)]
    pub subject_is_user: bool,
    /// More claims for the assertion (not `iss`, `sub`, `aud`, `iat`,
    /// `exp`, `jti`).
    #[serde(default)]
    pub extra_claims: BTreeMap<String, serde_json::Value>,
    /// Seconds the assertion is valid (at most 3600).
    #[serde(default = "default_assertion_lifetime")]
    pub assertion_lifetime: u64,
    /// A client id, when the server also wants the client authenticated.
    pub client_id: Option<String>,
    /// The client secret with `client_id`.
    pub client_secret: Option<Secret>,
    /// How the client authenticates (`client_secret_basic` or
    /// `client_secret_post`).
    #[serde(default)]
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// Lifetime assumed, in seconds, when the server sends no `expires_in`.
    #[serde(default = "common::default_fallback_lifetime")]
    pub fallback_token_lifetime: u64,
}

fn default_assertion_lifetime() -> u64 {
    300
}

/// The fields of a Google service account key file authhost reads.
#[derive(Deserialize)]
struct ServiceAccount {
    client_email: String,
    private_key: String,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

/// A token kept for one subject.
struct Kept {
    token: Secret,
    expires_at: i64,
    renew_at: i64,
}

/// The `oauth2_jwt_bearer` provider.
pub struct JwtBearer {
    token_url: String,
    issuer: String,
    audience: String,
    key: jsonwebtoken::EncodingKey,
    header: jsonwebtoken::Header,
    scopes: Vec<String>,
    scopes_in: ScopesIn,
    subject: Option<String>,
    subject_is_user: bool,
    extra_claims: BTreeMap<String, serde_json::Value>,
    assertion_lifetime: u64,
    client: Option<SecretClient>,
    fallback_token_lifetime: u64,
    host: Option<Host>,
    kept: Mutex<HashMap<String, Kept>>,
}

impl std::fmt::Debug for JwtBearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtBearer")
            .field("token_url", &self.token_url)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl AuthProvider for JwtBearer {
    const NAME: &'static str = "oauth2_jwt_bearer";
    const DESCRIPTION: &'static str =
        "OAuth2 JWT bearer grant (RFC 7523): a service account's signed assertion for a token, optionally acting as the calling user";
    type Config = JwtBearerConfig;

    fn example_config() -> serde_json::Value {
        // A key made for this example only; configure yours as
        // `private_key: ${REPORTS_SERVICE_KEY}` or a service account file.
        serde_json::json!({
            "issuer": "reports@example-project.iam.example.com",
            "private_key": EXAMPLE_KEY,
            "private_key_algorithm": "ES256",
            "token_url": "https://auth.example.com/oauth/token",
            "scopes": ["reports.read"]
        })
    }

    fn create(config: JwtBearerConfig, ctx: &CreateContext) -> Result<Self, Error> {
        let account = service_account(&config)?;
        let (issuer, pem, key_id, account_token_uri, from_account) = match account {
            Some(account) => {
                for (key, set) in [
                    ("issuer", config.issuer.is_some()),
                    ("private_key", config.private_key.is_some()),
                ] {
                    if set {
                        return Err(Error::config(format!(
                            "{key}: comes from the service account; remove it or the service account"
                        )));
                    }
                }
                (
                    account.client_email,
                    Secret::new(account.private_key),
                    config.key_id.clone().or(account.private_key_id),
                    account.token_uri,
                    true,
                )
            }
            None => {
                let issuer = config.issuer.clone().ok_or_else(|| {
                    Error::config("issuer: required (the assertion's `iss`) unless service_account_file or service_account_json is set")
                })?;
                let pem = config.private_key.clone().ok_or_else(|| {
                    Error::config("private_key: required (the PEM key signing the assertion) unless service_account_file or service_account_json is set")
                })?;
                (issuer, pem, config.key_id.clone(), None, false)
            }
        };
        let token_url = config
            .token_url
            .clone()
            .or(account_token_uri)
            .ok_or_else(|| Error::config("token_url: required (the token endpoint)"))?;
        common::check_url("token_url", &token_url)?;
        let algorithm = if from_account {
            AssertionAlgorithm::RS256
        } else {
            config.private_key_algorithm
        };
        let (key, algorithm) = common::signing_key(&pem, algorithm)?;
        let mut header = jsonwebtoken::Header::new(algorithm);
        header.kid = key_id;
        if config.subject.is_some() && config.subject_is_user {
            return Err(Error::config(
                "subject: not with subject_is_user (the subject is then the calling user); remove one",
            ));
        }
        if config.assertion_lifetime == 0 || config.assertion_lifetime > MAX_ASSERTION_LIFETIME {
            return Err(Error::config(format!(
                "assertion_lifetime: must be between 1 and {MAX_ASSERTION_LIFETIME} seconds"
            )));
        }
        if let Some(name) = config
            .extra_claims
            .keys()
            .find(|k| ["iss", "sub", "aud", "iat", "exp", "jti"].contains(&k.as_str()))
        {
            return Err(Error::config(format!(
                "extra_claims.{name}: is set by authhost and cannot be overridden"
            )));
        }
        let client = match (&config.client_id, &config.client_secret) {
            (None, None) => None,
            (Some(id), Some(secret)) => {
                if !matches!(
                    config.token_endpoint_auth_method,
                    TokenEndpointAuthMethod::ClientSecretBasic
                        | TokenEndpointAuthMethod::ClientSecretPost
                ) {
                    return Err(Error::config(
                        "token_endpoint_auth_method: only client_secret_basic or client_secret_post with the JWT bearer grant",
                    ));
                }
                Some(SecretClient {
                    id: id.clone(),
                    secret: secret.clone(),
                    method: config.token_endpoint_auth_method,
                })
            }
            (Some(_), None) => return Err(Error::config("client_secret: required with client_id")),
            (None, Some(_)) => return Err(Error::config("client_id: required with client_secret")),
        };
        Ok(Self {
            audience: config.audience.clone().unwrap_or_else(|| token_url.clone()),
            token_url,
            issuer,
            key,
            header,
            scopes: config.scopes,
            scopes_in: config.scopes_in.unwrap_or(if from_account {
                ScopesIn::Claim
            } else {
                ScopesIn::Parameter
            }),
            subject: config.subject,
            subject_is_user: config.subject_is_user,
            extra_claims: config.extra_claims,
            assertion_lifetime: config.assertion_lifetime,
            client,
            fallback_token_lifetime: config.fallback_token_lifetime,
            host: ctx.host.clone(),
            kept: Mutex::new(HashMap::new()),
        })
    }

    async fn authenticate(&self, ctx: AuthContext) -> Result<AuthOutcome, Error> {
        let host = common::require_host(&self.host)?;
        let subject = if self.subject_is_user {
            Some(ctx.user_id.as_str())
        } else {
            self.subject.as_deref()
        };
        let key = subject.unwrap_or_default().to_owned();
        let now = common::now_secs(Some(host));
        if let Some(kept) = self.kept.lock().ok().and_then(|k| {
            k.get(&key)
                .filter(|kept| now < kept.renew_at)
                .map(|kept| (kept.token.clone(), kept.expires_at))
        }) {
            return Ok(outcome(kept.0, kept.1));
        }
        let assertion = self.assertion(subject, now)?;
        let mut form = vec![
            ("grant_type", GRANT_TYPE.to_owned()),
            ("assertion", assertion),
        ];
        if self.scopes_in == ScopesIn::Parameter && !self.scopes.is_empty() {
            form.push(("scope", self.scopes.join(" ")));
        }
        let (response, _) = grant_request::post(
            host,
            "the JWT bearer grant",
            &self.token_url,
            form,
            self.client.as_ref(),
        )
        .await?;
        let tokens = common::token_set(
            &response,
            now,
            self.fallback_token_lifetime,
            &self.scopes,
            None,
        );
        let expires_at = tokens.expires_at.unwrap_or(now);
        if let Ok(mut kept) = self.kept.lock() {
            // Bounded: one entry per subject, stale ones dropped first.
            if kept.len() > 10_000 {
                kept.retain(|_, k| k.expires_at > now);
            }
            kept.insert(
                key,
                Kept {
                    token: tokens.access_token.clone(),
                    expires_at,
                    // Before the host's own refresh point (90% of the
                    // lifetime): when the host asks again, it gets a fresh
                    // token, never this one again near its end.
                    renew_at: now + (expires_at - now) * 3 / 4,
                },
            );
        }
        tracing::debug!(expires_at, "JWT bearer token obtained");
        Ok(outcome(tokens.access_token, expires_at))
    }
}

impl JwtBearer {
    /// A fresh assertion for `subject` (the issuer itself when `None`).
    fn assertion(&self, subject: Option<&str>, now: i64) -> Result<String, Error> {
        let mut claims = serde_json::Map::new();
        for (name, value) in &self.extra_claims {
            claims.insert(name.clone(), value.clone());
        }
        claims.insert("iss".into(), self.issuer.clone().into());
        claims.insert(
            "sub".into(),
            subject.unwrap_or(&self.issuer).to_owned().into(),
        );
        claims.insert("aud".into(), self.audience.clone().into());
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), (now + self.assertion_lifetime as i64).into());
        claims.insert("jti".into(), common::assertion_id()?.into());
        if self.scopes_in == ScopesIn::Claim && !self.scopes.is_empty() {
            claims.insert("scope".into(), self.scopes.join(" ").into());
        }
        jsonwebtoken::encode(&self.header, &claims, &self.key)
            .map_err(|_| Error::internal("signing the JWT bearer assertion failed"))
    }
}

fn outcome(token: Secret, expires_at: i64) -> AuthOutcome {
    AuthOutcome::Credentials {
        credentials: vec![Credential::bearer(token)],
        expires_at: Some(expires_at),
    }
}

/// The service account key, from the file or the inline JSON.
fn service_account(config: &JwtBearerConfig) -> Result<Option<ServiceAccount>, Error> {
    let (key, text) = match (&config.service_account_file, &config.service_account_json) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(Error::config(
                "service_account_json: not with service_account_file; keep one",
            ))
        }
        (Some(path), None) => (
            "service_account_file",
            Secret::new(std::fs::read_to_string(path).map_err(|e| {
                Error::config(format!(
                    "service_account_file: cannot read {path} ({})",
                    e.kind()
                ))
            })?),
        ),
        (None, Some(json)) => ("service_account_json", json.clone()),
    };
    // The parse error would quote the key: say only what is wrong.
    serde_json::from_str::<ServiceAccount>(text.expose())
        .map(Some)
        .map_err(|_| {
            Error::config(format!(
                "{key}: not a service account key (JSON with client_email and private_key)"
            ))
        })
}
