//! `oauth2_auth_code_flow`: per-user tokens from the authorization code
//! flow (RFC 6749 §4.1) with PKCE S256 (RFC 7636) by default, refresh, and
//! revocation (RFC 7009). The host keeps the state, the PKCE verifier and
//! the tokens; this provider talks to the authorization server.

use std::{collections::BTreeMap, sync::Arc};

use authhost_plugin_api::{
    AuthContext, AuthOutcome, AuthProvider, AuthorizationRequest, Capabilities, CodeExchange,
    CreateContext, Credential, Error, ErrorKind, Host, OAuth2HttpClient, Secret, TokenSet,
};
use oauth2::{
    basic::BasicClient, AuthorizationCode, ClientId, ClientSecret, PkceCodeVerifier, RedirectUrl,
    RefreshToken, TokenUrl,
};
use schemars::JsonSchema;
use serde::Deserialize;
use url::Url;

use crate::{
    client_identity::{ClientIdentity, ClientSource},
    common::{self, AssertionAlgorithm, ClientAssertion, TokenEndpointAuthMethod},
    discovery::{Discovery, Endpoints},
};

fn default_true() -> bool {
    true
}

/// OAuth2 authorization code flow with PKCE, per user.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthCodeConfig {
    /// A common service (`github`, `google`, …) whose endpoints, scopes
    /// and quirks fill every key left out here.
    #[serde(default)]
    #[schemars(schema_with = "crate::presets::schema")]
    pub preset: Option<String>,
    /// The tenant a URL names as `{tenant}` (Entra's directory).
    pub tenant: Option<String>,
    /// The subdomain a URL names as `{subdomain}` (Zendesk, Okta, Auth0).
    pub subdomain: Option<String>,
    /// The client id.
    pub client_id: String,
    /// The client secret; leave it out for a public client (PKCE required).
    pub client_secret: Option<Secret>,
    /// The authorization endpoint (discovered from `issuer` when absent).
    pub authorization_url: Option<String>,
    /// The token endpoint (discovered from `issuer` when absent).
    pub token_url: Option<String>,
    /// The revocation endpoint (RFC 7009), if the server has one.
    pub revocation_url: Option<String>,
    /// The issuer identifier: its metadata (RFC 8414 / OpenID discovery)
    /// fills in missing endpoints, and `iss` on redirects must match it.
    pub issuer: Option<String>,
    /// An explicit metadata URL, instead of deriving it from `issuer`.
    pub discovery_url: Option<String>,
    /// Where the authorization server sends the browser back; must match
    /// the client's registration exactly.
    pub redirect_uri: String,
    /// Scopes to request.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// PKCE with S256. On by default; turning it off must be explicit.
    #[serde(default = "default_true")]
    pub use_pkce: bool,
    /// Extra parameters of the authorization URL (`prompt`, `access_type`, …).
    #[serde(default)]
    pub authorization_kwargs: BTreeMap<String, String>,
    /// The resource the tokens are for (RFC 8707), such as a remote MCP
    /// server's URL: sent in the authorization, code and refresh requests,
    /// so the server issues tokens whose audience is that resource.
    pub resource: Option<String>,
    /// How the client authenticates at the token endpoint
    /// (`client_secret_basic` unless a preset says otherwise).
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    /// The client's private key, PEM, for `private_key_jwt`.
    pub private_key: Option<Secret>,
    /// The algorithm of `private_key`.
    #[serde(default)]
    pub private_key_algorithm: AssertionAlgorithm,
    /// Lifetime assumed, in seconds, when the server sends no `expires_in`.
    #[serde(default = "common::default_fallback_lifetime")]
    pub fallback_token_lifetime: u64,
    /// Whether tokens sent without `expires_in` expire (after
    /// `fallback_token_lifetime`); `false` for services whose tokens last
    /// until revoked (GitHub OAuth apps, Notion, Slack).
    pub tokens_expire: Option<bool>,
    /// How scopes are joined in the authorization URL and split in token
    /// answers: ` ` (the standard) unless set (`,` for Slack, Linear).
    pub scope_separator: Option<String>,
    /// The authorization URL parameter that carries the scopes: `scope`
    /// unless set (Slack's user tokens: `user_scope`).
    pub scope_parameter: Option<String>,
    /// A JSON pointer to the object holding the token in the token
    /// endpoint's answer, for services that nest it (Slack's user token:
    /// `/authed_user`).
    pub token_response_pointer: Option<String>,
}

