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
    /// A hop-by-hop, framing or routing header: it is the transport's or
    /// the proxies', never a credential.
    #[error("the provider may not set `{0}`: it is a hop-by-hop, framing or routing header")]
    Reserved(String),
    /// The tool sets this header itself; credentials never replace it.
    #[error("the provider may not replace header `{0}`, which the tool sets")]
    ToolHeader(String),
}

/// The headers of an outgoing request a signing provider sees: none unless
/// it declares [`Capabilities::SIGNS_HEADERS`](authhost_plugin_api::Capabilities::SIGNS_HEADERS),
/// and never the transport's own (they may change on the way).
pub fn headers_to_sign(
    capabilities: authhost_plugin_api::Capabilities,
    headers: &http::HeaderMap,
) -> Vec<(String, String)> {
    if !capabilities.contains(authhost_plugin_api::Capabilities::SIGNS_HEADERS) {
        return Vec::new();
    }
    headers
        .iter()
        .filter(|(name, _)| !is_reserved_header(name))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect()
}

/// Whether a header belongs to the transport or to proxies (RFC 9110
/// §7.6.1 hop-by-hop fields, message framing, routing and client-address
/// fields): no credential may set one.
pub fn is_reserved_header(name: &HeaderName) -> bool {
    const ROUTING: &[&str] = &[
        "proxy-authorization",
        "host",
        "content-length",
        "expect",
        "forwarded",
        "via",
        "x-real-ip",
        "true-client-ip",
        "x-client-ip",
        "cf-connecting-ip",
    ];
    let name = name.as_str();
    HOP_BY_HOP.contains(&name) || ROUTING.contains(&name) || name.starts_with("x-forwarded-")
}

/// The hop-by-hop fields (RFC 9110 §7.6.1, and the legacy
/// `proxy-connection`): they describe one connection, so neither a
/// credential nor a proxy passes them on.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn sensitive(name: &str, value: &str) -> Result<HeaderValue, ApplyError> {
    let mut v =
        HeaderValue::from_str(value).map_err(|_| ApplyError::HeaderValue(name.to_owned()))?;
    v.set_sensitive(true);
    Ok(v)
}

/// A header a credential may set: a valid name, not reserved, and not one
/// the tool set itself (`tool`: the request's headers before credentials).
fn header_name(name: &str, tool: &HeaderMap) -> Result<HeaderName, ApplyError> {
    let header = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| ApplyError::HeaderName(name.to_owned()))?;
    if is_reserved_header(&header) {
        return Err(ApplyError::Reserved(header.as_str().to_owned()));
    }
    if tool.contains_key(&header) {
        return Err(ApplyError::ToolHeader(header.as_str().to_owned()));
    }
    Ok(header)
}

/// Applies `credentials` to `request`, in order: headers are added (never
/// a reserved header, never one the tool set); query parameters are
/// appended; cookies are added to the `Cookie` header.
///
/// # Errors
///
/// [`ApplyError`] for a header name or value HTTP cannot carry, a reserved
/// header or a header the tool sets; the request is then left without any
/// of the credentials.
pub fn apply(request: &mut PreparedRequest, credentials: &[Credential]) -> Result<(), ApplyError> {
    let tool = &request.headers;
    let mut headers = request.headers.clone();
    let mut url = request.url.clone();
    for credential in credentials {
        match credential {
            Credential::Header { name, value } => {
                headers.insert(header_name(name, tool)?, sensitive(name, value.expose())?);
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
                headers.insert(header_name(name, tool)?, sensitive(name, &value)?);
            }
            Credential::Basic { username, password } => {
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{}", password.expose()));
                headers.insert(
                    header_name("authorization", tool)?,
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

    #[test]
    fn reserved_and_tool_headers_are_never_replaced() {
        for name in [
            "Host",
            "Connection",
            "Transfer-Encoding",
            "Content-Length",
            "X-Forwarded-For",
            "x-forwarded-host",
            "Forwarded",
            "Proxy-Authorization",
        ] {
            let mut r = request();
            let err = apply(
                &mut r,
                &[Credential::Header {
                    name: name.into(),
                    value: Secret::new("v"),
                }],
            )
            .expect_err(name);
            assert!(matches!(err, ApplyError::Reserved(_)), "{name}: {err}");
        }
        let mut r = request();
        r.headers
            .insert("x-user", HeaderValue::from_static("alice"));
        r.headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("tool"),
        );
        for credential in [
            Credential::Header {
                name: "X-User".into(),
                value: Secret::new("bob"),
            },
            Credential::Bearer {
                token: Secret::new("t"),
                scheme: "Bearer".into(),
                header_name: "authorization".into(),
            },
            Credential::Basic {
                username: "u".into(),
                password: Secret::new("p"),
            },
        ] {
            let err = apply(&mut r, std::slice::from_ref(&credential)).expect_err("tool header");
            assert!(matches!(err, ApplyError::ToolHeader(_)), "{err}");
            assert_eq!(r.headers["x-user"], "alice");
            assert_eq!(r.headers["authorization"], "tool");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any header a provider or a user names: either applied without
        /// touching a reserved header or one the tool set, or refused with
        /// the request exactly as it was, and the value never in the error.
        #[test]
        fn credentials_never_reach_reserved_or_tool_headers(
            name in "([a-zA-Z\\-]{1,20}|[Hh]ost|[Xx]-[Ff]orwarded-[a-zA-Z]{1,5}|[Cc]onnection|x-user|[ -~]{1,10})",
            value in "[ -~\\r\\n\\x00]{0,20}",
        ) {
            let mut r = request();
            r.headers.insert("x-user", HeaderValue::from_static("alice"));
            let before = r.clone();
            let result = apply(&mut r, &[Credential::Header { name: name.clone(), value: Secret::new(value.clone()) }]);
            match result {
                Ok(()) => {
                    let header = HeaderName::from_bytes(name.as_bytes()).expect("applied names are valid");
                    proptest::prop_assert!(!is_reserved_header(&header));
                    proptest::prop_assert_eq!(&r.headers["x-user"], "alice");
                }
                Err(e) => {
                    proptest::prop_assert_eq!(r.headers, before.headers);
                    proptest::prop_assert_eq!(r.url, before.url);
                    if value.len() > 3 {
                        proptest::prop_assert!(!e.to_string().contains(&value));
                    }
                }
            }
        }
    }
}
