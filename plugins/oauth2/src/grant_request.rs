//! A token request for a grant the `oauth2` crate does not model
//! (RFC 7523's `jwt-bearer`, RFC 8693's token exchange): the form posted
//! through the host, the answer read as a standard token response, a
//! refusal mapped to a typed error with the server's `error` code only.

use authhost_plugin_api::{token_request, Error, ErrorKind, Host, Secret};
use oauth2::basic::BasicTokenResponse;
use serde::Deserialize;

use crate::common::TokenEndpointAuthMethod;

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
/// `client`'s authentication) and returns the body of a 2xx answer.
pub(crate) async fn post_form(
    host: &Host,
    what: &str,
    url: &str,
    form: Vec<(&str, String)>,
    client: Option<&SecretClient>,
) -> Result<Vec<u8>, Error> {
    let client = client.map(|c| token_request::SecretClient {
        id: c.id.clone(),
        secret: c.secret.clone(),
        in_body: c.method == TokenEndpointAuthMethod::ClientSecretPost,
    });
    token_request::post_form(host, what, url, form, client.as_ref()).await
}
