//! Inputs to provider operations: who the call is for and what it is.

use abi_stable::std_types::{RBox, RString};

use crate::{
    abi,
    convert::{opt, ropt, rsecret, secret, string},
    Secret, TokenSet,
};

/// The outgoing request credentials are for (signing providers use it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRequest {
    /// HTTP method.
    pub method: String,
    /// Full URL before credentials are applied.
    pub url: String,
    /// Hex SHA-256 of the body, if any.
    pub body_sha256: Option<String>,
    /// The request's headers (lowercase names), for providers that declare
    /// [`Capabilities::SIGNS_HEADERS`](crate::Capabilities::SIGNS_HEADERS);
    /// empty otherwise.
    pub headers: Vec<(String, String)>,
}

/// The `token_type` of the token set that carries a request's headers
/// through the 0.y ABI (see [`Capabilities::SIGNS_HEADERS`](crate::Capabilities::SIGNS_HEADERS)).
const REQUEST_HEADERS: &str = "request_headers";

/// Input to [`AuthProvider::authenticate`](crate::AuthProvider::authenticate).
#[derive(Debug, Clone, Default)]
pub struct AuthContext {
    /// The end user the call is made for.
    pub user_id: String,
    /// The user's stored tokens, if the host has them.
    pub tokens: Option<TokenSet>,
    /// The outgoing request, when known.
    pub request: Option<OutgoingRequest>,
}

impl AuthContext {
    /// A context for `user_id` with no tokens and no request.
    pub fn for_user(user_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            ..Self::default()
        }
    }
}

impl From<&AuthContext> for abi::AuthContext {
    fn from(c: &AuthContext) -> Self {
        // Request headers ride in the (otherwise empty) token set.
        let carried = match (&c.tokens, &c.request) {
            (None, Some(request)) if !request.headers.is_empty() => Some(TokenSet {
                access_token: Secret::new(""),
                token_type: REQUEST_HEADERS.to_owned(),
                refresh_token: None,
                id_token: None,
                expires_at: None,
                scopes: Vec::new(),
                extra: request
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
                    .collect(),
            }),
            _ => None,
        };
        abi::AuthContext {
            user_id: RString::from(c.user_id.as_str()),
            tokens: ropt(carried.as_ref().or(c.tokens.as_ref()), |t| {
                RBox::new(abi::TokenSet::from(t))
            }),
            request: ropt(c.request.as_ref(), |r| abi::OutgoingRequest {
                method: RString::from(r.method.as_str()),
                url: RString::from(r.url.as_str()),
                body_sha256: ropt(r.body_sha256.as_deref(), RString::from),
            }),
        }
    }
}

impl From<abi::AuthContext> for AuthContext {
    fn from(c: abi::AuthContext) -> Self {
        let mut tokens = opt(c.tokens, |t| TokenSet::from(RBox::into_inner(t)));
        let headers = match tokens.take_if(|t| t.token_type == REQUEST_HEADERS) {
            Some(carrier) => carrier
                .extra
                .into_iter()
                .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
                .collect(),
            None => Vec::new(),
        };
        AuthContext {
            user_id: string(c.user_id),
            tokens,
            request: opt(c.request, |r| OutgoingRequest {
                method: string(r.method),
                url: string(r.url),
                body_sha256: opt(r.body_sha256, string),
                headers,
            }),
        }
    }
}

/// Input to [`AuthProvider::authorization_url`](crate::AuthProvider::authorization_url).
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    /// The user who starts the flow.
    pub user_id: String,
    /// The `state` the host generated; put it in the URL unchanged.
    pub state: Secret,
    /// The PKCE S256 challenge, if the host uses PKCE.
    pub pkce_challenge: Option<String>,
}

impl From<&AuthorizationRequest> for abi::AuthorizationRequest {
    fn from(r: &AuthorizationRequest) -> Self {
        abi::AuthorizationRequest {
            user_id: RString::from(r.user_id.as_str()),
            state: rsecret(&r.state),
            pkce_challenge: ropt(r.pkce_challenge.as_deref(), RString::from),
        }
    }
}

impl From<abi::AuthorizationRequest> for AuthorizationRequest {
    fn from(r: abi::AuthorizationRequest) -> Self {
        AuthorizationRequest {
            user_id: string(r.user_id),
            state: secret(&r.state),
            pkce_challenge: opt(r.pkce_challenge, string),
        }
    }
}

/// Input to [`AuthProvider::exchange_code`](crate::AuthProvider::exchange_code).
#[derive(Debug)]
pub struct CodeExchange {
    /// The user who started the flow.
    pub user_id: String,
    /// The authorization code.
    pub code: Secret,
    /// The PKCE verifier the host kept.
    pub pkce_verifier: Option<Secret>,
    /// The `iss` of the redirect (RFC 9207), if the server sent one.
    pub issuer: Option<String>,
}

impl From<&CodeExchange> for abi::CodeExchange {
    fn from(e: &CodeExchange) -> Self {
        abi::CodeExchange {
            user_id: RString::from(e.user_id.as_str()),
            code: rsecret(&e.code),
            pkce_verifier: ropt(e.pkce_verifier.as_ref(), rsecret),
            issuer: ropt(e.issuer.as_deref(), RString::from),
        }
    }
}

impl From<abi::CodeExchange> for CodeExchange {
    fn from(e: abi::CodeExchange) -> Self {
        CodeExchange {
            user_id: string(e.user_id),
            code: secret(&e.code),
            pkce_verifier: opt(e.pkce_verifier, |s| secret(&s)),
            issuer: opt(e.issuer, string),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Request headers cross the 0.y ABI inside a marked token set and come
    /// out as `request.headers`, the token set gone; real tokens pass as
    /// they are.
    #[test]
    fn request_headers_round_trip_through_the_abi() {
        let ctx = AuthContext {
            user_id: "alice".into(),
            tokens: None,
            request: Some(OutgoingRequest {
                method: "PUT".into(),
                url: "https://api.example.com/x".into(),
                body_sha256: None,
                headers: vec![("content-type".into(), "application/json".into())],
            }),
        };
        let back = AuthContext::from(abi::AuthContext::from(&ctx));
        assert!(back.tokens.is_none());
        assert_eq!(
            back.request.expect("request").headers,
            ctx.request.expect("request").headers
        );

        let with_tokens = AuthContext {
            tokens: Some(TokenSet {
                access_token: Secret::new("t"),
                token_type: "Bearer".into(),
                refresh_token: None,
                id_token: None,
                expires_at: None,
                scopes: vec![],
                extra: serde_json::Map::new(),
            }),
            ..AuthContext::for_user("bob")
        };
        let back = AuthContext::from(abi::AuthContext::from(&with_tokens));
        assert_eq!(back.tokens.expect("tokens").access_token.expose(), "t");
    }
}
