//! Connecting a user's account safely: connect links, the browser binding
//! of a flow, and `return_to` matching.
//!
//! A **connect link** is an authhost URL, `/v1/auth/flows/{link}`, handed
//! out in a `401 authorization_required`. It is stateless — nothing is
//! written per 401 — signed with the store's key, short-lived, bound to one
//! user and one provider, and opened once (the flow row it creates has the
//! link's id). Opening it starts the authorization and redirects the browser
//! to the authorization server.
//!
//! Whoever completes the flow in a browser must be the user who started it
//! (`general.server.connect.verify`):
//! - `session`: the link is opened with the user's own inbound
//!   authentication in the browser; the browser gets a flow cookie whose
//!   hash is in the flow row, and the callback refuses a browser without it.
//! - `app`: the grant is held after the callback; the browser goes to the
//!   application's `verify_url` with a one-time token, and the application
//!   confirms it as its signed-in user; only the starting user's
//!   confirmation stores the grant.
//! - `none`: no check (explicit, loopback only unless `allow_unverified`).

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::store::{random_bytes, KeyRing};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A random, URL-safe token of 32 bytes.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    random_bytes(&mut bytes);
    b64(&bytes)
}

/// SHA-256 of `text`, hex: what is stored of a cookie or a one-time token.
pub fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// What a connect link carries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConnectLink {
    /// The flow id it creates when opened (random).
    #[serde(rename = "i")]
    pub id: String,
    /// The provider instance.
    #[serde(rename = "p")]
    pub provider: String,
    /// The user the grant is for.
    #[serde(rename = "u")]
    pub user: String,
    /// When it stops being accepted (Unix seconds).
    #[serde(rename = "e")]
    pub expires_at: i64,
    /// Scopes to ask for beyond the provider's own (step-up).
    #[serde(rename = "s", default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

/// Why a connect link is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not one authhost signed.
    #[error("this is not a connect link authhost issued")]
    Forged,
    /// Too old.
    #[error("this connect link has expired; ask the application for a new one")]
    Expired,
}

/// Domain separation: a link signature is never a state signature.
const LINK_CONTEXT: &[u8] = b"authhost connect link\0";

impl ConnectLink {
    /// A new link for `user` and `provider`, valid for `ttl_secs`, asking
    /// for `scopes` beyond the provider's own.
    pub fn new(provider: &str, user: &str, scopes: &[String], now: i64, ttl_secs: i64) -> Self {
        let mut id = [0u8; 24];
        random_bytes(&mut id);
        Self {
            id: b64(&id),
            provider: provider.to_owned(),
            user: user.to_owned(),
            expires_at: now.saturating_add(ttl_secs),
            scopes: scopes.to_vec(),
        }
    }

    fn signed_bytes(payload: &str) -> Vec<u8> {
        [LINK_CONTEXT, payload.as_bytes()].concat()
    }

    /// The link's path segment: payload and signature, base64url.
    pub fn encode(&self, keys: &KeyRing) -> String {
        let payload = b64(&serde_json::to_vec(self).unwrap_or_default());
        let signature = keys.sign(&Self::signed_bytes(&payload));
        format!("{payload}.{}", b64(&signature))
    }

