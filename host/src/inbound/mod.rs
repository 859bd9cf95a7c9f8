//! Inbound authentication of the server's callers: who is calling, as a
//! user id the token store keys tokens by.
//!
//! - `none`: development only. Everyone is `anonymous`, unless
//!   `trust_user_header` names a header to take the user from — accepted
//!   only when the server listens on a loopback address.
//! - `jwt`: a bearer JWT checked with `jsonwebtoken`: the algorithms are
//!   fixed by configuration (never `none`), the key family must match them
//!   (no HS-with-a-public-key confusion), `exp` is required, `iss`/`aud`
//!   are checked when configured.

mod jwks;

use std::{collections::HashSet, path::Path};

use http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use schemars::JsonSchema;
use serde::Deserialize;

use authhost_plugin_api::Secret;

/// `general.inbound_auth`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum InboundAuthConfig {
    /// No authentication (development only).
    None {
        /// Take the user id from this header; only on a loopback bind.
        trust_user_header: Option<String>,
        /// Serve without authentication on a non-loopback address anyway
        /// (anyone who reaches the port can use every tool); `serve` warns.
        #[serde(default)]
        allow_unauthenticated: bool,
    },
    /// A bearer JWT.
    Jwt {
        /// Accepted algorithms, one family: HS256/384/512, RS256/384/512,
        /// PS256/384/512, ES256/384 or EdDSA.
        algorithms: Vec<String>,
        /// The shared secret (HS*).
        secret: Option<Secret>,
        /// A PEM public key file (RS*, PS*, ES*, EdDSA), relative to the workflow.
        public_key_file: Option<String>,
        /// A JWKS URL (keys picked by `kid`, re-fetched on an unknown one).
        jwks_url: Option<String>,
        /// Required `iss`.
        issuer: Option<String>,
        /// Required `aud`.
        audience: Option<String>,
        /// Clock skew allowed, in seconds.
        #[serde(default = "default_leeway")]
        leeway: u64,
        /// The claim holding the user id.
        #[serde(default = "default_user_claim")]
        user_claim: String,
        /// Scopes the caller must have (in `scope` or `scp`).
        #[serde(default)]
        required_scopes: Vec<String>,
        /// A cookie that carries the JWT in browsers. Read only on browser
        /// routes (opening a connect link, `/start`), never on API routes,
        /// so a cross-site request cannot use it.
        cookie: Option<String>,
    },
    /// An `authenticator` component from a plugin (a custom backend).
    Plugin {
        /// The authenticator type (`authhost info components -t authenticator`).
        authenticator: String,
        /// Its configuration.
        #[serde(default)]
        config: serde_json::Map<String, serde_json::Value>,
    },
}

fn default_leeway() -> u64 {
    30
}

fn default_user_claim() -> String {
    "sub".to_owned()
}

/// A `general.inbound_auth` setting that cannot work: the key under
/// `general.inbound_auth` to fix (empty for the section itself) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("general.inbound_auth{}: {message}", if key.is_empty() { String::new() } else { format!(".{key}") })]
pub struct InboundConfigError {
    /// The key, relative to `general.inbound_auth` (`algorithms`, `secret`).
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

fn bad(key: &str, message: impl Into<String>) -> InboundConfigError {
    InboundConfigError {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// The calling user.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user id.
    pub user: String,
    /// All claims (JWT), or empty.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// The bearer token the caller presented (a JWT, or what an
    /// authenticator plugin accepted), for providers that exchange it
    /// ([`Capabilities::CALLER_TOKEN`](authhost_plugin_api::Capabilities::CALLER_TOKEN)).
    pub token: Option<Secret>,
}

impl Caller {
    /// A caller known by name only (the CLI's `--user`, a trusted header).
    pub fn named(user: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            claims: serde_json::Map::new(),
            token: None,
        }
    }

    /// The scopes the caller's token carries, from `scope`
    /// (space-separated) or `scp` (a list).
    pub fn scopes(&self) -> Vec<String> {
        match (self.claims.get("scope"), self.claims.get("scp")) {
            (Some(serde_json::Value::String(s)), _) => {
                s.split_whitespace().map(str::to_owned).collect()
            }
            (_, Some(serde_json::Value::Array(list))) => list
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Which of `required` the caller's token lacks, in `required`'s order.
    pub fn missing_scopes<'r>(&self, required: &'r [String]) -> Vec<&'r str> {
        let held = self.scopes();
        required
            .iter()
            .filter(|s| !held.contains(s))
            .map(String::as_str)
            .collect()
    }
}

/// Why a caller was refused. The reason is for the log and the response;
/// it never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// A ready inbound authenticator.
pub enum InboundAuth {
    /// `none`.
    None {
        /// The trusted user header, if any.
        header: Option<http::HeaderName>,
    },
    /// `jwt`.
    Jwt {
        /// The key.
        key: Box<JwtKey>,
        /// The checks `jsonwebtoken` makes (signature, algorithm, `exp`).
        validation: Box<Validation>,
        /// The registered claims checked again, strictly, after decoding.
        rules: ClaimRules,
        /// The user claim.
        user_claim: String,
        /// Required scopes.
        required_scopes: Vec<String>,
        /// The cookie carrying the JWT in browsers.
        cookie: Option<String>,
    },
    /// `plugin`.
    Plugin(crate::plugin::AuthenticatorHandle),
}

impl std::fmt::Debug for InboundAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None { header } => f.debug_struct("None").field("header", header).finish(),
            Self::Jwt { user_claim, .. } => f
                .debug_struct("Jwt")
                .field("user_claim", user_claim)
                .finish(),
            Self::Plugin(handle) => f.debug_tuple("Plugin").field(handle).finish(),
        }
    }
}

