//! Posting a form to an OAuth endpoint through the host (enable the
//! `token-request` feature): the client authenticated with its secret as
//! the server wants, a refusal turned into an [`Error`] carrying the
//! server's `error` code only (also when it comes with status 200, as
//! GitHub and Slack send it), never the server's text.

use base64::Engine as _;

use crate::{Error, ErrorKind, Host, HttpRequest, Secret};

/// A client authenticating with a secret (RFC 6749 §2.3.1).
#[derive(Debug, Clone)]
pub struct SecretClient {
    /// The client id.
    pub id: String,
    /// The client secret.
    pub secret: Secret,
    /// `true`: in the form body (`client_secret_post`); `false`: HTTP
    /// Basic (`client_secret_basic`).
    pub in_body: bool,
}

/// Posts `form` to `url` (with `client`'s authentication, if any) and
/// returns the body of a 2xx answer; `what` names the request in errors.
///
/// # Errors
///
/// The host's HTTP failure; `Upstream` for a 5xx or an answer that is not
/// OAuth; otherwise the server's refusal, with its `error` code
/// ([`Error::oauth_error`]) and a kind from it (`invalid_grant`,
/// `invalid_client`, else `InvalidRequest`).
pub async fn post_form(
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
        if client.in_body {
            form.push(("client_id", client.id.clone()));
            form.push(("client_secret", client.secret.expose().to_owned()));
        } else {
            // RFC 6749 §2.3.1: each part form-encoded, then Basic.
            let pair = format!(
                "{}:{}",
                form_encode(&client.id),
                form_encode(client.secret.expose())
            );
            request = request.header(
                "authorization",
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ),
            );
        }
    }
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
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
    let code = serde_json::from_slice::<serde_json::Value>(&response.body)
        .ok()
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

/// `application/x-www-form-urlencoded` encoding of one name or value.
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_encoding_matches_the_whatwg_serializer() {
        assert_eq!(
            super::form_encode("a b&c=d/é*~"),
            "a+b%26c%3Dd%2F%C3%A9*%7E"
        );
    }
}
