//! The test authorization server's assertion grants: RFC 7523's JWT
//! bearer grant (a service account's signed assertion, RS256 or ES256,
//! checked as §3 says: signature, `iss`, `sub`, `aud`, `exp`, lifetime,
//! `jti` replay), RFC 8693 token exchange (`subject_token` and its type
//! checked) and Entra's on-behalf-of variant (`jwt-bearer` with
//! `requested_token_use=on_behalf_of`). Subject tokens are this server's
//! own access tokens, opaque or RS256 JWTs it signed.

use std::collections::HashMap;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};

use super::oauth_server::{as_jwt, issue, oauth_error, Inner};

/// `grant_type` of RFC 7523 §2.1.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// `grant_type` of RFC 8693.
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/keys")
            .join(name),
    )
    .expect("key fixture")
}

/// RFC 7523 §2.1 and §3: the assertion's claims, or the reason it is refused.
fn verify_assertion(
    inner: &mut Inner,
    base: &str,
    assertion: &str,
) -> Result<serde_json::Value, &'static str> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| "not a JWT")?;
    let key = match header.alg {
        jsonwebtoken::Algorithm::RS256 => {
            jsonwebtoken::DecodingKey::from_rsa_pem(&fixture("rsa-public.pem"))
        }
        jsonwebtoken::Algorithm::ES256 => {
            jsonwebtoken::DecodingKey::from_ec_pem(&fixture("ec-public.pem"))
        }
        _ => return Err("algorithm not accepted"),
    }
    .map_err(|_| "key")?;
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[format!("{base}/token")]);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(assertion, &key, &validation)
        .map_err(|_| "signature or claims invalid")?
        .claims;
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap_or(0),
        claims["exp"].as_i64().unwrap_or(0),
    );
    if exp - iat > 3600 {
        return Err("lifetime over an hour");
    }
    let jti = claims["jti"].as_str().ok_or("no jti")?.to_owned();
    if !inner.assertion_ids.insert(jti) {
        return Err("jti replayed");
    }
    Ok(claims)
}

/// The user a subject token (an access token this server issued) stands for.
fn subject_of(inner: &Inner, base: &str, token: &str, token_type: &str) -> Option<String> {
    if token_type == ACCESS_TOKEN_TYPE {
        if let Some((user, _)) = inner.access_tokens.get(token) {
            return Some(user.clone());
        }
    }
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(&fixture("rsa-public.pem")).ok()?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[base]);
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .ok()?
        .claims;
    claims["sub"].as_str().map(str::to_owned)
}

fn answer(inner: &mut Inner, user: &str, scope: &str, issued_type: Option<&str>) -> Response {
    let mut body = issue(inner, user, None, scope);
    if let Some(o) = body.as_object_mut() {
        o.remove("refresh_token");
        if let Some(issued_type) = issued_type {
            o.insert("issued_token_type".into(), issued_type.into());
        }
    }
    Json(body).into_response()
}

/// The JWT bearer grant (client authentication optional, RFC 7523 §3.1);
/// `client` is the authenticated client, if one authenticated.
pub fn jwt_bearer(inner: &mut Inner, base: &str, form: &HashMap<String, String>) -> Response {
    let Some(assertion) = form.get("assertion") else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let claims = match verify_assertion(inner, base, assertion) {
        Ok(claims) => claims,
        Err(why) => {
            inner.refused_assertions.push(why.to_owned());
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
        }
    };
    let scope = form
        .get("scope")
        .cloned()
        .or_else(|| claims["scope"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let subject = claims["sub"].as_str().unwrap_or_default().to_owned();
    inner.assertions.push(claims);
    answer(inner, &subject, &scope, None)
}

/// RFC 8693 token exchange, and Entra's on-behalf-of (`form` with
/// `requested_token_use=on_behalf_of`); `client` authenticated.
pub fn exchange(
    inner: &mut Inner,
    base: &str,
    client: &str,
    form: &HashMap<String, String>,
) -> Response {
    let on_behalf_of = form.get("requested_token_use").map(String::as_str) == Some("on_behalf_of");
    let (token, token_type) = if on_behalf_of {
        (form.get("assertion"), Some(&JWT_TYPE.to_owned()).cloned())
    } else {
        (
            form.get("subject_token"),
            form.get("subject_token_type").cloned(),
        )
    };
    let (Some(token), Some(token_type)) = (token, token_type) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    if ![ACCESS_TOKEN_TYPE, JWT_TYPE].contains(&token_type.as_str()) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let Some(user) = subject_of(inner, base, token, &token_type) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let mut recorded: HashMap<String, String> = form
        .iter()
        .filter(|(k, _)| !["subject_token", "assertion", "client_secret"].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    recorded.insert("client".into(), client.to_owned());
    recorded.insert("subject".into(), user.clone());
    inner.exchanges.push(recorded);
    let scope = form.get("scope").cloned().unwrap_or_default();
    let subject = format!("{user} via {client}");
    if !inner.jwt_access_tokens {
        return answer(
            inner,
            &subject,
            &scope,
            (!on_behalf_of).then_some(ACCESS_TOKEN_TYPE),
        );
    }
    // As a JWT for the requested resource, as a resource server expects.
    let mut body = issue(inner, &subject, None, &scope);
    as_jwt(inner, base, form, &subject, &mut body);
    if let Some(o) = body.as_object_mut() {
        o.remove("refresh_token");
        if !on_behalf_of {
            o.insert("issued_token_type".into(), ACCESS_TOKEN_TYPE.into());
        }
    }
    Json(body).into_response()
}