impl AuthCodeConfig {
    /// How the client authenticates at the token endpoint.
    fn auth_method(&self) -> TokenEndpointAuthMethod {
        self.token_endpoint_auth_method.unwrap_or_default()
    }

    fn scope_separator(&self) -> &str {
        self.scope_separator.as_deref().unwrap_or(" ")
    }
}

/// The `oauth2_auth_code_flow` provider.
#[derive(Debug)]
pub struct AuthCodeFlow {
    config: AuthCodeConfig,
    /// Who authhost is at the authorization server.
    client: ClientSource,
    assertion: Option<ClientAssertion>,
    redirect: RedirectUrl,
    discovery: Discovery,
    host: Option<Host>,
}

const RESERVED_AUTH_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "resource",
];

impl AuthCodeFlow {
    /// An instance whose endpoints come from the MCP server `server`'s
    /// protected resource metadata (see `crate::mcp`); `client` replaces
    /// the configured client when it is found at the server.
    pub(crate) fn for_mcp_server(
        config: AuthCodeConfig,
        ctx: &CreateContext,
        server: Url,
        client: Option<ClientSource>,
    ) -> Result<Self, Error> {
        Self::assemble(config, ctx, |_| {
            Ok(Discovery::for_protected_resource(server, true))
        })
        .map(|flow| match client {
            Some(client) => Self { client, ..flow },
            None => flow,
        })
    }

    /// Checks `config` and builds an instance whose endpoints come from
    /// `discovery`.
    fn assemble(
        config: AuthCodeConfig,
        ctx: &CreateContext,
        discovery: impl FnOnce(&AuthCodeConfig) -> Result<Discovery, Error>,
    ) -> Result<Self, Error> {
        let redirect_url = common::check_url("redirect_uri", &config.redirect_uri)?;
        if redirect_url.fragment().is_some() {
            return Err(Error::config(
                "redirect_uri: must not have a fragment (RFC 6749 §3.1.2)",
            ));
        }
        let assertion = match (config.auth_method(), &config.private_key) {
            (TokenEndpointAuthMethod::PrivateKeyJwt, Some(key)) => Some(ClientAssertion::new(
                key,
                config.private_key_algorithm,
                &config.client_id,
            )?),
            (TokenEndpointAuthMethod::PrivateKeyJwt, None) => {
                return Err(Error::config(
                    "private_key: required with private_key_jwt (the PEM private key)",
                ))
            }
            (_, Some(_)) => {
                return Err(Error::config(
                    "private_key: only used with token_endpoint_auth_method: private_key_jwt",
                ))
            }
            _ => None,
        };
        let public = assertion.is_none()
            && config
                .client_secret
                .as_ref()
                .is_none_or(|s| s.expose().is_empty());
        if public && !config.use_pkce {
            return Err(Error::config(
                "use_pkce: a public client (no client_secret) must use PKCE",
            ));
        }
        if public
            && config.auth_method() != TokenEndpointAuthMethod::None
            && config.client_secret.is_some()
        {
            return Err(Error::config("client_secret: must not be empty"));
        }
        common::check_extra_params(
            "authorization_kwargs",
            &config.authorization_kwargs,
            RESERVED_AUTH_PARAMS,
        )?;
        if let Some(parameter) = &config.scope_parameter {
            if parameter.is_empty()
                || (parameter != "scope" && RESERVED_AUTH_PARAMS.contains(&parameter.as_str()))
                || config.authorization_kwargs.contains_key(parameter)
            {
                return Err(Error::config(format!(
                    "scope_parameter: `{parameter}` is another parameter of the authorization request"
                )));
            }
        }
        if config.scope_separator.as_deref().is_some_and(str::is_empty) {
            return Err(Error::config("scope_separator: must not be empty"));
        }
        if let Some(pointer) = &config.token_response_pointer {
            if !pointer.starts_with('/') {
                return Err(Error::config(
                    "token_response_pointer: a JSON pointer starts with `/` (`/authed_user`)",
                ));
            }
        }
        if let Some(resource) = &config.resource {
            let url = common::check_url("resource", resource)?;
            if url.fragment().is_some() {
                return Err(Error::config(
                    "resource: must not have a fragment (RFC 8707)",
                ));
            }
        }
        let discovery = discovery(&config)?;
        Ok(Self {
            client: ClientSource::Configured(Arc::new(ClientIdentity {
                id: config.client_id.clone(),
                secret: config.client_secret.clone(),
                method: config.auth_method(),
            })),
            assertion,
            redirect: RedirectUrl::from_url(redirect_url),
            discovery,
            host: ctx.host.clone(),
            config,
        })
    }

