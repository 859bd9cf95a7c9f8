//! A token request for a grant the `oauth2` crate does not model
//! (RFC 7523's `jwt-bearer`, RFC 8693's token exchange): the form posted
//! through the host, the answer read as a standard token response, a
//! refusal mapped to a typed error with the server's `error` code only.

use authhost_plugin_api::{Error, ErrorKind, Host, HttpRequest, Secret};
use oauth2::basic::BasicTokenResponse;
use serde::Deserialize;

use crate::common::{self, TokenEndpointAuthMethod};

/// A client authenticating at the token endpoint with a secret.
#[derive(Debug)]
pub(crate) struct SecretClient {
    /// The client id.
    pub(crate) id: String,
    /// The client secret.
    pub(crate) secret: Secret,
    /// `client_secret_basic` or `client_secret_post`.
    pub(crate) method: TokenEndpointAuthMethod,
}

/// The token response's fields the `oauth2` crate's type leaves out.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct IssuedTokenType {
    /// RFC 8693 §2.2.1.
    pub(crate) issued_token_type: Option<String>,
}

/// Posts `form` to `token_url` (with `client`'s authentication) and reads
/// the token response; `what` names the request in errors.
pub(crate) async fn post(
    host: &Host,
    what: &str,
    token_url: &str,
    form: Vec<(&str, String)>,
    client: Option<&SecretClient>,
) -> Result<(BasicTokenResponse, IssuedTokenType), Error> {
    let body = post_form(host, what, token_url, form, client).await?;
    let parsed = serde_json::from_slice::<BasicTokenResponse>(&body).map_err(|_| {
        Error::new(
            ErrorKind::Upstream,
            format!("{what}: the authorization server's answer is not a valid token response"),
        )
    })?;
    let issued = serde_json::from_slice::<IssuedTokenType>(&body).unwrap_or_default();
    Ok((parsed, issued))
}

/// Posts `form` to an endpoint of the authorization server (with
/// `client`'s authentication) and returns the body of a 2xx answer; a
/// refusal is an error with the server's `error` code only (also when it
/// comes with status 200).
pub(crate) async fn post_form(
    host: &Host,
    what: &str,
    url: &str,
    mut form: Vec<(&str, String)>,
    client: Option<&SecretClient>,
) -> Result<Vec<u8>, Error> {
    let mut request = HttpRequest::new("POST", url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json");
    if let Some(client) = client {
        match client.method {
            TokenEndpointAuthMethod::ClientSecretPost => {
                form.push(("client_id", client.id.clone()));
                form.push(("client_secret", client.secret.expose().to_owned()));
            }
            _ => {
                // RFC 6749 §2.3.1: each part form-encoded, then Basic.
                let encode = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                let pair = format!("{}:{}", encode(&client.id), encode(client.secret.expose()));
                request = request.header(
                    "authorization",
                    format!("Basic {}", common::base64(pair.as_bytes())),
                );
            }
        }
    }
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    let response = host.http(request.body(body)).await?;
    if response.status >= 500 {
        return Err(Error::new(
            ErrorKind::Upstream,
            format!(
                "{what}: the authorization server answered {}",
                response.status
            ),
        ));
    }
    let json = serde_json::from_slice::<serde_json::Value>(&response.body).ok();
    let code = json
        .as_ref()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    if (200..300).contains(&response.status) && code.is_none() {
        return Ok(response.body);
    }
    let Some(code) = code else {
        return Err(Error::new(
            ErrorKind::Upstream,
            format!(
                "{what}: the authorization server answered {}",
                response.status
            ),
        ));
    };
    let kind = match code.as_str() {
        "invalid_grant" => ErrorKind::InvalidGrant,
        "invalid_client" | "unauthorized_client" => ErrorKind::InvalidClient,
        _ => ErrorKind::InvalidRequest,
    };
    Err(Error::new(
        kind,
        format!("{what} was refused by the authorization server"),
    )
    .with_oauth_error(code))
}
