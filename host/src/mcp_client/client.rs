//! authhost's client identity at an authorization server, chosen in the
//! order MCP 2025-11-25 gives: a pre-registered `client_id`, else the URL
//! of a Client ID Metadata Document when the server supports them, else
//! dynamic client registration (RFC 7591); and how the client
//! authenticates at the token endpoint.

use std::sync::Arc;

use authhost_plugin_api::{
    client_registration::{self, RegisteredAuth},
    Secret,
};
use serde_json::json;

use super::{authorization_server::AuthorizationServer, http::send_json};
use crate::outbound::Outbound;

/// What the user configured about the client.
#[derive(Debug, Clone, Default)]
pub struct ClientSettings {
    /// A `client_id` registered with the authorization server beforehand.
    pub client_id: Option<String>,
    /// Its secret, for `client_secret_basic` / `client_secret_post`.
    pub client_secret: Option<Secret>,
    /// Its private key (PEM), for `private_key_jwt`.
    pub private_key: Option<Secret>,
    /// The HTTPS URL where authhost's Client ID Metadata Document is
    /// published, used as the `client_id` where servers support that.
    pub metadata_document: Option<url::Url>,
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// A public client: `client_id` in the form only.
    None,
    /// `client_secret_basic`.
    Basic(Secret),
    /// `client_secret_post`.
    Post(Secret),
    /// `private_key_jwt` (RFC 7523 §2.2).
    PrivateKeyJwt(Arc<AssertionKey>),
}

/// Where the client identity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Configured by the user.
    PreRegistered,
    /// A Client ID Metadata Document URL.
    MetadataDocument,
    /// Registered dynamically just now.
    Registered,
}

/// A client identity at one authorization server.
#[derive(Debug, Clone)]
pub struct Client {
    /// The `client_id`.
    pub id: String,
    /// Token endpoint authentication.
    pub auth: ClientAuth,
    /// Where the identity came from.
    pub origin: Origin,
}

/// A private key that signs client assertions.
pub struct AssertionKey {
    key: jsonwebtoken::EncodingKey,
    algorithm: jsonwebtoken::Algorithm,
}

impl std::fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssertionKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl AssertionKey {
    /// Reads a PEM private key: EC P-256 signs ES256, RSA signs RS256.
    ///
    /// # Errors
    ///
    /// The PEM is neither key kind (the key is never repeated).
    pub fn from_pem(pem: &Secret) -> Result<Self, String> {
        let bytes = pem.expose().as_bytes();
        if let Ok(key) = jsonwebtoken::EncodingKey::from_ec_pem(bytes) {
            return Ok(Self {
                key,
                algorithm: jsonwebtoken::Algorithm::ES256,
            });
        }
        if let Ok(key) = jsonwebtoken::EncodingKey::from_rsa_pem(bytes) {
            return Ok(Self {
                key,
                algorithm: jsonwebtoken::Algorithm::RS256,
            });
        }
        Err("the private key is not a PEM EC (P-256) or RSA private key".to_owned())
    }

    /// The JOSE name of the signing algorithm.
    pub fn algorithm_name(&self) -> &'static str {
        match self.algorithm {
            jsonwebtoken::Algorithm::ES256 => "ES256",
            _ => "RS256",
        }
    }

    /// A fresh assertion for `audience` (the issuer), valid 60 s, with
    /// `iss` = `sub` = the client id and a random `jti`.
    ///
    /// # Errors
    ///
    /// Signing failed.
    pub fn sign(&self, client_id: &str, audience: &str) -> Result<String, String> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": now,
            "exp": now + 60,
            "jti": crate::connect::random_token(),
        });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(self.algorithm),
            &claims,
            &self.key,
        )
        .map_err(|_| "signing the client assertion failed".to_owned())
    }
}

/// The client identity to use at `server`. `redirect_uri` is where the
/// browser comes back (for registration); `grant_types` what the client
/// will use.
///
/// # Errors
///
/// No identity is possible (with what the user can configure), the key
/// does not fit, or registration failed.
pub async fn identify(
    outbound: &Outbound,
    server: &AuthorizationServer,
    settings: &ClientSettings,
    redirect_uri: Option<&url::Url>,
    grant_types: &[&str],
) -> Result<Client, String> {
    let methods = server.auth_methods();
    if let Some(id) = &settings.client_id {
        return Ok(Client {
            id: id.clone(),
            auth: pre_registered_auth(settings, server, &methods)?,
            origin: Origin::PreRegistered,
        });
    }
    if let Some(url) = &settings.metadata_document {
        if server.client_id_metadata_document_supported && methods.contains(&"none") {
            return Ok(Client {
                id: url.to_string(),
                auth: ClientAuth::None,
                origin: Origin::MetadataDocument,
            });
        }
    }
    let Some(endpoint) = &server.registration_endpoint else {
        return Err(format!(
            "the authorization server {} offers no dynamic client registration{}: register authhost there and pass its client id (--client-id)",
            server.issuer,
            if server.client_id_metadata_document_supported { " (it accepts Client ID Metadata Documents: --client-metadata-url)" } else { "" }
        ));
    };
    let asked = client_registration::method_to_ask(&methods).ok_or_else(|| {
        format!(
            "the authorization server {} accepts only {} at its token endpoint, which needs a pre-registered client (--client-id)",
            server.issuer,
            methods.join(", ")
        )
    })?;
    let body = client_registration::request(redirect_uri.map(url::Url::as_str), grant_types, asked);
    let registered: client_registration::Registered =
        send_json(outbound, endpoint, |http_client| {
            http_client
                .post(endpoint.clone())
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.to_string())
        })
        .await
        .map_err(|why| format!("registering at {} failed: it {why}", server.issuer))?;
    let auth = match registered.auth(&methods)? {
        RegisteredAuth::None => ClientAuth::None,
        RegisteredAuth::Basic(secret) => ClientAuth::Basic(secret),
        RegisteredAuth::Post(secret) => ClientAuth::Post(secret),
    };
    Ok(Client {
        id: registered.client_id,
        auth,
        origin: Origin::Registered,
    })
}

/// How a pre-registered client authenticates: with its key, its secret (as
/// the server accepts it) or as a public client.
fn pre_registered_auth(
    settings: &ClientSettings,
    server: &AuthorizationServer,
    methods: &[&str],
) -> Result<ClientAuth, String> {
    let refuse = |what: &str| {
        format!(
            "the authorization server {} does not accept {what} at its token endpoint (it accepts {})",
            server.issuer,
            methods.join(", ")
        )
    };
    if let Some(pem) = &settings.private_key {
        if !methods.contains(&"private_key_jwt") {
            return Err(refuse("private_key_jwt"));
        }
        let key = AssertionKey::from_pem(pem)?;
        let algorithms = &server.token_endpoint_auth_signing_alg_values_supported;
        if !algorithms.is_empty() && !algorithms.iter().any(|a| a == key.algorithm_name()) {
            return Err(format!(
                "the authorization server {} accepts assertions signed with {}, not {}",
                server.issuer,
                algorithms.join(", "),
                key.algorithm_name()
            ));
        }
        return Ok(ClientAuth::PrivateKeyJwt(Arc::new(key)));
    }
    if let Some(secret) = &settings.client_secret {
        return if methods.contains(&"client_secret_basic") {
            Ok(ClientAuth::Basic(secret.clone()))
        } else if methods.contains(&"client_secret_post") {
            Ok(ClientAuth::Post(secret.clone()))
        } else {
            Err(refuse("a client secret"))
        };
    }
    // A public client: many servers accept one without listing `none`.
    Ok(ClientAuth::None)
}
