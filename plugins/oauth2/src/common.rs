//! What both providers share: client authentication at the token endpoint,
//! sending through the host, mapping token responses and errors.

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use authhost_plugin_api::{Error, ErrorKind, Host, OAuth2HttpClient, Secret, TokenSet};
use std::{future::Future, pin::Pin};

use oauth2::{
    basic::BasicTokenResponse, AsyncHttpClient, AuthType, ErrorResponseType, RequestTokenError,
    StandardErrorResponse, TokenResponse,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    /// HTTP Basic with client id and secret (RFC 6749 §2.3.1).
    #[default]
    ClientSecretBasic,
    /// Client id and secret in the form body.
    ClientSecretPost,
    /// A public client: only the client id is sent (PKCE is required).
    None,
    /// A JWT signed with the client's private key (RFC 7523 §2.2), set in
    /// `private_key` (PEM) and `private_key_algorithm`.
    PrivateKeyJwt,
}

/// Algorithms for `private_key_jwt`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum AssertionAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    #[default]
    RS256,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
}

/// Signs client assertions for `private_key_jwt`.
pub(crate) struct ClientAssertion {
    key: jsonwebtoken::EncodingKey,
    algorithm: jsonwebtoken::Algorithm,
    client_id: String,
}

impl std::fmt::Debug for ClientAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAssertion")
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

impl ClientAssertion {
    /// Reads the PEM key for `algorithm`.
    pub(crate) fn new(
        pem: &Secret,
        algorithm: AssertionAlgorithm,
        client_id: &str,
    ) -> Result<Self, Error> {
        let (key, algorithm) = signing_key(pem, algorithm)?;
        Ok(Self {
            key,
            algorithm,
            client_id: client_id.to_owned(),
        })
    }

    /// A fresh assertion for the token endpoint `audience`, valid 60 s.
    pub(crate) fn sign(&self, audience: &str, now: i64) -> Result<String, Error> {
        let claims = serde_json::json!({
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "iat": now,
            "exp": now + 60,
            "jti": assertion_id()?,
        });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(self.algorithm),
            &claims,
            &self.key,
        )
        .map_err(|_| Error::internal("signing the client assertion failed"))
    }
}

/// A fresh random assertion id (`jti`), 128 bits in hex.
pub(crate) fn assertion_id() -> Result<String, Error> {
    let mut jti = [0u8; 16];
    getrandom::getrandom(&mut jti)
        .map_err(|_| Error::internal("no randomness for the assertion id"))?;
    Ok(jti.iter().map(|b| format!("{b:02x}")).collect())
}

/// The signing key for `algorithm` from the PEM `private_key`.
pub(crate) fn signing_key(
    pem: &Secret,
    algorithm: AssertionAlgorithm,
) -> Result<(jsonwebtoken::EncodingKey, jsonwebtoken::Algorithm), Error> {
    let bytes = pem.expose().as_bytes();
    let (key, algorithm) = match algorithm {
        AssertionAlgorithm::RS256 => (
            jsonwebtoken::EncodingKey::from_rsa_pem(bytes),
            jsonwebtoken::Algorithm::RS256,
        ),
        AssertionAlgorithm::PS256 => (
            jsonwebtoken::EncodingKey::from_rsa_pem(bytes),
            jsonwebtoken::Algorithm::PS256,
        ),
        AssertionAlgorithm::ES256 => (
            jsonwebtoken::EncodingKey::from_ec_pem(bytes),
            jsonwebtoken::Algorithm::ES256,
        ),
    };
    key.map(|key| (key, algorithm))
        .map_err(|_| Error::config("private_key: not a PEM private key for private_key_algorithm"))
}

/// The assertion type parameter of RFC 7523.
pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

impl TokenEndpointAuthMethod {
    pub(crate) fn auth_type(self) -> AuthType {
        match self {
            Self::ClientSecretBasic => AuthType::BasicAuth,
            Self::ClientSecretPost | Self::None | Self::PrivateKeyJwt => AuthType::RequestBody,
        }
    }
}

pub(crate) fn default_fallback_lifetime() -> u64 {
    3600
}

/// Checks an absolute http(s) URL in the configuration.
pub(crate) fn check_url(key: &str, value: &str) -> Result<url::Url, Error> {
    let url = url::Url::parse(value)
        .map_err(|e| Error::config(format!("{key}: is not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::config(format!(
            "{key}: must be an http or https URL"
        )));
    }
    Ok(url)
}

/// Extra token-request parameters may not replace the protocol's own.
pub(crate) fn check_extra_params(
    key: &str,
    params: &BTreeMap<String, String>,
    reserved: &[&str],
) -> Result<(), Error> {
    if let Some(name) = params.keys().find(|k| reserved.contains(&k.as_str())) {
        return Err(Error::config(format!(
            "{key}.{name}: is set by authhost and cannot be overridden"
        )));
    }
    Ok(())
}

pub(crate) fn now_secs(host: Option<&Host>) -> i64 {
    host.map(Host::now)
        .unwrap_or_else(SystemTime::now)
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64
}

