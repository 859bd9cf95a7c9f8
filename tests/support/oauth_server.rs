//! A real OAuth 2 authorization server on 127.0.0.1 for the tests:
//! authorization code with PKCE (S256), client credentials (basic and post),
//! refresh with rotation and reuse detection (presenting a rotated refresh
//! token revokes its whole family), revocation (RFC 7009), discovery
//! (RFC 8414), `iss` on redirects (RFC 9207), dynamic client registration
//! (RFC 7591), the assertion grants of [`super::assertion_grants`], the
//! device grant of [`super::device_grant`], a
//! configurable token lifetime, and counters of
//! token-endpoint calls by grant type. `/api/me` is a
//! resource that accepts only live access tokens.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Bytes,
    extract::{Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Json, Router,
};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::{assertion_grants, device_grant};

/// Test knobs and recorded state.
#[derive(Default)]
pub struct Inner {
    /// `expires_in` of new access tokens; `None` omits it.
    pub lifetime: Option<u64>,
    /// Send `iss` on redirects (and say so in the metadata).
    pub send_iss: bool,
    /// Send this `iss` instead of the real issuer.
    pub wrong_iss: Option<String>,
    /// Deny every authorization with `error=access_denied` and a hostile description.
    pub deny: bool,
    /// Delay before a refresh is processed (widens races; a client killed
    /// during the delay leaves the grant untouched).
    pub refresh_delay: Duration,
    /// Answer refreshes with this status (e.g. 503).
    pub refresh_status: Option<u16>,
    /// Keep refresh tokens instead of rotating them (the answer to a
    /// refresh carries no new one, RFC 6749 §6).
    pub keep_refresh_token: bool,
    /// Token-endpoint calls by grant type.
    pub calls: HashMap<String, usize>,
    /// Revocation calls.
    pub revocations: usize,
    /// Families revoked because a rotated refresh token was presented again.
    pub reuse_detected: usize,
    /// Fetches of `/.well-known/jwks.json` (the test RSA key, kid `test-rsa-1`).
    pub jwks_fetches: usize,
    /// Delay of the answer to a refresh, after the refresh token was rotated
    /// (a slow server that did the work: a client that gives up loses it).
    pub refresh_respond_delay: Duration,
    /// Calls of `/api/me` with an access token past its `expires_in`
    /// (refused with 401).
    pub expired_presented: usize,
    /// Calls of `/api/me`.
    pub me_calls: usize,
    /// Issue access tokens as RS256 JWTs (kid `test-rsa-1`, `iss` the base
    /// URL, `aud` the request's `resource`), as a resource server that
    /// validates with the JWKS expects.
    pub jwt_access_tokens: bool,
    /// The `resource` parameters of authorization and token requests, in
    /// order (RFC 8707).
    pub resources: Vec<String>,
    /// Calls of `/api/me` with an access token of a revoked grant (refused).
    pub revoked_presented: usize,
    /// `token_endpoint_auth_methods_supported` to advertise (none: omitted,
    /// so RFC 8414's default `client_secret_basic` holds).
    pub auth_methods: Option<Vec<String>>,
    /// Clients registered at `/register` (RFC 7591).
    pub registered: Vec<RegisteredClient>,
    /// Answer as Slack does: scopes from `user_scope` (comma-separated),
    /// the user's token nested under `authed_user` beside a bot token, and
    /// errors with status 200 (`{"ok": false, "error": …}`).
    pub slack_style: bool,
    /// The `interval` of new device authorizations (RFC 8628), seconds.
    pub device_interval: u64,
    /// Answer the next device code poll with `slow_down`.
    pub slow_down_once: bool,
    /// Every device code poll, in order.
    pub device_polls: Vec<device_grant::Poll>,
    pub(super) device_grants: HashMap<String, device_grant::DeviceGrant>,
    /// Refuse every authorization code with `invalid_grant`.
    pub refuse_codes: bool,
    /// Accept client secrets only in HTTP Basic (as Notion does).
    pub basic_only: bool,
    /// Claims of the JWT bearer assertions accepted (RFC 7523).
    pub assertions: Vec<serde_json::Value>,
    /// Why JWT bearer assertions were refused.
    pub refused_assertions: Vec<String>,
    /// Token exchanges and on-behalf-of requests: their form (tokens and
    /// secrets left out), the `client` and the `subject` found.
    pub exchanges: Vec<HashMap<String, String>>,
    pub(super) assertion_ids: HashSet<String>,
    /// When each access token issued with a lifetime expires.
    expiries: HashMap<String, std::time::Instant>,
    codes: HashMap<String, CodeGrant>,
    refresh_tokens: HashMap<String, RefreshGrant>,
    pub(super) access_tokens: HashMap<String, (String, u64)>,
    revoked_families: HashSet<u64>,
    next_family: u64,
    pub(super) counter: u64,
}