/// Where JWT verification keys come from.
pub enum JwtKey {
    /// One configured key.
    Static(Box<DecodingKey>),
    /// A JWKS, by `kid`.
    Jwks(Box<jwks::Jwks>),
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Static(_) => f.write_str("Static"),
            Self::Jwks(jwks) => jwks.fmt(f),
        }
    }
}

/// The largest `Authorization` header accepted.
const MAX_AUTHORIZATION: usize = 8 * 1024;

impl InboundAuth {
    /// Builds the authenticator. `loopback` says whether the server listens
    /// on a loopback address; `base` resolves a relative key file;
    /// `registry` provides `authenticator` plugins.
    ///
    /// # Errors
    ///
    /// [`InboundConfigError`] naming the key of `general.inbound_auth` to fix.
    pub fn new(
        config: Option<&InboundAuthConfig>,
        loopback: bool,
        base: &Path,
        registry: &crate::plugin::PluginRegistry,
        timeout: std::time::Duration,
        outbound: &std::sync::Arc<crate::outbound::Outbound>,
    ) -> Result<Self, InboundConfigError> {
        match config {
            Some(InboundAuthConfig::Plugin {
                authenticator,
                config,
            }) => registry
                .create_authenticator(
                    authenticator,
                    "inbound_auth",
                    &serde_json::Value::Object(config.clone()),
                    timeout,
                )
                .map(Self::Plugin)
                .map_err(|e| bad("authenticator", e.to_string())),
            None if !loopback => Err(bad(
                "",
                "the server listens on a non-loopback address without authenticating its callers; configure `type: jwt` or `type: plugin`, or set `type: none` with `allow_unauthenticated: true` to accept that anyone who reaches the port can use every tool",
            )),
            None => Ok(Self::None { header: None }),
            Some(InboundAuthConfig::None {
                trust_user_header,
                allow_unauthenticated,
            }) => {
                let header = match trust_user_header {
                    None => None,
                    Some(_) if !loopback => {
                        return Err(bad("trust_user_header", "anyone could claim to be anyone; it is accepted only when general.server.bind is a loopback address"))
                    }
                    Some(name) => Some(http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                        bad("trust_user_header", format!("`{name}` is not a header name"))
                    })?),
                };
                if !loopback && !allow_unauthenticated {
                    return Err(bad(
                        "type",
                        "`none` on a non-loopback address lets anyone who reaches the port use every tool; use `jwt` or `plugin`, or add `allow_unauthenticated: true`",
                    ));
                }
                if !loopback {
                    tracing::warn!("general.inbound_auth is `none` with allow_unauthenticated on a non-loopback address: every caller is `anonymous` and may use every tool");
                }
                Ok(Self::None { header })
            }
            Some(InboundAuthConfig::Jwt {
                algorithms,
                secret,
                public_key_file,
                jwks_url,
                issuer,
                audience,
                leeway,
                user_claim,
                required_scopes,
                cookie,
            }) => {
                let algorithms: Vec<Algorithm> = algorithms
                    .iter()
                    .map(|a| {
                        a.parse::<Algorithm>()
                            .map_err(|_| bad("algorithms", format!("`{a}` is not a supported algorithm")))
                    })
                    .collect::<Result<_, _>>()?;
                let Some(first) = algorithms.first() else {
                    return Err(bad("algorithms", "list at least one algorithm"));
                };
                let family = |a: &Algorithm| match a {
                    Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => "hmac",
                    Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512 => "rsa",
                    Algorithm::ES256 | Algorithm::ES384 => "ec",
                    Algorithm::EdDSA => "ed",
                };
                if algorithms.iter().any(|a| family(a) != family(first)) {
                    return Err(bad("algorithms", "mix no families (HS*, RS*/PS*, ES*, EdDSA): one key cannot verify several"));
                }
                let key = match (family(first), secret, public_key_file, jwks_url) {
                    (kind, None, None, Some(url)) if kind != "hmac" => {
                        let url = url::Url::parse(url).map_err(|e| bad("jwks_url", e.to_string()))?;
                        JwtKey::Jwks(Box::new(jwks::Jwks::new(url, outbound.clone())))
                    }
                    ("hmac", Some(secret), None, None) => {
                        if secret.expose().len() < 32 {
                            return Err(bad("secret", "use at least 32 bytes for HS* keys"));
                        }
                        JwtKey::Static(Box::new(DecodingKey::from_secret(secret.expose().as_bytes())))
                    }
                    ("hmac", _, _, _) => {
                        return Err(bad("", "HS* algorithms need `secret` only (no public_key_file, no jwks_url)"))
                    }
                    (kind, None, Some(file), None) => {
                        let path = base.join(file);
                        let pem = std::fs::read(&path).map_err(|e| {
                            bad("public_key_file", format!("cannot read {}: {e}", path.display()))
                        })?;
                        let key = match kind {
                            "rsa" => DecodingKey::from_rsa_pem(&pem),
                            "ec" => DecodingKey::from_ec_pem(&pem),
                            _ => DecodingKey::from_ed_pem(&pem),
                        };
                        JwtKey::Static(Box::new(key.map_err(|_| {
                            bad("public_key_file", format!("{} is not a {kind} public key in PEM", path.display()))
                        })?))
                    }
                    _ => {
                        return Err(bad("", "asymmetric algorithms need exactly one of `public_key_file` and `jwks_url` (and no secret)"))
                    }
                };
                let mut validation = Validation::new(*first);
                validation.algorithms = algorithms;
                validation.leeway = *leeway;
                validation.validate_exp = true;
                validation.validate_nbf = true;
                let mut required = HashSet::from(["exp".to_owned()]);
                match issuer {
                    Some(iss) => {
                        validation.set_issuer(&[iss]);
                        required.insert("iss".to_owned());
                    }
                    None => validation.iss = None,
                }
                match audience {
                    Some(aud) => {
                        validation.set_audience(&[aud]);
                        required.insert("aud".to_owned());
                    }
                    None => validation.validate_aud = false,
                }
                validation.required_spec_claims = required;
                Ok(Self::Jwt {
                    key: Box::new(key),
                    validation: Box::new(validation),
                    rules: ClaimRules {
                        issuer: issuer.clone(),
                        audience: audience.clone(),
                        leeway: *leeway,
                    },
                    user_claim: user_claim.clone(),
                    required_scopes: required_scopes.clone(),
                    cookie: cookie.clone(),
                })
            }
        }
    }

    /// The header callers are named by (`trust_user_header`), if any: it
    /// says who is calling, so it is never passed on upstream.
    pub fn trusted_user_header(&self) -> Option<&str> {
        match self {
            Self::None { header: Some(name) } => Some(name.as_str()),
            _ => None,
        }
    }

    /// Who is calling an API route: credentials from headers only.
    ///
    /// # Errors
    ///
    /// [`Refused`] with a reason safe to return and log.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, Refused> {
        self.authenticate_as(headers, false).await
    }

    /// Who is using a browser route (opening a connect link, `/start`):
    /// as [`authenticate`](Self::authenticate), and a JWT may also come
    /// from the configured `cookie`.
    ///
    /// # Errors
    ///
    /// [`Refused`] with a reason safe to return and log.
    pub async fn authenticate_browser(&self, headers: &HeaderMap) -> Result<Caller, Refused> {
        self.authenticate_as(headers, true).await
    }

    async fn authenticate_as(&self, headers: &HeaderMap, browser: bool) -> Result<Caller, Refused> {
        match self {
            Self::Plugin(handle) => {
                let (scheme, credential) = headers
                    .get(http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| match v.split_once(' ') {
                        Some((scheme, rest)) => (scheme.to_owned(), rest.trim().to_owned()),
                        None => (String::new(), v.to_owned()),
                    })
                    .unwrap_or_default();
                if credential.len() > MAX_AUTHORIZATION {
                    return Err(Refused("authorization header too large".to_owned()));
                }
                let presented = Secret::new(credential);
                let inbound = authhost_plugin_api::InboundCredential {
                    scheme,
                    credential: presented.clone(),
                    headers: headers
                        .iter()
                        .filter_map(|(k, v)| {
                            Some((k.as_str().to_owned(), Secret::new(v.to_str().ok()?)))
                        })
                        .collect(),
                    remote_addr: None,
                };
                match handle.authenticate(inbound).await {
                    Ok(claims) if !claims.user_id.is_empty() => Ok(Caller {
                        user: claims.user_id,
                        claims: claims.claims,
                        token: Some(presented),
                    }),
                    Ok(_) => Err(Refused("the authenticator returned no user".to_owned())),
                    Err(e) if e.kind() == Some(authhost_plugin_api::ErrorKind::Unauthenticated) => {
                        let reason = match &e {
                            crate::plugin::CallError::Plugin { error, .. } => {
                                error.message().to_owned()
                            }
                            other => other.to_string(),
                        };
                        Err(Refused(reason))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "inbound authenticator failed");
                        Err(Refused("the authenticator failed".to_owned()))
                    }
                }
            }
            Self::None { header } => {
                let user = match header {
                    Some(name) => headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .filter(|v| !v.is_empty() && v.len() <= 256)
                        .ok_or_else(|| Refused(format!("missing {name} header")))?
                        .to_owned(),
                    None => "anonymous".to_owned(),
                };
                Ok(Caller::named(user))
            }
            Self::Jwt {
                key,
                validation,
                rules,
                user_claim,
                required_scopes,
                cookie,
            } => {
                let from_cookie = match (browser, cookie, headers.get(http::header::AUTHORIZATION))
                {
                    (true, Some(name), None) => crate::connect::cookie(headers, name),
                    _ => None,
                };
                let token = match from_cookie {
                    Some(token) => token,
                    None => {
                        let value = headers
                            .get(http::header::AUTHORIZATION)
                            .ok_or_else(|| Refused("missing bearer token".to_owned()))?;
                        value
                            .to_str()
                            .ok()
                            .and_then(|v| {
                                v.strip_prefix("Bearer ")
                                    .or_else(|| v.strip_prefix("bearer "))
                            })
                            .ok_or_else(|| {
                                Refused("expected `Authorization: Bearer <jwt>`".to_owned())
                            })?
                    }
                };
                if token.len() > MAX_AUTHORIZATION {
                    return Err(Refused("authorization header too large".to_owned()));
                }
                let key = match &**key {
                    JwtKey::Static(key) => (**key).clone(),
                    JwtKey::Jwks(jwks) => {
                        let header = jsonwebtoken::decode_header(token)
                            .map_err(|e| Refused(jwt_reason(&e)))?;
                        let kid = header
                            .kid
                            .ok_or_else(|| Refused("the token has no `kid`".to_owned()))?;
                        if kid.len() > 256 {
                            return Err(Refused("unknown key id".to_owned()));
                        }
                        jwks.key(&kid)
                            .await
                            .ok_or_else(|| Refused("unknown key id".to_owned()))?
                    }
                };
                let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
                    token, &key, validation,
                )
                .map_err(|e| Refused(jwt_reason(&e)))?;
                let claims = data.claims;
                rules.check(&claims, unix_now())?;
                let user = claims
                    .get(user_claim)
                    .and_then(|v| v.as_str())
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| Refused(format!("the token has no `{user_claim}` claim")))?
                    .to_owned();
                if !required_scopes.is_empty() {
                    let granted: Vec<&str> = claims
                        .get("scope")
                        .and_then(|s| s.as_str())
                        .map(|s| s.split_whitespace().collect())
                        .or_else(|| {
                            claims
                                .get("scp")
                                .and_then(|s| s.as_array())
                                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                        })
                        .unwrap_or_default();
                    if let Some(missing) = required_scopes
                        .iter()
                        .find(|s| !granted.contains(&s.as_str()))
                    {
                        return Err(Refused(format!("the token lacks the scope `{missing}`")));
                    }
                }
                Ok(Caller {
                    user,
                    claims,
                    token: Some(Secret::new(token)),
                })
            }
        }
    }
}