    fn http(&self) -> Result<OAuth2HttpClient, Error> {
        Ok(OAuth2HttpClient::new(
            common::require_host(&self.host)?.clone(),
        ))
    }

    /// The client for token requests, reading the token where the
    /// service puts it.
    fn token_http(&self) -> Result<common::TokenHttp, Error> {
        Ok(common::TokenHttp::new(self.http()?)
            .token_at(self.config.token_response_pointer.clone()))
    }

    /// A token set as this service means it: scopes split on its
    /// separator, no assumed expiry for tokens that last until revoked.
    fn shaped(&self, mut tokens: TokenSet) -> TokenSet {
        let separator = self.config.scope_separator();
        if separator != " " {
            tokens.scopes = tokens
                .scopes
                .iter()
                .flat_map(|s| s.split(separator))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if self.config.tokens_expire == Some(false)
            && tokens.extra.remove("expires_in_assumed").is_some()
        {
            tokens.expires_at = None;
        }
        tokens
    }

    /// The endpoints and the client identity to use there.
    async fn endpoints_and_client(&self) -> Result<(Endpoints, Arc<ClientIdentity>), Error> {
        let endpoints = self.discovery.endpoints(self.host.as_ref()).await?;
        let identity = self
            .client
            .identity(&self.host, &endpoints, self.redirect.as_str())
            .await?;
        Ok((endpoints, identity))
    }

    /// A token endpoint error, after dropping a registered client the
    /// server no longer knows.
    async fn token_failure(&self, endpoints: &Endpoints, error: Error) -> Error {
        if error.kind() == ErrorKind::InvalidClient {
            if let Err(e) = self
                .client
                .forget_registration(&self.host, endpoints, self.redirect.as_str())
                .await
            {
                return e;
            }
        }
        error
    }

    fn client(
        &self,
        identity: &ClientIdentity,
        token: &Url,
    ) -> BasicClient<
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    > {
        let mut client = BasicClient::new(ClientId::new(identity.id.clone()))
            .set_redirect_uri(self.redirect.clone())
            .set_token_uri(TokenUrl::from_url(token.clone()))
            .set_auth_type(identity.method.auth_type());
        if let Some(secret) = &identity.secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
        }
        client
    }

    fn now(&self) -> i64 {
        common::now_secs(self.host.as_ref())
    }

    /// A fresh `private_key_jwt` assertion for `endpoint`, when configured.
    fn client_assertion(&self, endpoint: &Url) -> Result<Option<String>, Error> {
        self.assertion
            .as_ref()
            .map(|a| a.sign(endpoint.as_str(), self.now()))
            .transpose()
    }