/// A client registered at `/register`.
#[derive(Clone, Debug)]
pub struct RegisteredClient {
    /// Its id.
    pub id: String,
    /// Its secret; empty for a public client.
    pub secret: String,
    /// Its redirect URIs.
    pub redirect_uris: Vec<String>,
}

struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    challenge: Option<String>,
    user: String,
    scope: String,
}

struct RefreshGrant {
    user: String,
    family: u64,
    active: bool,
    scope: String,
}

/// A running authorization server.
#[derive(Clone)]
pub struct AuthServer {
    /// `http://127.0.0.1:PORT`, also the issuer.
    pub base: String,
    /// Knobs and counters.
    pub inner: Arc<Mutex<Inner>>,
}

/// The client that authenticates with an RFC 7523 assertion signed by the
/// test RSA key (`tests/fixtures/keys/rsa-private.pem`).
pub const JWT_CLIENT: &str = "jwt-client";

/// The registered clients: (id, secret); `public-app` has no secret.
pub const CLIENTS: &[(&str, &str)] = &[("authhost-test", "test-secret"), ("public-app", "")];

impl Inner {
    /// Every access and refresh token issued so far (for leak sweeps).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.access_tokens
            .keys()
            .chain(self.refresh_tokens.keys())
            .cloned()
            .collect()
    }
}

impl AuthServer {
    /// Token-endpoint calls with `grant_type`.
    pub fn calls(&self, grant_type: &str) -> usize {
        self.inner
            .lock()
            .expect("lock")
            .calls
            .get(grant_type)
            .copied()
            .unwrap_or(0)
    }

    /// Forgets every access token issued so far (refresh tokens stay
    /// valid): the resource then refuses tokens the client believes valid.
    pub fn forget_access_tokens(&self) {
        let mut inner = self.inner.lock().expect("lock");
        inner.access_tokens.clear();
        inner.expiries.clear();
    }

    /// Revokes every grant issued so far (refresh and access tokens).
    pub fn revoke_all(&self) {
        let mut inner = self.inner.lock().expect("lock");
        let families: Vec<u64> = inner.refresh_tokens.values().map(|g| g.family).collect();
        inner.revoked_families.extend(families);
    }

    /// A grant for `user` issued without a browser (as a finished code
    /// exchange would): its access and refresh tokens, for seeding stores.
    pub fn mint(&self, user: &str) -> (String, String) {
        let mut inner = self.inner.lock().expect("lock");
        let body = issue(&mut inner, user, None, "repo");
        let field = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
        (field("access_token"), field("refresh_token"))
    }

    /// Changes knobs.
    pub fn set(&self, f: impl FnOnce(&mut Inner)) {
        f(&mut self.inner.lock().expect("lock"));
    }

    /// Reads state.
    pub fn get<T>(&self, f: impl FnOnce(&Inner) -> T) -> T {
        f(&self.inner.lock().expect("lock"))
    }
}

#[derive(Clone)]
pub(super) struct AppState {
    pub(super) base: String,
    pub(super) inner: Arc<Mutex<Inner>>,
}

fn random(inner: &mut Inner, prefix: &str) -> String {
    inner.counter += 1;
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).expect("random");
    format!("{prefix}-{}-{}", inner.counter, hex::encode(bytes))
}

pub(super) fn oauth_error(status: StatusCode, code: &str) -> Response {
    (
        status,
        Json(serde_json::json!({"error": code, "error_description": "see the test server"})),
    )
        .into_response()
}

