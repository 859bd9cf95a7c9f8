//! Applying a provider's credentials to an outgoing request. The one place
//! that does it: `call`, and later the server, go through [`apply`].

use base64::Engine as _;
use http::{header::COOKIE, HeaderMap, HeaderName, HeaderValue, Method};

use authhost_plugin_api::Credential;

/// A request ready to send: built from a tool and its arguments, then
/// given credentials.
#[derive(Clone)]
pub struct PreparedRequest {
    /// HTTP method.
    pub method: Method,
    /// Full URL.
    pub url: url::Url,
    /// Headers; credential values are marked sensitive.
    pub headers: HeaderMap,
    /// Body, if any.
    pub body: Option<Vec<u8>>,
    /// The tool's own timeout, if it sets one.
    pub timeout: Option<std::time::Duration>,
}

impl std::fmt::Debug for PreparedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedRequest")
            .field("method", &self.method)
            .field("url", &crate::outbound::loggable_url(&self.url))
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_len", &self.body.as_ref().map(Vec::len))
            .finish()
    }
}

/// A credential that cannot be put in a request. The value is never part
/// of the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The provider named an invalid header.
    #[error("the provider returned an invalid header name `{0}`")]
    HeaderName(String),
    /// The value has characters a header cannot carry (CR, LF, …).
    #[error("the provider returned a value for `{0}` that cannot be sent in a header")]
    HeaderValue(String),
}

fn sensitive(name: &str, value: &str) -> Result<HeaderValue, ApplyError> {
    let mut v =
        HeaderValue::from_str(value).map_err(|_| ApplyError::HeaderValue(name.to_owned()))?;
    v.set_sensitive(true);
    Ok(v)
}

fn header_name(name: &str) -> Result<HeaderName, ApplyError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| ApplyError::HeaderName(name.to_owned()))
}

/// Applies `credentials` to `request`, in order: headers replace any header
/// of the same name the tool set; query parameters are appended; cookies
/// are added to the `Cookie` header.
///
/// # Errors
///
/// [`ApplyError`] for a header name or value HTTP cannot carry; the request
/// is then left without any of the credentials.
pub fn apply(request: &mut PreparedRequest, credentials: &[Credential]) -> Result<(), ApplyError> {
    let mut headers = request.headers.clone();
    let mut url = request.url.clone();
    for credential in credentials {
        match credential {
            Credential::Header { name, value } => {
                headers.insert(header_name(name)?, sensitive(name, value.expose())?);
            }
            Credential::Query { name, value } => {
                url.query_pairs_mut().append_pair(name, value.expose());
            }
            Credential::Cookie { name, value } => {
                let pair = format!("{name}={}", value.expose());
                let joined = match headers.get(COOKIE).and_then(|v| v.to_str().ok()) {
                    Some(existing) if !existing.is_empty() => format!("{existing}; {pair}"),
                    _ => pair,
                };
                headers.insert(COOKIE, sensitive("Cookie", &joined)?);
            }
            Credential::Bearer {
                token,
                scheme,
                header_name: name,
            } => {
                let value = if scheme.is_empty() {
                    token.expose().to_owned()
                } else {
                    format!("{scheme} {}", token.expose())
                };
                headers.insert(header_name(name)?, sensitive(name, &value)?);
            }
            Credential::Basic { username, password } => {
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{}", password.expose()));
                headers.insert(
                    http::header::AUTHORIZATION,
                    sensitive("Authorization", &format!("Basic {encoded}"))?,
                );
            }
        }
    }
    request.headers = headers;
    request.url = url;
    Ok(())
}

#[cfg(test)]
mod tests {
    use authhost_plugin_api::Secret;

    use super::*;

    fn request() -> PreparedRequest {
        PreparedRequest {
            method: Method::GET,
            url: url::Url::parse("https://api.example.com/v1?x=1").expect("url"),
            headers: HeaderMap::new(),
            body: None,
            timeout: None,
        }
    }

    #[test]
    fn every_kind() {
        let mut r = request();
        r.headers.insert(COOKIE, HeaderValue::from_static("a=b"));
        apply(
            &mut r,
            &[
                Credential::Header {
                    name: "X-API-Key".into(),
                    value: Secret::new("k1"),
                },
                Credential::Query {
                    name: "appid".into(),
                    value: Secret::new("q&1"),
                },
                Credential::Cookie {
                    name: "sid".into(),
                    value: Secret::new("c1"),
                },
                Credential::Bearer {
                    token: Secret::new("t1"),
                    scheme: "Token".into(),
                    header_name: "X-Auth".into(),
                },
                Credential::Basic {
                    username: "u".into(),
                    password: Secret::new("p"),
                },
            ],
        )
        .expect("applies");
        assert_eq!(r.headers["x-api-key"], "k1");
        assert!(r.headers["x-api-key"].is_sensitive());
        assert_eq!(r.url.as_str(), "https://api.example.com/v1?x=1&appid=q%261");
        assert_eq!(r.headers[COOKIE], "a=b; sid=c1");
        assert_eq!(r.headers["x-auth"], "Token t1");
        assert_eq!(r.headers["authorization"], "Basic dTpw");
        assert!(!format!("{r:?}").contains("k1"));
        assert!(!format!("{r:?}").contains("appid"));
    }

    #[test]
    fn bad_values_are_refused_whole_and_unprinted() {
        let mut r = request();
        let err = apply(
            &mut r,
            &[
                Credential::Header {
                    name: "X-Ok".into(),
                    value: Secret::new("fine"),
                },
                Credential::Header {
                    name: "X-Bad".into(),
                    value: Secret::new("sentinel\r\nInjected: 1"),
                },
            ],
        )
        .expect_err("crlf");
        assert_eq!(
            err.to_string(),
            "the provider returned a value for `X-Bad` that cannot be sent in a header"
        );
        assert!(r.headers.is_empty(), "nothing half-applied");
    }
}
