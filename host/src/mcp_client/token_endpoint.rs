//! Token requests to an authorization server (OAuth 2.1 §3.2): the grant's
//! form plus `resource` (RFC 8707), the client authenticated as it
//! registered (`none`, `client_secret_basic`, `client_secret_post`,
//! `private_key_jwt`), and the answer read into a [`Token`].

use authhost_plugin_api::Secret;
use base64::Engine;
use serde::Deserialize;

use super::{
    authorization_server::AuthorizationServer,
    client::{Client, ClientAuth},
    http::{redact, send_json},
};
use crate::outbound::Outbound;

/// The assertion type of RFC 7523 §2.2.
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An access token and what came with it.
#[derive(Debug, Clone)]
pub struct Token {
    /// The access token.
    pub access: Secret,
    /// The refresh token, when one was issued.
    pub refresh: Option<Secret>,
    /// When the access token expires (Unix seconds), when known.
    pub expires_at: Option<i64>,
    /// The scopes granted (those asked for, when the answer does not say).
    pub scopes: Vec<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Secret,
    token_type: String,
    expires_in: Option<i64>,
    refresh_token: Option<Secret>,
    scope: Option<String>,
}

/// Sends a token request with `form` (the grant's parameters) from
/// `client`; `asked` are the scopes requested, assumed granted when the
/// answer names none.
///
/// # Errors
///
/// Why no token came back (status, OAuth error), never a secret.
pub async fn request(
    outbound: &Outbound,
    server: &AuthorizationServer,
    client: &Client,
    mut form: Vec<(&'static str, String)>,
    asked: &[String],
) -> Result<Token, String> {
    let mut basic = None;
    match &client.auth {
        ClientAuth::None => form.push(("client_id", client.id.clone())),
        ClientAuth::Basic(secret) => {
            // RFC 6749 §2.3.1: each part form-encoded, then Base64.
            let encode =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", encode(&client.id), encode(secret.expose()));
            basic = Some(Secret::new(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )));
        }
        ClientAuth::Post(secret) => {
            form.push(("client_id", client.id.clone()));
            form.push(("client_secret", secret.expose().to_owned()));
        }
        ClientAuth::PrivateKeyJwt(key) => {
            form.push(("client_id", client.id.clone()));
            form.push(("client_assertion_type", ASSERTION_TYPE.to_owned()));
            form.push(("client_assertion", key.sign(&client.id, &server.issuer)?));
        }
    }
    let endpoint = &server.token_endpoint;
    // What the request carries that must never come back in an error.
    let mut secrets: Vec<String> = form
        .iter()
        .filter(|(k, _)| {
            matches!(
                *k,
                "client_secret" | "code" | "code_verifier" | "refresh_token" | "client_assertion"
            )
        })
        .map(|(_, v)| v.clone())
        .collect();
    if let ClientAuth::Basic(secret) = &client.auth {
        secrets.push(secret.expose().to_owned());
    }
    secrets.extend(
        basic
            .as_ref()
            .map(|b| b.expose().trim_start_matches("Basic ").to_owned()),
    );
    let response: TokenResponse = send_json(outbound, endpoint, |http_client| {
        let request = http_client.post(endpoint.clone()).form(&form);
        match &basic {
            Some(value) => request.header(http::header::AUTHORIZATION, value.expose()),
            None => request,
        }
    })
    .await
    .map_err(|why| redact(&format!("the token endpoint {why}"), &secrets))?;
    if !response.token_type.eq_ignore_ascii_case("bearer") {
        return Err(format!(
            "the token endpoint issued a `{}` token; authhost uses Bearer tokens",
            crate::printable::printable(&response.token_type)
        ));
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Ok(Token {
        access: response.access_token,
        refresh: response.refresh_token,
        expires_at: response.expires_in.map(|s| now + s.max(0)),
        scopes: match response.scope {
            Some(scope) => scope.split_whitespace().map(str::to_owned).collect(),
            None => asked.to_vec(),
        },
    })
}

/// `scope` for a form, when there are scopes to ask for.
pub fn scope_param(scopes: &[String]) -> Option<(&'static str, String)> {
    (!scopes.is_empty()).then(|| ("scope", scopes.join(" ")))
}