    /// The RFC 7009 form and, for `client_secret_basic`, the Authorization header.
    fn revocation_form(
        &self,
        identity: &ClientIdentity,
        token: &str,
        hint: &str,
        audience: &str,
    ) -> (String, Option<String>) {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("token", token)
            .append_pair("token_type_hint", hint);
        let mut authorization = None;
        match (&identity.secret, identity.method) {
            (Some(secret), TokenEndpointAuthMethod::ClientSecretBasic) => {
                let encode = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                let credentials = format!("{}:{}", encode(&identity.id), encode(secret.expose()));
                authorization = Some(format!("Basic {}", common::base64(credentials.as_bytes())));
            }
            (Some(secret), _) => {
                form.append_pair("client_id", &identity.id)
                    .append_pair("client_secret", secret.expose());
            }
            (None, _) => {
                form.append_pair("client_id", &identity.id);
                if let Some(assertion) = &self.assertion {
                    if let Ok(jwt) = assertion.sign(audience, self.now()) {
                        form.append_pair("client_assertion_type", common::ASSERTION_TYPE)
                            .append_pair("client_assertion", &jwt);
                    }
                }
            }
        }
        (form.finish(), authorization)
    }
}

impl AuthProvider for AuthCodeFlow {
    const NAME: &'static str = "oauth2_auth_code_flow";
    const DESCRIPTION: &'static str =
        "OAuth2 authorization code flow with PKCE: per-user tokens, stored encrypted, refreshed and revocable";
    const CAPABILITIES: Capabilities = Capabilities::INTERACTIVE
        .union(Capabilities::REFRESHABLE)
        .union(Capabilities::REVOCABLE);
    type Config = AuthCodeConfig;

    fn example_config() -> serde_json::Value {
        serde_json::json!({
            "client_id": "${GITHUB_CLIENT_ID}",
            "client_secret": "${GITHUB_CLIENT_SECRET}",
            "authorization_url": "https://github.com/login/oauth/authorize",
            "token_url": "https://github.com/login/oauth/access_token",
            "redirect_uri": "http://127.0.0.1:8080/auth/callback",
            "scopes": ["repo"],
            "use_pkce": true
        })
    }

    fn create(mut config: AuthCodeConfig, ctx: &CreateContext) -> Result<Self, Error> {
        crate::presets::apply(&mut config)?;
        Self::assemble(config, ctx, |config| {
            let optional_url = |key: &str, value: &Option<String>| {
                value
                    .as_deref()
                    .map(|v| common::check_url(key, v))
                    .transpose()
            };
            Discovery::new(
                optional_url("authorization_url", &config.authorization_url)?,
                optional_url("token_url", &config.token_url)?,
                optional_url("revocation_url", &config.revocation_url)?,
                config.issuer.clone(),
                optional_url("discovery_url", &config.discovery_url)?,
            )
        })
    }

    async fn authenticate(&self, ctx: AuthContext) -> Result<AuthOutcome, Error> {
        match ctx.tokens {
            Some(tokens) => Ok(AuthOutcome::Credentials {
                credentials: vec![Credential::bearer(tokens.access_token)],
                expires_at: tokens.expires_at,
            }),
            None => Ok(AuthOutcome::AuthorizationRequired {
                reason: "the user has not authorized this provider yet".to_owned(),
            }),
        }
    }