/// The host's HTTP for token requests, made to say what the `oauth2` crate
/// expects: 5xx answers become `Upstream` errors before it tries to parse
/// them (their bodies are not OAuth); an error sent with status 200
/// (GitHub, Slack) becomes the 400 it means; and, for services that nest
/// the token ([`token_at`](Self::token_at)), the nested object is read as
/// the answer.
#[derive(Debug, Clone)]
pub(crate) struct TokenHttp {
    client: OAuth2HttpClient,
    pointer: Option<String>,
}

impl TokenHttp {
    /// Token requests through `client`.
    pub(crate) fn new(client: OAuth2HttpClient) -> Self {
        Self {
            client,
            pointer: None,
        }
    }

    /// Reads the token from the object at the JSON `pointer` of answers.
    pub(crate) fn token_at(mut self, pointer: Option<String>) -> Self {
        self.pointer = pointer;
        self
    }
}

impl<'c> AsyncHttpClient<'c> for TokenHttp {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, Error>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let mut response = self.client.call(request).await?;
            if response.status().is_server_error() {
                return Err(Error::new(
                    ErrorKind::Upstream,
                    format!("the authorization server answered {}", response.status()),
                ));
            }
            if !response.status().is_success() {
                return Ok(response);
            }
            let Ok(body) = serde_json::from_slice::<serde_json::Value>(response.body()) else {
                return Ok(response);
            };
            if body.get("access_token").is_none()
                && body.get("error").is_some_and(|e| e.is_string())
            {
                *response.status_mut() = http::StatusCode::BAD_REQUEST;
                return Ok(response);
            }
            if let Some(pointer) = &self.pointer {
                let mut nested = body
                    .pointer(pointer)
                    .filter(|v| v.is_object())
                    .cloned()
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::Upstream,
                            format!("the token endpoint's answer has no object at {pointer}"),
                        )
                    })?;
                if let Some(object) = nested.as_object_mut() {
                    object
                        .entry("token_type")
                        .or_insert_with(|| "bearer".into());
                }
                *response.body_mut() = serde_json::to_vec(&nested)
                    .map_err(|_| Error::internal("re-encoding the token answer failed"))?;
            }
            Ok(response)
        })
    }
}

/// Maps a token or revocation endpoint failure to a typed error with the
/// server's `error` code, never its body.
pub(crate) fn token_error<T>(
    what: &str,
    e: RequestTokenError<Error, StandardErrorResponse<T>>,
) -> Error
where
    T: ErrorResponseType + AsRef<str> + std::fmt::Display + 'static,
{
    match e {
        RequestTokenError::ServerResponse(response) => {
            let code = response.error().as_ref().to_owned();
            let kind = match code.as_str() {
                "invalid_grant" => ErrorKind::InvalidGrant,
                "invalid_client" | "unauthorized_client" => ErrorKind::InvalidClient,
                _ => ErrorKind::InvalidRequest,
            };
            Error::new(
                kind,
                format!("{what} was refused by the authorization server"),
            )
            .with_oauth_error(code)
        }
        RequestTokenError::Request(e) => {
            Error::new(e.kind(), format!("{what} failed: {}", e.message()))
        }
        RequestTokenError::Parse(_, _) => Error::new(
            ErrorKind::Upstream,
            format!("{what}: the authorization server's answer is not a valid token response"),
        ),
        RequestTokenError::Other(_) => Error::new(
            ErrorKind::Upstream,
            format!("{what}: unexpected answer from the authorization server"),
        ),
    }
}

/// A token set from a token response. `previous_refresh` is kept when the
/// response has no refresh token; `fallback` is the lifetime used when the
/// server sends no `expires_in` (never "forever").
pub(crate) fn token_set(
    response: &BasicTokenResponse,
    now: i64,
    fallback: u64,
    requested_scopes: &[String],
    previous_refresh: Option<&Secret>,
) -> TokenSet {
    let lifetime = response
        .expires_in()
        .map(|d| d.as_secs())
        .unwrap_or(fallback);
    let scopes = response
        .scopes()
        .map(|s| s.iter().map(|s| s.to_string()).collect())
        .unwrap_or_else(|| requested_scopes.to_vec());
    let mut extra = serde_json::Map::new();
    if response.expires_in().is_none() {
        extra.insert(
            "expires_in_assumed".to_owned(),
            serde_json::Value::from(fallback),
        );
    }
    TokenSet {
        access_token: Secret::new(response.access_token().secret().clone()),
        token_type: response.token_type().as_ref().to_owned(),
        refresh_token: response
            .refresh_token()
            .map(|r| Secret::new(r.secret().clone()))
            .or_else(|| previous_refresh.cloned()),
        id_token: None,
        expires_at: Some(authhost_plugin_api::expires_after(now, lifetime)),
        scopes,
        extra,
    }
}

/// The host, or an error saying the provider needs one.
pub(crate) fn require_host(host: &Option<Host>) -> Result<&Host, Error> {
    host.as_ref().ok_or_else(|| {
        Error::internal(
            "this provider needs the authhost host for HTTP (it was created in-process)",
        )
    })
}

/// Standard base64 (for HTTP Basic).
pub(crate) fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"alice:s3cret"), "YWxpY2U6czNjcmV0");
    }
}