async fn metadata(State(state): State<AppState>) -> Json<serde_json::Value> {
    let inner = state.inner.lock().expect("lock");
    let mut metadata = serde_json::json!({
        "issuer": state.base,
        "authorization_endpoint": format!("{}/authorize", state.base),
        "token_endpoint": format!("{}/token", state.base),
        "revocation_endpoint": format!("{}/revoke", state.base),
        "registration_endpoint": format!("{}/register", state.base),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": inner.send_iss,
    });
    if let Some(methods) = &inner.auth_methods {
        metadata["token_endpoint_auth_methods_supported"] = serde_json::json!(methods);
    }
    Json(metadata)
}

/// RFC 7591: registers a client for its redirect URIs; a secret unless it
/// asks for `none`.
async fn register(
    State(state): State<AppState>,
    Json(request): Json<serde_json::Value>,
) -> Response {
    let redirect_uris: Vec<String> = request["redirect_uris"]
        .as_array()
        .map(|uris| {
            uris.iter()
                .filter_map(|u| u.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if redirect_uris.is_empty() {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_redirect_uri");
    }
    let method = request["token_endpoint_auth_method"]
        .as_str()
        .unwrap_or("client_secret_basic")
        .to_owned();
    let mut inner = state.inner.lock().expect("lock");
    let id = random(&mut inner, "dyn");
    let secret = if method == "none" {
        String::new()
    } else {
        random(&mut inner, "dyn-secret")
    };
    inner.registered.push(RegisteredClient {
        id: id.clone(),
        secret: secret.clone(),
        redirect_uris: redirect_uris.clone(),
    });
    let mut body = serde_json::json!({
        "client_id": id,
        "redirect_uris": redirect_uris,
        "token_endpoint_auth_method": method,
    });
    if !secret.is_empty() {
        body["client_secret"] = secret.into();
        body["client_secret_expires_at"] = 0.into();
    }
    (StatusCode::CREATED, Json(body)).into_response()
}

/// Every client: the fixed ones and those registered.
fn known_clients(inner: &Inner) -> Vec<(String, String)> {
    CLIENTS
        .iter()
        .map(|(id, secret)| ((*id).to_owned(), (*secret).to_owned()))
        .chain(
            inner
                .registered
                .iter()
                .map(|c| (c.id.clone(), c.secret.clone())),
        )
        .collect()
}

async fn authorize(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut inner = state.inner.lock().expect("lock");
    let Some(client_id) = q
        .get("client_id")
        .filter(|c| *c == JWT_CLIENT || known_clients(&inner).iter().any(|(id, _)| id == *c))
    else {
        return (StatusCode::BAD_REQUEST, "unknown client").into_response();
    };
    let Some(redirect_uri) = q.get("redirect_uri") else {
        return (StatusCode::BAD_REQUEST, "no redirect_uri").into_response();
    };
    if let Some(registered) = inner.registered.iter().find(|c| &c.id == client_id) {
        if !registered.redirect_uris.contains(redirect_uri) {
            return (StatusCode::BAD_REQUEST, "redirect_uri not registered").into_response();
        }
    }
    if q.get("response_type").map(String::as_str) != Some("code") {
        return (StatusCode::BAD_REQUEST, "response_type must be code").into_response();
    }
    let challenge = q.get("code_challenge").cloned();
    if challenge.is_some() && q.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return (StatusCode::BAD_REQUEST, "only S256").into_response();
    }
    if let Some(resource) = q.get("resource") {
        inner.resources.push(resource.clone());
    }
    let state_param = q.get("state").cloned().unwrap_or_default();
    let mut target = url::Url::parse(redirect_uri).expect("redirect uri");
    {
        let mut pairs = target.query_pairs_mut();
        if inner.deny {
            pairs
                .append_pair("error", "access_denied")
                .append_pair("error_description", "<script>alert('xss')</script>");
        } else {
            let code = random(&mut inner, "code");
            let grant = CodeGrant {
                client_id: client_id.clone(),
                redirect_uri: redirect_uri.clone(),
                challenge,
                user: q
                    .get("login_hint")
                    .cloned()
                    .unwrap_or_else(|| "test-user".to_owned()),
                scope: if inner.slack_style {
                    q.get("user_scope").cloned().unwrap_or_default()
                } else {
                    q.get("scope").cloned().unwrap_or_default()
                },
            };
            inner.codes.insert(code.clone(), grant);
            pairs.append_pair("code", &code);
        }
        pairs.append_pair("state", &state_param);
        if inner.send_iss || inner.wrong_iss.is_some() {
            let iss = inner
                .wrong_iss
                .clone()
                .unwrap_or_else(|| state.base.clone());
            pairs.append_pair("iss", &iss);
        }
    }
    Redirect::to(target.as_str()).into_response()
}

/// The client id of a token request, authenticated (basic, post, or an
/// RFC 7523 assertion from `jwt-client` signed with the test RSA key);
/// `None` for `invalid_client`.
fn client(
    base: &str,
    clients: &[(String, String)],
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Option<String> {
    if form.get("client_assertion_type").map(String::as_str)
        == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        let pem = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../tests/fixtures/keys/rsa-public.pem"),
        )
        .ok()?;
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(&pem).ok()?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[format!("{base}/token")]);
        validation.set_issuer(&[JWT_CLIENT]);
        let data = jsonwebtoken::decode::<serde_json::Value>(
            form.get("client_assertion")?,
            &key,
            &validation,
        )
        .ok()?;
        return (data.claims["sub"] == JWT_CLIENT).then(|| JWT_CLIENT.to_owned());
    }
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic)
            .unwrap_or_default();
        let decoded = String::from_utf8_lossy(&decoded).into_owned();
        let (id, secret) = decoded.split_once(':').unwrap_or((&decoded, ""));
        let id = url::form_urlencoded::parse(format!("a={id}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let secret = url::form_urlencoded::parse(format!("a={secret}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        return clients
            .iter()
            .find(|(i, s)| *i == id && *s == secret && !s.is_empty())
            .map(|(id, _)| id.clone());
    }
    let id = form.get("client_id").cloned().unwrap_or_default();
    let secret = form.get("client_secret").cloned().unwrap_or_default();
    clients
        .iter()
        .find(|(i, s)| *i == id && *s == secret)
        .map(|(id, _)| id.clone())
}