    async fn authorization_url(&self, request: AuthorizationRequest) -> Result<String, Error> {
        let (endpoints, identity) = self.endpoints_and_client().await?;
        let scopes = if self.config.scopes.is_empty() {
            &endpoints.resource_scopes
        } else {
            &self.config.scopes
        };
        let mut url = endpoints
            .authorization
            .clone()
            .ok_or_else(|| Error::internal("discovery found no authorization endpoint"))?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &identity.id)
                .append_pair("redirect_uri", self.redirect.as_str())
                .append_pair("state", request.state.expose());
            if !scopes.is_empty() {
                query.append_pair(
                    self.config.scope_parameter.as_deref().unwrap_or("scope"),
                    &scopes.join(self.config.scope_separator()),
                );
            }
            if self.config.use_pkce {
                let challenge = request
                    .pkce_challenge
                    .as_deref()
                    .ok_or_else(|| Error::internal("the host did not provide a PKCE challenge"))?;
                query
                    .append_pair("code_challenge", challenge)
                    .append_pair("code_challenge_method", "S256");
            }
            for (name, value) in &self.config.authorization_kwargs {
                query.append_pair(name, value);
            }
            if let Some(resource) = &self.config.resource {
                query.append_pair("resource", resource);
            }
        }
        Ok(url.into())
    }

    async fn exchange_code(&self, exchange: CodeExchange) -> Result<TokenSet, Error> {
        let (endpoints, identity) = self.endpoints_and_client().await?;
        match (&exchange.issuer, &endpoints.issuer) {
            (Some(got), Some(expected)) if got.trim_end_matches('/') != expected.trim_end_matches('/') => {
                return Err(Error::new(
                    ErrorKind::InvalidRequest,
                    "the `iss` of the redirect does not match the configured issuer (RFC 9207); possible mix-up attack",
                ))
            }
            (None, Some(_)) if endpoints.iss_parameter_supported => {
                return Err(Error::new(
                    ErrorKind::InvalidRequest,
                    "the authorization server sends `iss` on redirects, but this redirect has none (RFC 9207)",
                ))
            }
            _ => {}
        }
        let client = self.client(&identity, &endpoints.token);
        let mut request =
            client.exchange_code(AuthorizationCode::new(exchange.code.expose().to_owned()));
        if let Some(jwt) = self.client_assertion(&endpoints.token)? {
            request = request
                .add_extra_param("client_assertion_type", common::ASSERTION_TYPE)
                .add_extra_param("client_assertion", jwt);
        }
        if let Some(resource) = &self.config.resource {
            request = request.add_extra_param("resource", resource.clone());
        }
        if let Some(verifier) = &exchange.pkce_verifier {
            request =
                request.set_pkce_verifier(PkceCodeVerifier::new(verifier.expose().to_owned()));
        } else if self.config.use_pkce {
            return Err(Error::internal(
                "the host did not provide the PKCE verifier",
            ));
        }
        let http = self.token_http()?;
        let response = match request.request_async(&http).await {
            Ok(response) => response,
            Err(e) => {
                let error = common::token_error("the code exchange", e);
                return Err(self.token_failure(&endpoints, error).await);
            }
        };
        Ok(self.shaped(common::token_set(
            &response,
            self.now(),
            self.config.fallback_token_lifetime,
            &self.config.scopes,
            None,
        )))
    }

    async fn refresh(&self, tokens: TokenSet) -> Result<TokenSet, Error> {
        let Some(refresh) = &tokens.refresh_token else {
            return Err(Error::new(
                ErrorKind::InvalidGrant,
                "there is no refresh token; the user must authorize again",
            ));
        };
        let (endpoints, identity) = self.endpoints_and_client().await?;
        let client = self.client(&identity, &endpoints.token);
        let refresh_token = RefreshToken::new(refresh.expose().to_owned());
        let http = self.token_http()?;
        let mut request = client.exchange_refresh_token(&refresh_token);
        if let Some(jwt) = self.client_assertion(&endpoints.token)? {
            request = request
                .add_extra_param("client_assertion_type", common::ASSERTION_TYPE)
                .add_extra_param("client_assertion", jwt);
        }
        if let Some(resource) = &self.config.resource {
            request = request.add_extra_param("resource", resource.clone());
        }
        let response = match request.request_async(&http).await {
            Ok(response) => response,
            Err(e) => {
                let error = common::token_error("the refresh", e);
                return Err(self.token_failure(&endpoints, error).await);
            }
        };
        let mut new = self.shaped(common::token_set(
            &response,
            self.now(),
            self.config.fallback_token_lifetime,
            &tokens.scopes,
            Some(refresh),
        ));
        if new.scopes.is_empty() {
            new.scopes = tokens.scopes;
        }
        Ok(new)
    }

    async fn revoke(&self, tokens: TokenSet) -> Result<(), Error> {
        let (endpoints, identity) = self.endpoints_and_client().await?;
        let Some(revocation) = endpoints.revocation else {
            return Err(Error::unsupported("revocation (no revocation_url)"));
        };
        if revocation.scheme() != "https" && !revocation.host().is_some_and(|h| is_loopback(&h)) {
            return Err(Error::config(
                "revocation_url: must be https (or a loopback address)",
            ));
        }
        // RFC 7009: revoking the refresh token revokes the grant.
        let (token, hint) = match &tokens.refresh_token {
            Some(r) => (r.expose().to_owned(), "refresh_token"),
            None => (tokens.access_token.expose().to_owned(), "access_token"),
        };
        let (body, authorization) =
            self.revocation_form(&identity, &token, hint, revocation.as_str());
        let mut request = authhost_plugin_api::HttpRequest::new("POST", revocation.as_str())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json");
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        let response = common::require_host(&self.host)?
            .http(request.body(body))
            .await?;
        match response.status {
            200..=299 => Ok(()),
            500.. => Err(Error::new(
                ErrorKind::Upstream,
                format!("the revocation endpoint answered {}", response.status),
            )),
            status => {
                let code = serde_json::from_slice::<serde_json::Value>(&response.body)
                    .ok()
                    .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                    .filter(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
                let error = Error::new(
                    ErrorKind::InvalidRequest,
                    format!("the revocation endpoint refused ({status})"),
                );
                Err(match code {
                    Some(code) => error.with_oauth_error(code),
                    None => error,
                })
            }
        }
    }
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => *d == "localhost",
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// The provider in-process against the SDK's fake host: what it sends to
/// the token endpoint and what it makes of the answers.
#[cfg(test)]
mod tests {
    use authhost_plugin_api::testing::FakeHost;
    use serde_json::json;

    use super::*;

    const TOKEN_URL: &str = "https://as.example.com/token";

    fn provider(host: &FakeHost) -> AuthCodeFlow {
        host.create(json!({
            "client_id": "app",
            "client_secret": "s3cret",
            "authorization_url": "https://as.example.com/authorize",
            "token_url": TOKEN_URL,
            "redirect_uri": "http://127.0.0.1:8080/auth/callback",
            "scopes": ["repo"],
        }))
        .expect("created")
    }

    fn form(body: &str) -> BTreeMap<String, String> {
        url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect()
    }

    #[test]
    fn exchange_code_sends_the_verifier_and_dates_the_tokens_by_the_host_clock() {
        let host = FakeHost::new();
        host.respond_json(
            "POST",
            TOKEN_URL,
            200,
            json!({"access_token": "at-1", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "rt-1", "scope": "repo"}),
        );
        let provider = provider(&host);
        let tokens = host
            .block_on(provider.exchange_code(CodeExchange {
                user_id: "alice".into(),
                code: Secret::new("the-code"),
                pkce_verifier: Some(Secret::new("the-verifier")),
                issuer: None,
            }))
            .expect("exchanged");
        assert_eq!(tokens.access_token.expose(), "at-1");
        assert_eq!(
            tokens.refresh_token.as_ref().map(Secret::expose),
            Some("rt-1")
        );
        let now = host
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        assert_eq!(
            tokens.expires_at,
            Some(i64::try_from(now).expect("fits") + 3600)
        );
        assert_eq!(tokens.scopes, ["repo"]);

        let sent = &host.requests()[0];
        let body = form(&sent.body_text());
        assert_eq!(body["grant_type"], "authorization_code");
        assert_eq!(body["code"], "the-code");
        assert_eq!(body["code_verifier"], "the-verifier");
        assert_eq!(body["redirect_uri"], "http://127.0.0.1:8080/auth/callback");
        assert!(
            sent.header("authorization")
                .is_some_and(|a| a.starts_with("Basic ")),
            "client_secret_basic by default: {sent:?}"
        );
    }

    #[test]
    fn refresh_keeps_the_refresh_token_when_the_server_does_not_rotate_it() {
        let host = FakeHost::new();
        host.respond_json(
            "POST",
            TOKEN_URL,
            200,
            json!({"access_token": "at-2", "token_type": "Bearer", "expires_in": 600}),
        );
        host.respond_json(
            "POST",
            TOKEN_URL,
            200,
            json!({"access_token": "at-3", "token_type": "Bearer", "expires_in": 600, "refresh_token": "rt-2"}),
        );
        let provider = provider(&host);
        let old = TokenSet {
            access_token: Secret::new("at-1"),
            token_type: "Bearer".into(),
            refresh_token: Some(Secret::new("rt-1")),
            id_token: None,
            expires_at: Some(0),
            scopes: vec!["repo".into()],
            extra: serde_json::Map::new(),
        };
        let kept = host
            .block_on(provider.refresh(old.clone()))
            .expect("refreshed");
        assert_eq!(kept.access_token.expose(), "at-2");
        assert_eq!(
            kept.refresh_token.as_ref().map(Secret::expose),
            Some("rt-1")
        );
        assert_eq!(
            kept.scopes,
            ["repo"],
            "scopes carried over when the answer has none"
        );
        let rotated = host.block_on(provider.refresh(kept)).expect("refreshed");
        assert_eq!(
            rotated.refresh_token.as_ref().map(Secret::expose),
            Some("rt-2")
        );
        let bodies: Vec<_> = host
            .requests()
            .iter()
            .map(|r| form(&r.body_text()))
            .collect();
        assert_eq!(bodies[0]["grant_type"], "refresh_token");
        assert_eq!(bodies[0]["refresh_token"], "rt-1");
        assert_eq!(bodies[1]["refresh_token"], "rt-1");
    }

    #[test]
    fn a_refused_refresh_is_invalid_grant_and_a_server_error_is_not() {
        let host = FakeHost::new();
        host.respond_json("POST", TOKEN_URL, 400, json!({"error": "invalid_grant"}));
        host.respond("POST", TOKEN_URL, 503, "down for maintenance");
        let provider = provider(&host);
        let tokens = TokenSet {
            access_token: Secret::new("at-1"),
            token_type: "Bearer".into(),
            refresh_token: Some(Secret::new("rt-1")),
            id_token: None,
            expires_at: Some(0),
            scopes: Vec::new(),
            extra: serde_json::Map::new(),
        };
        let refused = host
            .block_on(provider.refresh(tokens.clone()))
            .expect_err("refused");
        assert_eq!(refused.kind(), ErrorKind::InvalidGrant, "{refused}");
        let failed = host.block_on(provider.refresh(tokens)).expect_err("failed");
        assert_ne!(failed.kind(), ErrorKind::InvalidGrant, "{failed}");
        assert!(!failed.to_string().contains("rt-1"), "{failed}");
    }

    #[test]
    fn authenticate_hands_out_the_stored_token_or_asks_for_authorization() {
        let host = FakeHost::new();
        let provider = provider(&host);
        let missing = host
            .block_on(provider.authenticate(AuthContext::for_user("alice")))
            .expect("answer");
        assert!(matches!(missing, AuthOutcome::AuthorizationRequired { .. }));
        let mut ctx = AuthContext::for_user("alice");
        ctx.tokens = Some(TokenSet {
            access_token: Secret::new("at-1"),
            token_type: "Bearer".into(),
            refresh_token: None,
            id_token: None,
            expires_at: Some(1_900_000_000),
            scopes: Vec::new(),
            extra: serde_json::Map::new(),
        });
        let AuthOutcome::Credentials {
            credentials,
            expires_at,
        } = host.block_on(provider.authenticate(ctx)).expect("answer")
        else {
            panic!("expected credentials");
        };
        assert_eq!(expires_at, Some(1_900_000_000));
        assert_eq!(credentials.len(), 1);
        assert!(
            host.requests().is_empty(),
            "no network: the host holds the tokens"
        );
    }
}