    /// Reads a link's path segment, checking its signature (not its age:
    /// see [`fresh`](Self::fresh)).
    ///
    /// # Errors
    ///
    /// [`LinkError::Forged`]; nothing in the message comes from the link.
    pub fn decode(text: &str, keys: &KeyRing) -> Result<Self, LinkError> {
        if text.len() > 4096 {
            return Err(LinkError::Forged);
        }
        let (payload, signature) = text.split_once('.').ok_or(LinkError::Forged)?;
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| LinkError::Forged)?;
        if !keys.verify(&Self::signed_bytes(payload), &signature) {
            return Err(LinkError::Forged);
        }
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| LinkError::Forged)?;
        serde_json::from_slice(&json).map_err(|_| LinkError::Forged)
    }

    /// Whether the link may still be opened at `now`.
    ///
    /// # Errors
    ///
    /// [`LinkError::Expired`].
    pub fn fresh(&self, now: i64) -> Result<(), LinkError> {
        if self.expires_at < now {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

/// The name of the cookie that binds flow `id` to the browser that
/// started it: `__Host-` prefixed (Secure, Path=/, no Domain) when the
/// server is reached over https.
pub fn flow_cookie_name(id: &str, secure: bool) -> String {
    let short: String = id.chars().take(12).collect();
    if secure {
        format!("__Host-authhost_flow_{short}")
    } else {
        format!("authhost_flow_{short}")
    }
}

/// The `Set-Cookie` value binding flow `id` to this browser for `max_age`
/// seconds (0 clears it). HttpOnly, SameSite=Lax (sent on the authorization
/// server's top-level redirect back), Secure unless the server is plain
/// http (loopback development).
pub fn flow_cookie(id: &str, value: &str, secure: bool, max_age: i64) -> String {
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        flow_cookie_name(id, secure),
        if secure { "; Secure" } else { "" }
    )
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `target`, parsed and normalized, when it may receive the browser after a
/// flow: its scheme, host and port equal an allow-list entry's, and its path
/// is the entry's path or below it at a segment boundary. The normalized
/// URL is what the browser is sent to, so what was checked is what is used. Refused: look-alike
/// hosts (`app.example.com.evil.net`), user-info tricks, backslashes,
/// encoded dots or slashes, scheme changes, scheme-relative `//host`, and
/// anything that is not an absolute http(s) URL.
pub fn checked_return_to(target: &str, allow: &[String]) -> Option<url::Url> {
    if target.contains('\\') || target.chars().any(char::is_control) || target.starts_with("//") {
        return None;
    }
    let url = url::Url::parse(target).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
        || url.host().is_none()
    {
        return None;
    }
    let lowered = url.path().to_ascii_lowercase();
    if lowered.contains("%2e") || lowered.contains("%2f") || lowered.contains("%5c") {
        return None;
    }
    let allowed = allow.iter().any(|entry| {
        let Ok(base) = url::Url::parse(entry) else {
            return false;
        };
        if base.scheme() != url.scheme()
            || base.host() != url.host()
            || base.port_or_known_default() != url.port_or_known_default()
        {
            return false;
        }
        let prefix = base.path().trim_end_matches('/');
        let path = url.path();
        path == prefix || path.starts_with(&format!("{prefix}/")) || prefix.is_empty()
    });
    allowed.then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> KeyRing {
        KeyRing::from_env_value(&base64::engine::general_purpose::STANDARD.encode([7u8; 32]))
            .expect("ring")
    }

    #[test]
    fn links_round_trip_and_refuse_forgery_and_age() {
        let keys = keys();
        let link = ConnectLink::new("gh", "dave", &["admin".to_owned()], 1_000, 600);
        let text = link.encode(&keys);
        assert_eq!(ConnectLink::decode(&text, &keys), Ok(link.clone()));
        assert_eq!(link.fresh(1_100), Ok(()));
        assert_eq!(link.fresh(1_601), Err(LinkError::Expired));
        let (payload, signature) = text.split_once('.').expect("dot");
        let other = ConnectLink {
            user: "carol".into(),
            ..link
        };
        let other_payload = b64(&serde_json::to_vec(&other).expect("json"));
        for forged in [
            format!("{other_payload}.{signature}"),
            format!("{payload}.AAAA"),
            payload.to_owned(),
            String::new(),
        ] {
            assert_eq!(
                ConnectLink::decode(&forged, &keys),
                Err(LinkError::Forged),
                "{forged}"
            );
        }
        // A state signature is never a link signature.
        let state_sig = b64(&keys.sign(payload.as_bytes()));
        assert_eq!(
            ConnectLink::decode(&format!("{payload}.{state_sig}"), &keys),
            Err(LinkError::Forged)
        );
    }

    #[test]
    fn return_to_is_matched_on_parsed_urls() {
        let allow = vec![
            "https://app.example.com/connected".to_owned(),
            "http://127.0.0.1:3000".to_owned(),
        ];
        for ok in [
            "https://app.example.com/connected",
            "https://app.example.com/connected/github?x=1",
            "https://APP.example.com:443/connected/",
            "http://127.0.0.1:3000/anything",
        ] {
            assert!(checked_return_to(ok, &allow).is_some(), "{ok}");
        }
        for refused in [
            "https://app.example.com.evil.net/connected",
            "https://app.example.com@evil.net/connected",
            "https://evil.net\\@app.example.com/connected",
            "https://app.example.com\\connected",
            "https://app.example.com/connectedevil",
            "https://app.example.com/connected/%2e%2e/admin",
            "https://app.example.com/connected/%2E%2E%2Fadmin",
            "https://app.example.com/other",
            "http://app.example.com/connected",
            "https://app.example.com:8443/connected",
            "//app.example.com/connected",
            "javascript:alert(1)//app.example.com/connected",
            "https://user:pw@app.example.com/connected",
            "http://127.0.0.1:3001/",
            "/connected",
            "",
        ] {
            assert!(checked_return_to(refused, &allow).is_none(), "{refused}");
        }
    }

    #[test]
    fn cookies() {
        let mut headers = http::HeaderMap::new();
        headers.append(
            http::header::COOKIE,
            "a=1; authhost_flow_abc=v1".parse().expect("h"),
        );
        headers.append(http::header::COOKIE, "b=2".parse().expect("h"));
        assert_eq!(cookie(&headers, "authhost_flow_abc"), Some("v1"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "c"), None);
        assert!(flow_cookie("abcdefghijklmnop", "v", true, 600)
            .starts_with("__Host-authhost_flow_abcdefghijkl=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=600; Secure"));
    }
}