pub(super) fn issue(
    inner: &mut Inner,
    user: &str,
    family: Option<u64>,
    scope: &str,
) -> serde_json::Value {
    let access = random(inner, "access");
    let family = family.unwrap_or_else(|| {
        inner.next_family += 1;
        inner.next_family
    });
    inner
        .access_tokens
        .insert(access.clone(), (user.to_owned(), family));
    let refresh = random(inner, "refresh");
    inner.refresh_tokens.insert(
        refresh.clone(),
        RefreshGrant {
            user: user.to_owned(),
            family,
            active: true,
            scope: scope.to_owned(),
        },
    );
    let mut body = serde_json::json!({
        "access_token": access,
        "token_type": "Bearer",
        "refresh_token": refresh,
        "scope": scope,
    });
    if let Some(lifetime) = inner.lifetime {
        body["expires_in"] = lifetime.into();
        if let Some(at) = std::time::Instant::now().checked_add(Duration::from_secs(lifetime)) {
            inner.expiries.insert(access, at);
        }
    }
    body
}

async fn token(state: State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let slack_style = state.inner.lock().expect("lock").slack_style;
    let response = token_answer(state, headers, body).await;
    if !slack_style {
        return response;
    }
    // Slack: errors with 200, the user's token nested beside a bot token.
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if !status.is_success() {
        return Json(serde_json::json!({"ok": false, "error": body["error"]})).into_response();
    }
    Json(serde_json::json!({
        "ok": true,
        "access_token": "xoxb-bot-token-not-the-users",
        "token_type": "bot",
        "scope": "commands",
        "authed_user": {
            "id": "U123",
            "access_token": body["access_token"],
            "token_type": "user",
            "scope": body["scope"],
        },
    }))
    .into_response()
}