/// The registered claims an accepted token must carry, checked on the
/// decoded claims whatever the JWT library tolerates: a configured `iss` or
/// `aud` must be present and match exactly (`iss` one string, `aud` a string
/// or an array holding it); `exp`, `nbf` and `iat` must be numbers when
/// present; `nbf` and `iat` may not lie in the future beyond the leeway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRules {
    /// The configured issuer.
    pub issuer: Option<String>,
    /// The configured audience.
    pub audience: Option<String>,
    /// Clock skew allowed, in seconds.
    pub leeway: u64,
}

impl ClaimRules {
    /// Checks `claims` at `now` (seconds since the epoch).
    ///
    /// # Errors
    ///
    /// [`Refused`] naming the claim, never its value.
    pub fn check(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
        now: u64,
    ) -> Result<(), Refused> {
        use serde_json::Value;
        let refuse = |why: &str| Err(Refused(why.to_owned()));
        if let Some(issuer) = &self.issuer {
            match claims.get("iss") {
                Some(Value::String(iss)) if iss == issuer => {}
                None => return refuse("the token has no `iss` claim"),
                Some(_) => return refuse("wrong issuer"),
            }
        }
        if let Some(audience) = &self.audience {
            let matches = match claims.get("aud") {
                None => return refuse("the token has no `aud` claim"),
                Some(Value::String(aud)) => aud == audience,
                Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
                Some(_) => false,
            };
            if !matches {
                return refuse("wrong audience");
            }
        }
        let latest = now.saturating_add(self.leeway) as f64;
        for name in ["exp", "nbf", "iat"] {
            let Some(value) = claims.get(name) else {
                continue;
            };
            let Some(seconds) = value.as_f64().filter(|s| s.is_finite()) else {
                return Err(Refused(format!("the `{name}` claim is not a number")));
            };
            if name != "exp" && seconds > latest {
                return Err(Refused(format!(
                    "the token's `{name}` is in the future (the token is not valid yet)"
                )));
            }
        }
        Ok(())
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn jwt_reason(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidAlgorithm => "algorithm not accepted",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        ErrorKind::MissingRequiredClaim(claim) => {
            return match claim.as_str() {
                "exp" | "nbf" | "iss" | "aud" | "sub" => {
                    format!("the token has no `{claim}` claim")
                }
                _ => "a required claim is missing".to_owned(),
            }
        }
        _ => "malformed token",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        value.as_object().cloned().expect("object")
    }

    const NOW: u64 = 1_800_000_000;

    fn rules() -> ClaimRules {
        ClaimRules {
            issuer: Some("https://idp.example".into()),
            audience: Some("authhost".into()),
            leeway: 30,
        }
    }

    #[test]
    fn configured_claims_must_be_present_and_exact() {
        let ok = claims(
            serde_json::json!({"iss": "https://idp.example", "aud": ["x", "authhost"], "exp": NOW + 60}),
        );
        assert_eq!(rules().check(&ok, NOW), Ok(()));
        for (bad, why) in [
            (
                serde_json::json!({"aud": "authhost"}),
                "the token has no `iss` claim",
            ),
            (
                serde_json::json!({"iss": "https://idp.example"}),
                "the token has no `aud` claim",
            ),
            (
                serde_json::json!({"iss": "https://idp.example/", "aud": "authhost"}),
                "wrong issuer",
            ),
            (
                serde_json::json!({"iss": "HTTPS://IDP.EXAMPLE", "aud": "authhost"}),
                "wrong issuer",
            ),
            (
                serde_json::json!({"iss": ["https://idp.example"], "aud": "authhost"}),
                "wrong issuer",
            ),
            (
                serde_json::json!({"iss": "https://idp.example", "aud": "authhost2"}),
                "wrong audience",
            ),
            (
                serde_json::json!({"iss": "https://idp.example", "aud": {"a": "authhost"}}),
                "wrong audience",
            ),
        ] {
            assert_eq!(
                rules().check(&claims(bad.clone()), NOW),
                Err(Refused(why.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn times_must_be_numbers_and_not_in_the_future() {
        let base = serde_json::json!({"iss": "https://idp.example", "aud": "authhost"});
        let with = |k: &str, v: serde_json::Value| {
            let mut c = claims(base.clone());
            c.insert(k.into(), v);
            c
        };
        assert_eq!(rules().check(&with("nbf", (NOW + 30).into()), NOW), Ok(()));
        assert_eq!(rules().check(&with("iat", (NOW - 5).into()), NOW), Ok(()));
        for name in ["nbf", "iat"] {
            let err = rules()
                .check(&with(name, (NOW + 3600).into()), NOW)
                .expect_err(name);
            assert!(err.0.contains("in the future"), "{err}");
            let err = rules()
                .check(&with(name, (NOW + 31).into()), NOW)
                .expect_err(name);
            assert!(err.0.contains("in the future"), "{err}");
        }
        for name in ["exp", "nbf", "iat"] {
            let err = rules()
                .check(&with(name, serde_json::json!("9999999999")), NOW)
                .expect_err(name);
            assert_eq!(err.0, format!("the `{name}` claim is not a number"));
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number)),
            "[ -~]{0,12}".prop_map(serde_json::Value::from),
            Just(serde_json::Value::from("https://idp.example")),
            Just(serde_json::Value::from("authhost")),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            proptest::collection::vec(inner, 0..4).prop_map(serde_json::Value::from)
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any claims: no panic, and accepted only with the configured
        /// issuer and audience and no time claim in the future.
        #[test]
        fn claim_checks_hold_for_any_claims(
            iss in proptest::option::of(json_value()),
            aud in proptest::option::of(json_value()),
            nbf in proptest::option::of(json_value()),
            iat in proptest::option::of(json_value()),
        ) {
            let mut c = serde_json::Map::new();
            for (k, v) in [("iss", iss), ("aud", aud), ("nbf", nbf), ("iat", iat)] {
                if let Some(v) = v { c.insert(k.into(), v); }
            }
            if rules().check(&c, NOW).is_ok() {
                proptest::prop_assert_eq!(c.get("iss").and_then(|v| v.as_str()), Some("https://idp.example"));
                proptest::prop_assert!(c.get("aud").is_some());
                for k in ["nbf", "iat"] {
                    if let Some(v) = c.get(k) {
                        proptest::prop_assert!(v.as_f64().is_some_and(|t| t <= (NOW + 30) as f64));
                    }
                }
            }
        }

        /// Any `Authorization` header: refused without a panic (no key
        /// signs these), and the refusal never quotes the token.
        #[test]
        fn arbitrary_bearer_tokens_are_refused(token in "[!-~]{0,300}") {
            let runtime = tokio::runtime::Builder::new_current_thread().build().expect("rt");
            let auth = InboundAuth::new(
                Some(&InboundAuthConfig::Jwt {
                    algorithms: vec!["HS256".into()],
                    secret: Some(Secret::new("a-test-secret-of-at-least-32-bytes!!")),
                    public_key_file: None,
                    jwks_url: None,
                    issuer: Some("https://idp.example".into()),
                    audience: Some("authhost".into()),
                    leeway: 30,
                    user_claim: "sub".into(),
                    required_scopes: vec![],
                    cookie: None,
                }),
                true,
                Path::new("."),
                &crate::plugin::PluginRegistry::default(),
                std::time::Duration::from_secs(1),
                &std::sync::Arc::new(crate::outbound::Outbound::default()),
            )
            .expect("auth");
            let mut headers = HeaderMap::new();
            if let Ok(v) = http::HeaderValue::from_str(&format!("Bearer {token}")) {
                headers.insert(http::header::AUTHORIZATION, v);
            }
            let refused = runtime.block_on(auth.authenticate(&headers)).expect_err("refused");
            if token.len() > 8 {
                proptest::prop_assert!(!refused.0.contains(&token));
            }
        }
    }
}
