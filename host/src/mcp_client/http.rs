//! The HTTP exchanges of MCP authorization (metadata documents, client
//! registration, the token endpoint): sent through the shared outbound
//! client (egress policy, no redirects, size limit) and read as JSON, with
//! an OAuth error body (`error`, `error_description`) reported as such.

use serde::de::DeserializeOwned;

use crate::outbound::{loggable_url, read_limited, Outbound, OutboundError};

/// Sends `request` (built on `outbound`'s client) to `url` and reads a JSON
/// answer of type `T`; a non-2xx status is an error naming the status and,
/// when the body is an OAuth error, its `error` and `error_description`.
///
/// # Errors
///
/// Why no `T` came back, in words for the user (never the request body).
pub async fn send_json<T: DeserializeOwned>(
    outbound: &Outbound,
    url: &url::Url,
    build: impl FnOnce(&reqwest::Client) -> reqwest::RequestBuilder,
) -> Result<T, String> {
    let shown = loggable_url(url);
    let timeout = outbound.request_timeout();
    let transport =
        |e: reqwest::Error| OutboundError::from_reqwest(&shown, timeout, &e).to_string();
    outbound.check_url(url).map_err(|e| e.to_string())?;
    let client = outbound.client().map_err(transport)?;
    let response = build(client)
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(transport)?;
    let status = response.status();
    let body = read_limited(response, outbound.max_response_bytes(), &shown, timeout)
        .await
        .map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!(
            "answered {}{}",
            status.as_u16(),
            oauth_error(&body)
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("answered JSON authhost cannot use: {e}"))
}

/// A GET of a JSON document.
///
/// # Errors
///
/// As [`send_json`].
pub async fn get_json<T: DeserializeOwned>(
    outbound: &Outbound,
    url: &url::Url,
) -> Result<T, String> {
    send_json(outbound, url, |client| client.get(url.clone())).await
}

/// `: error (description)` of an OAuth error body, or nothing.
fn oauth_error(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct OAuthError {
        error: String,
        error_description: Option<String>,
    }
    match serde_json::from_slice::<OAuthError>(body) {
        Ok(e) => format!(
            ": {}{}",
            crate::printable::printable(&e.error),
            e.error_description
                .map(|d| format!(" ({})", crate::printable::printable(&d)))
                .unwrap_or_default()
        ),
        Err(_) => String::new(),
    }
}

/// `text` with every non-empty one of `secrets` replaced by `[redacted]`:
/// what a server echoes of a request never reaches an error.
pub fn redact(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text.to_owned(), |text, secret| {
            text.replace(secret.as_str(), "[redacted]")
        })
}

/// Whether `url` may carry credentials: HTTPS, or plain HTTP to a loopback
/// address (a server on this machine, as in development and tests).
pub fn secure_or_loopback(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_carries_credentials() {
        let ok = |u: &str| secure_or_loopback(&url::Url::parse(u).unwrap());
        assert!(ok("https://as.example/token"));
        assert!(ok("http://127.0.0.1:8080/token"));
        assert!(ok("http://localhost:1/token"));
        assert!(ok("http://[::1]:1/token"));
        assert!(!ok("http://as.example/token"));
        assert!(!ok("http://localhost.evil.example/token"));
        assert!(!ok("ftp://127.0.0.1/token"));
    }

    #[test]
    fn an_oauth_error_body_is_named() {
        assert_eq!(
            oauth_error(br#"{"error":"invalid_client","error_description":"bad"}"#),
            ": invalid_client (bad)"
        );
        assert_eq!(oauth_error(b"<html>"), "");
    }
}