async fn token_answer(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let grant_type = form.get("grant_type").cloned().unwrap_or_default();
    let delay = {
        let mut inner = state.inner.lock().expect("lock");
        *inner.calls.entry(grant_type.clone()).or_default() += 1;
        if grant_type == "refresh_token" {
            inner.refresh_delay
        } else {
            Duration::ZERO
        }
    };
    if !delay.is_zero() {
        // Cancelled with the request if the client goes away: nothing rotates.
        tokio::time::sleep(delay).await;
    }
    let clients = known_clients(&state.inner.lock().expect("lock"));
    let authenticates =
        headers.contains_key(header::AUTHORIZATION) || form.contains_key("client_id");
    let on_behalf_of = form.contains_key("requested_token_use");
    if grant_type == assertion_grants::JWT_BEARER && !on_behalf_of && !authenticates {
        // RFC 7523 §3.1: client authentication is optional for this grant.
        let mut inner = state.inner.lock().expect("lock");
        return assertion_grants::jwt_bearer(&mut inner, &state.base, &form);
    }
    let Some(client_id) = client(&state.base, &clients, &headers, &form) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    if form.contains_key("client_secret") && state.inner.lock().expect("lock").basic_only {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let (response, respond_delay) = {
        let mut guard = state.inner.lock().expect("lock");
        let inner = &mut *guard;
        match grant_type.as_str() {
            "authorization_code" => {
                if inner.refuse_codes {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
                }
                let Some(grant) = form.get("code").and_then(|c| inner.codes.remove(c)) else {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
                };
                if grant.client_id != client_id
                    || form.get("redirect_uri") != Some(&grant.redirect_uri)
                {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
                }
                match (&grant.challenge, form.get("code_verifier")) {
                    (Some(challenge), Some(verifier)) => {
                        let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                            .encode(Sha256::digest(verifier.as_bytes()));
                        if &computed != challenge {
                            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
                        }
                    }
                    (None, None) if client_id != "public-app" => {}
                    _ => return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant"),
                }
                let mut body = issue(inner, &grant.user, None, &grant.scope);
                as_jwt(inner, &state.base, &form, &grant.user, &mut body);
                (Json(body).into_response(), Duration::ZERO)
            }
            "refresh_token" => {
                if let Some(status) = inner.refresh_status {
                    return (
                        StatusCode::from_u16(status).expect("status"),
                        "temporarily unavailable",
                    )
                        .into_response();
                }
                let presented = form.get("refresh_token").cloned().unwrap_or_default();
                let Some(grant) = inner.refresh_tokens.get_mut(&presented) else {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
                };
                let family = grant.family;
                if !grant.active {
                    // Reuse of a rotated token: revoke the whole family.
                    inner.revoked_families.insert(family);
                    inner.reuse_detected += 1;
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
                }
                if inner.revoked_families.contains(&family) {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
                }
                let keep = inner.keep_refresh_token;
                grant.active = keep;
                let (user, scope) = (grant.user.clone(), grant.scope.clone());
                let mut body = issue(inner, &user, Some(family), &scope);
                as_jwt(inner, &state.base, &form, &user, &mut body);
                if keep {
                    if let Some(new) = body.as_object_mut().and_then(|o| o.remove("refresh_token"))
                    {
                        inner
                            .refresh_tokens
                            .remove(new.as_str().unwrap_or_default());
                    }
                }
                (Json(body).into_response(), inner.refresh_respond_delay)
            }
            "client_credentials" => {
                let scope = form.get("scope").cloned().unwrap_or_default();
                let subject = format!("client:{client_id}");
                let mut body = issue(inner, &subject, None, &scope);
                as_jwt(inner, &state.base, &form, &subject, &mut body);
                if let Some(o) = body.as_object_mut() {
                    o.remove("refresh_token");
                    if let Some(audience) = form.get("audience") {
                        o.insert("audience".into(), audience.clone().into());
                    }
                }
                (Json(body).into_response(), Duration::ZERO)
            }
            device_grant::DEVICE_CODE => return device_grant::poll(inner, &client_id, &form),
            assertion_grants::JWT_BEARER if !on_behalf_of => {
                return assertion_grants::jwt_bearer(inner, &state.base, &form)
            }
            assertion_grants::JWT_BEARER | assertion_grants::TOKEN_EXCHANGE => {
                return assertion_grants::exchange(inner, &state.base, &client_id, &form)
            }
            _ => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
        }
    };
    // Answered late, after the work is done (a rotated token stays rotated).
    tokio::time::sleep(respond_delay).await;
    response
}

/// With `jwt_access_tokens`, replaces the opaque access token of `body`
/// by a JWT for `user` (same grant family, same expiry); records the
/// request's `resource`.
pub(super) fn as_jwt(
    inner: &mut Inner,
    base: &str,
    form: &HashMap<String, String>,
    user: &str,
    body: &mut serde_json::Value,
) {
    let resource = form.get("resource").cloned();
    if let Some(resource) = &resource {
        inner.resources.push(resource.clone());
    }
    if !inner.jwt_access_tokens {
        return;
    }
    let opaque = body["access_token"].as_str().unwrap_or_default().to_owned();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = serde_json::json!({
        "iss": base,
        "sub": user,
        "aud": resource.unwrap_or_else(|| base.to_owned()),
        "scope": body["scope"],
        "iat": now,
        "exp": now + inner.lifetime.unwrap_or(3600),
        "jti": opaque,
    });
    let pem = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/keys/rsa-private.pem"),
    )
    .expect("rsa key fixture");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("test-rsa-1".to_owned());
    let jwt = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(&pem).expect("rsa key"),
    )
    .expect("sign");
    if let Some(entry) = inner.access_tokens.remove(&opaque) {
        inner.access_tokens.insert(jwt.clone(), entry);
    }
    if let Some(at) = inner.expiries.remove(&opaque) {
        inner.expiries.insert(jwt.clone(), at);
    }
    body["access_token"] = jwt.into();
}

