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

/// The calling user.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// The user id.
    pub user: String,
    /// All claims (JWT), or empty.
    pub claims: serde_json::Map<String, serde_json::Value>,
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
        /// The checks.
        validation: Box<Validation>,
        /// The user claim.
        user_claim: String,
        /// Required scopes.
        required_scopes: Vec<String>,
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
    Jwks(Box<super::jwks::Jwks>),
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
    /// A message naming the key of `general.inbound_auth` to fix.
    pub fn new(
        config: Option<&InboundAuthConfig>,
        loopback: bool,
        base: &Path,
        registry: &crate::plugin::PluginRegistry,
        timeout: std::time::Duration,
        outbound: &std::sync::Arc<crate::outbound::Outbound>,
    ) -> Result<Self, String> {
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
                .map_err(|e| format!("general.inbound_auth: {e}")),
            None => Ok(Self::None { header: None }),
            Some(InboundAuthConfig::None { trust_user_header }) => {
                let header = match trust_user_header {
                    None => None,
                    Some(_) if !loopback => {
                        return Err("general.inbound_auth.trust_user_header: anyone could claim to be anyone; it is accepted only when general.server.bind is a loopback address".to_owned())
                    }
                    Some(name) => Some(http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                        format!("general.inbound_auth.trust_user_header: `{name}` is not a header name")
                    })?),
                };
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
            }) => {
                let algorithms: Vec<Algorithm> = algorithms
                    .iter()
                    .map(|a| {
                        a.parse::<Algorithm>()
                            .map_err(|_| format!("general.inbound_auth.algorithms: `{a}` is not a supported algorithm"))
                    })
                    .collect::<Result<_, _>>()?;
                let Some(first) = algorithms.first() else {
                    return Err(
                        "general.inbound_auth.algorithms: list at least one algorithm".to_owned(),
                    );
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
                    return Err("general.inbound_auth.algorithms: mix no families (HS*, RS*/PS*, ES*, EdDSA): one key cannot verify several".to_owned());
                }
                let key = match (family(first), secret, public_key_file, jwks_url) {
                    (kind, None, None, Some(url)) if kind != "hmac" => {
                        let url = url::Url::parse(url).map_err(|e| format!("general.inbound_auth.jwks_url: {e}"))?;
                        JwtKey::Jwks(Box::new(super::jwks::Jwks::new(url, outbound.clone())))
                    }
                    ("hmac", Some(secret), None, None) => {
                        if secret.expose().len() < 32 {
                            return Err("general.inbound_auth.secret: use at least 32 bytes for HS* keys".to_owned());
                        }
                        JwtKey::Static(Box::new(DecodingKey::from_secret(secret.expose().as_bytes())))
                    }
                    ("hmac", _, _, _) => {
                        return Err("general.inbound_auth: HS* algorithms need `secret` only (no public_key_file, no jwks_url)".to_owned())
                    }
                    (kind, None, Some(file), None) => {
                        let path = base.join(file);
                        let pem = std::fs::read(&path).map_err(|e| {
                            format!("general.inbound_auth.public_key_file: cannot read {}: {e}", path.display())
                        })?;
                        let key = match kind {
                            "rsa" => DecodingKey::from_rsa_pem(&pem),
                            "ec" => DecodingKey::from_ec_pem(&pem),
                            _ => DecodingKey::from_ed_pem(&pem),
                        };
                        JwtKey::Static(Box::new(key.map_err(|_| {
                            format!("general.inbound_auth.public_key_file: {} is not a {kind} public key in PEM", path.display())
                        })?))
                    }
                    _ => {
                        return Err("general.inbound_auth: asymmetric algorithms need exactly one of `public_key_file` and `jwks_url` (and no secret)".to_owned())
                    }
                };
                let mut validation = Validation::new(*first);
                validation.algorithms = algorithms;
                validation.leeway = *leeway;
                validation.validate_exp = true;
                validation.required_spec_claims = HashSet::from(["exp".to_owned()]);
                match issuer {
                    Some(iss) => validation.set_issuer(&[iss]),
                    None => validation.iss = None,
                }
                match audience {
                    Some(aud) => validation.set_audience(&[aud]),
                    None => validation.validate_aud = false,
                }
                Ok(Self::Jwt {
                    key: Box::new(key),
                    validation: Box::new(validation),
                    user_claim: user_claim.clone(),
                    required_scopes: required_scopes.clone(),
                })
            }
        }
    }

    /// Who is calling.
    ///
    /// # Errors
    ///
    /// [`Refused`] with a reason safe to return and log.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, Refused> {
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
                let inbound = authhost_plugin_api::InboundCredential {
                    scheme,
                    credential: Secret::new(credential),
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
                    }),
                    Ok(_) => Err(Refused("the authenticator returned no user".to_owned())),
                    Err(e) if e.kind() == Some(authhost_plugin_api::ErrorKind::Unauthenticated) => {
                        let reason = match &e {
                            crate::plugin::CallError::Plugin { source, .. } => {
                                source.message().to_owned()
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
                Ok(Caller {
                    user,
                    claims: serde_json::Map::new(),
                })
            }
            Self::Jwt {
                key,
                validation,
                user_claim,
                required_scopes,
            } => {
                let value = headers
                    .get(http::header::AUTHORIZATION)
                    .ok_or_else(|| Refused("missing bearer token".to_owned()))?;
                if value.len() > MAX_AUTHORIZATION {
                    return Err(Refused("authorization header too large".to_owned()));
                }
                let token = value
                    .to_str()
                    .ok()
                    .and_then(|v| {
                        v.strip_prefix("Bearer ")
                            .or_else(|| v.strip_prefix("bearer "))
                    })
                    .ok_or_else(|| Refused("expected `Authorization: Bearer <jwt>`".to_owned()))?;
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
                Ok(Caller { user, claims })
            }
        }
    }
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
        ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
        _ => "malformed token",
    }
    .to_owned()
}