async fn revoke(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let clients = known_clients(&state.inner.lock().expect("lock"));
    if client(&state.base, &clients, &headers, &form).is_none() {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let mut inner = state.inner.lock().expect("lock");
    inner.revocations += 1;
    let token = form.get("token").cloned().unwrap_or_default();
    if let Some(family) = inner.refresh_tokens.get(&token).map(|g| g.family) {
        inner.revoked_families.insert(family);
    }
    inner.access_tokens.remove(&token);
    StatusCode::OK.into_response()
}

async fn jwks(State(state): State<AppState>) -> Response {
    state.inner.lock().expect("lock").jwks_fetches += 1;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/keys/rsa-public.jwks.json");
    (
        [(header::CONTENT_TYPE, "application/json")],
        std::fs::read_to_string(path).expect("jwks fixture"),
    )
        .into_response()
}

async fn me(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut inner = state.inner.lock().expect("lock");
    inner.me_calls += 1;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if inner
        .expiries
        .get(token)
        .is_some_and(|at| *at <= std::time::Instant::now())
    {
        inner.expired_presented += 1;
        return (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({"error": "invalid_token", "error_description": "expired"})),
        )
            .into_response();
    }
    match inner.access_tokens.get(token) {
        Some((user, family)) if !inner.revoked_families.contains(family) => {
            Json(serde_json::json!({"user": user})).into_response()
        }
        Some(_) => {
            inner.revoked_presented += 1;
            (
                StatusCode::UNAUTHORIZED,
                Json(serde_json::json!({"error": "invalid_token", "error_description": "revoked"})),
            )
                .into_response()
        }
        None => (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({"error": "invalid_token"})),
        )
            .into_response(),
    }
}

/// Starts a server on a free port of 127.0.0.1 in a background thread.
pub fn start() -> AuthServer {
    let inner = Arc::new(Mutex::new(Inner {
        lifetime: Some(3600),
        device_interval: 5,
        ..Inner::default()
    }));
    let state_inner = inner.clone();
    let addr: SocketAddr = super::background::serve_in_background(2, move |addr| {
        let state = AppState {
            base: format!("http://127.0.0.1:{}", addr.port()),
            inner: state_inner,
        };
        Router::new()
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route("/.well-known/openid-configuration", get(metadata))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/access_token", post(token))
            .route("/revoke", post(revoke))
            .route("/register", post(register))
            .route("/device_authorization", post(device_grant::authorize))
            .route("/device", get(device_grant::approve))
            .route("/api/me", get(me))
            .route("/.well-known/jwks.json", get(jwks))
            .route("/user/repos", get(me))
            .with_state(state)
    });
    let base = format!("http://127.0.0.1:{}", addr.port());
    AuthServer { base, inner }
}
