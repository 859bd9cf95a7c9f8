//! The authorization code flow, host side: starting it (state, PKCE) and
//! finishing it (the callback). Used by `authhost login` and the server.
//!
//! - The `state` is `id.signature`: 32 random bytes and their HMAC under
//!   the key ring. The row behind the id (provider, user, sealed PKCE
//!   verifier, expiry) is taken atomically, so a state works once, on any
//!   replica, and only for the user and provider that started it.
//! - The result page escapes everything it shows and never shows the
//!   provider's `error_description`; there is no redirect to a URL taken
//!   from the request.

use std::{sync::Arc, time::Duration};

use authhost_plugin_api::{AuthorizationRequest, Capabilities, CodeExchange, Secret, TokenSet};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::{
    broker::Broker,
    clock::now,
    connect::{ConnectLink, LinkError},
    plugin::{CallError, ProviderHandle},
    store::{random_bytes, Flow, FlowStatus, PendingState, StoreError, TokenStore},
};

/// Default lifetime of a pending authorization.
pub const STATE_TTL: Duration = Duration::from_secs(600);

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh PKCE pair (RFC 7636): a 32-byte random verifier and its S256
/// challenge.
pub fn pkce_pair() -> (String, String) {
    let mut verifier = [0u8; 32];
    random_bytes(&mut verifier);
    let verifier = b64(&verifier);
    let challenge = b64(&Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// A started authorization.
#[derive(Debug, Clone)]
pub struct Started {
    /// Where to send the user's browser.
    pub url: String,
    /// When the state stops being accepted (Unix seconds).
    pub expires_at: i64,
    /// The `state` sent with it: the callback of this authorization carries it.
    pub state: Secret,
}

/// The query parameters of the redirect back from the authorization server.
#[derive(Debug, Clone, Default)]
pub struct CallbackParams {
    /// `code`.
    pub code: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `error`.
    pub error: Option<String>,
    /// `error_description` (never shown).
    pub error_description: Option<String>,
    /// `iss` (RFC 9207).
    pub iss: Option<String>,
}

impl CallbackParams {
    /// Reads the parameters from a query string.
    pub fn from_query(query: &str) -> Self {
        let mut params = Self::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let value = Some(value.into_owned());
            match key.as_ref() {
                "code" => params.code = value,
                "state" => params.state = value,
                "error" => params.error = value,
                "error_description" => params.error_description = value,
                "iss" => params.iss = value,
                _ => {}
            }
        }
        params
    }

    /// Whether the callback carries `expected` as its `state` (compared in
    /// constant time).
    pub fn carries_state(&self, expected: &str) -> bool {
        self.state.as_deref().is_some_and(|s| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                s.as_bytes(),
                expected.as_bytes(),
            ))
        })
    }
}

/// A finished authorization.
#[derive(Debug, Clone)]
pub struct Completed {
    /// The provider instance.
    pub provider: String,
    /// The user the tokens belong to.
    pub user: String,
    /// When the access token expires.
    pub expires_at: Option<i64>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Where to send the browser (server only, from the allow-list).
    pub return_to: Option<String>,
}

/// Why an authorization did not finish. Messages name no secret and echo
/// nothing from the request except a well-formed OAuth error code.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The provider is not interactive.
    #[error("provider `{0}` does not use browser authorization")]
    NotInteractive(String),
    /// No `state` parameter.
    #[error("the redirect has no `state`; start the authorization again")]
    MissingState,
    /// The state's signature is wrong.
    #[error("the `state` is not one authhost issued")]
    ForgedState,
    /// Unknown or already used.
    #[error("the `state` is unknown or was already used; start the authorization again")]
    UnknownState,
    /// Too old.
    #[error("the authorization took too long and expired; start it again")]
    ExpiredState,
    /// Started by someone else, or for another provider.
    #[error("this authorization was started by another user or for another provider")]
    Mismatch,
    /// Finished in a browser that did not open the connect link (`session`
    /// verification): someone else's account must not be connected.
    #[error("this authorization was finished in a browser that did not start it; open the connect link in your own signed-in browser")]
    WrongBrowser,
    /// The user or the server said no.
    #[error("the authorization server refused: {0}")]
    Denied(String),
    /// No `code`.
    #[error("the redirect has no authorization code")]
    MissingCode,
    /// The provider instance for the state is not configured here.
    #[error("provider `{0}` is not in this workflow")]
    UnknownProvider(String),
    /// The code exchange failed (wrong `iss` included).
    #[error(transparent)]
    Exchange(#[from] CallError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The grant could not be saved.
    #[error(transparent)]
    Grant(#[from] crate::broker::BrokerError),
}

/// A redirect's code exchanged for tokens, not yet stored.
#[derive(Debug)]
pub struct Exchanged {
    /// The provider instance.
    pub provider: String,
    /// The user who started the flow.
    pub user: String,
    /// The tokens.
    pub tokens: TokenSet,
    /// Where to send the browser (server only, from the allow-list).
    pub return_to: Option<String>,
}

impl Exchanged {
    /// What to report once the tokens are stored.
    pub fn completed(self) -> Completed {
        Completed {
            provider: self.provider,
            user: self.user,
            expires_at: self.tokens.expires_at,
            scopes: self.tokens.scopes,
            return_to: self.return_to,
        }
    }
}

/// Authorizations in progress and their completion: each started flow's
/// state and PKCE verifier, connect flows and held grants, and the signed
/// values (states, links, form tokens) that tie a browser to them. The one
/// owner of the store's state and flow rows; completed grants go to the
/// broker, which owns token rows.
#[derive(Debug, Clone)]
pub struct Authorizations {
    store: Arc<TokenStore>,
    broker: Arc<Broker>,
}

impl Authorizations {
    /// Authorizations over `broker`'s store; `None` when it has none (no
    /// provider keeps per-user tokens).
    pub fn new(broker: Arc<Broker>) -> Option<Self> {
        Some(Self {
            store: broker.store()?.clone(),
            broker,
        })
    }

    /// The credentials service completed grants go to.
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Starts an authorization of `provider` for `user`: stores the state and
    /// the PKCE verifier, and asks the plugin for the authorization URL.
    ///
    /// # Errors
    ///
    /// Not interactive, store or plugin failures.
    pub async fn start(
        &self,
        provider: &ProviderHandle,
        user: &str,
        ttl: Duration,
        return_to: Option<String>,
    ) -> Result<Started, FlowError> {
        let mut id = [0u8; 32];
        random_bytes(&mut id);
        self.start_with_id(provider, user, ttl, return_to, &b64(&id), &[])
            .await
    }

    /// [`start`](Self::start) with the state id given — a connect flow's id, so the callback
    /// finds the flow the state belongs to; `id` must be random and unique —
    /// and `extra_scopes` added to the authorization URL's `scope` (step-up:
    /// the grant's scopes plus those a tool needs).
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start); a state with this id exists already.
    pub async fn start_with_id(
        &self,
        provider: &ProviderHandle,
        user: &str,
        ttl: Duration,
        return_to: Option<String>,
        id: &str,
        extra_scopes: &[String],
    ) -> Result<Started, FlowError> {
        if !provider.capabilities().contains(Capabilities::INTERACTIVE) {
            return Err(FlowError::NotInteractive(provider.instance().to_owned()));
        }
        let state = format!(
            "{id}.{}",
            b64(&self.store.with_keys(|k| k.sign(id.as_bytes())))
        );
        let (verifier, challenge) = pkce_pair();
        let expires_at = now() + ttl.as_secs() as i64;
        self.store
            .put_state(
                id,
                &PendingState {
                    provider: provider.instance().to_owned(),
                    user: user.to_owned(),
                    pkce_verifier: Some(Secret::new(verifier)),
                    expires_at,
                    return_to,
                },
            )
            .await?;
        let state = Secret::new(state);
        let url = provider
            .authorization_url(&AuthorizationRequest {
                user_id: user.to_owned(),
                state: state.clone(),
                pkce_challenge: Some(challenge),
            })
            .await?;
        Ok(Started {
            url: with_scopes(url, extra_scopes),
            expires_at,
            state,
        })
    }

    /// Finishes an authorization from the redirect's parameters. `expected`
    /// is the (provider, user) the caller started, when it knows it (the CLI
    /// does); `provider_for` gives the provider instance named by the state.
    ///
    /// # Errors
    ///
    /// Every way a redirect can be wrong, each with its own [`FlowError`];
    /// nothing is stored unless the exchange succeeds.
    pub async fn complete(
        &self,
        params: &CallbackParams,
        expected: Option<(&str, &str)>,
        provider_for: impl Fn(&str) -> Option<ProviderHandle>,
    ) -> Result<Completed, FlowError> {
        let exchanged = self.exchange(params, expected, provider_for).await?;
        self.broker
            .save_grant(&exchanged.provider, &exchanged.user, &exchanged.tokens)
            .await?;
        Ok(exchanged.completed())
    }

    /// The id of a redirect's `state`, once its signature is checked.
    ///
    /// # Errors
    ///
    /// [`FlowError::MissingState`] or [`FlowError::ForgedState`].
    pub fn verified_state_id<'p>(&self, params: &'p CallbackParams) -> Result<&'p str, FlowError> {
        let state = params.state.as_deref().ok_or(FlowError::MissingState)?;
        let (id, signature) = state.split_once('.').ok_or(FlowError::ForgedState)?;
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| FlowError::ForgedState)?;
        if !self
            .store
            .with_keys(|k| k.verify(id.as_bytes(), &signature))
        {
            return Err(FlowError::ForgedState);
        }
        Ok(id)
    }

    /// Checks a redirect back from the authorization server (signed, known,
    /// unexpired, single-use state; `expected` (provider, user) when the caller
    /// knows it; no `error`; a code) and exchanges the code. Nothing is
    /// stored; the state is used up either way.
    ///
    /// # Errors
    ///
    /// Every way a redirect can be wrong, each with its own [`FlowError`].
    pub async fn exchange(
        &self,
        params: &CallbackParams,
        expected: Option<(&str, &str)>,
        provider_for: impl Fn(&str) -> Option<ProviderHandle>,
    ) -> Result<Exchanged, FlowError> {
        let id = self.verified_state_id(params)?;
        let pending = self
            .store
            .take_state(id)
            .await?
            .ok_or(FlowError::UnknownState)?;
        if pending.expires_at < now() {
            return Err(FlowError::ExpiredState);
        }
        if let Some((provider, user)) = expected {
            if pending.provider != provider || pending.user != user {
                return Err(FlowError::Mismatch);
            }
        }
        if let Some(error) = &params.error {
            return Err(FlowError::Denied(error_code(error)));
        }
        let code = params
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or(FlowError::MissingCode)?;
        let provider = provider_for(&pending.provider)
            .ok_or_else(|| FlowError::UnknownProvider(pending.provider.clone()))?;
        let tokens = provider
            .exchange_code(&CodeExchange {
                user_id: pending.user.clone(),
                code: Secret::new(code),
                pkce_verifier: pending.pkce_verifier,
                issuer: params.iss.clone(),
            })
            .await?;
        Ok(Exchanged {
            provider: pending.provider,
            user: pending.user,
            tokens,
            return_to: pending.return_to,
        })
    }

    /// Records a connect flow; `false` when its id exists already.
    ///
    /// # Errors
    ///
    /// The store fails.
    pub async fn create_flow(&self, flow: &Flow) -> Result<bool, StoreError> {
        self.store.create_flow(flow).await
    }

    /// The connect flow `id`.
    ///
    /// # Errors
    ///
    /// The store fails.
    pub async fn flow(&self, id: &str) -> Result<Option<Flow>, StoreError> {
        self.store.flow(id).await
    }

    /// Records how the connect flow `id` ended.
    ///
    /// # Errors
    ///
    /// The store fails.
    pub async fn finish_flow(
        &self,
        id: &str,
        status: FlowStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        self.store.finish_flow(id, status, reason).await
    }

    /// Uses up the pending state `id` without exchanging anything.
    ///
    /// # Errors
    ///
    /// The store fails.
    pub async fn discard_state(&self, id: &str) -> Result<(), StoreError> {
        self.store.take_state(id).await.map(drop)
    }

    /// Seals `tokens` in the flow `id` until the application confirms the
    /// user (`verify: app`), under the digest of the one-time confirmation id.
    ///
    /// # Errors
    ///
    /// The store fails.
    pub async fn hold_grant(
        &self,
        id: &str,
        tokens: &TokenSet,
        confirmation_digest: &str,
        until: i64,
    ) -> Result<(), StoreError> {
        self.store
            .hold_grant(id, tokens, confirmation_digest, until)
            .await
    }

    /// Takes the held grant of the confirmation digest, once.
    ///
    /// # Errors
    ///
    /// The store fails.
    pub async fn take_held_grant(
        &self,
        confirmation_digest: &str,
    ) -> Result<Option<(Flow, TokenSet)>, StoreError> {
        self.store.take_held_grant(confirmation_digest).await
    }

    /// `link` signed with the current key.
    pub fn encode_link(&self, link: &ConnectLink) -> String {
        self.store.with_keys(|k| link.encode(k))
    }

    /// The link `text`, if a key of the ring signed it.
    ///
    /// # Errors
    ///
    /// Forged, malformed or too long.
    pub fn decode_link(&self, text: &str) -> Result<ConnectLink, LinkError> {
        self.store.with_keys(|k| ConnectLink::decode(text, k))
    }

    /// A signature of `data` with the current key.
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        self.store.with_keys(|k| k.sign(data))
    }

    /// Whether a key of the ring signed `data` with `signature`.
    pub fn verify(&self, data: &[u8], signature: &[u8]) -> bool {
        self.store.with_keys(|k| k.verify(data, signature))
    }
}

/// `url` with `extra` added to its `scope` parameter (space-separated, each
/// once). The host owns what an authorization asks for beyond the
/// provider's configured scopes.
fn with_scopes(url: String, extra: &[String]) -> String {
    if extra.is_empty() {
        return url;
    }
    let Ok(mut parsed) = url::Url::parse(&url) else {
        return url;
    };
    let mut scopes: Vec<String> = parsed
        .query_pairs()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| {
            v.split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    for scope in extra {
        if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    let others: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(k, _)| k != "scope")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    parsed
        .query_pairs_mut()
        .clear()
        .extend_pairs(others)
        .append_pair("scope", &scopes.join(" "));
    parsed.into()
}

/// A well-formed OAuth error code, or `unknown` (nothing else is echoed).
fn error_code(error: &str) -> String {
    let ok = !error.is_empty()
        && error.len() <= 64
        && error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if ok {
        error.to_owned()
    } else {
        "unknown".to_owned()
    }
}

/// Escapes text for HTML.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page the browser sees after the redirect. Everything is escaped;
/// the provider's `error_description` is never shown.
pub fn result_page(result: &Result<Completed, FlowError>) -> String {
    let (title, body) = match result {
        Ok(done) => (
            "Authorized",
            format!(
                "<p>User <b>{}</b> is now authorized for <b>{}</b>.</p><p>You can close this window.</p>",
                escape_html(&done.user),
                escape_html(&done.provider)
            ),
        ),
        Err(e) => ("Authorization failed", format!("<p>{}</p><p>You can close this window.</p>", escape_html(&e.to_string()))),
    };
    page(title, &body)
}

/// A page with `title` and a paragraph of `text`, escaped.
pub fn message_page(title: &str, text: &str) -> String {
    page(
        &escape_html(title),
        &format!("<p>{}</p>", escape_html(text)),
    )
}

/// The HTML around every page the browser sees; `title` and `body` are
/// already escaped.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_and_hide_descriptions() {
        let page = result_page(&Err(FlowError::Denied(error_code("access_denied"))));
        assert!(page.contains("refused: access_denied"));
        assert_eq!(error_code("<script>alert(1)</script>"), "unknown");
        let page = result_page(&Ok(Completed {
            provider: "gh".into(),
            user: "<img src=x onerror=alert(1)>".into(),
            expires_at: None,
            scopes: vec![],
            return_to: None,
        }));
        assert!(!page.contains("<img"));
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
    }

    #[test]
    fn extra_scopes_join_the_authorization_url() {
        let url = "https://idp.test/authorize?client_id=c&scope=repo+read&state=s".to_owned();
        let out = with_scopes(url.clone(), &["admin".into(), "repo".into()]);
        let parsed = url::Url::parse(&out).expect("url");
        let scope = parsed
            .query_pairs()
            .find(|(k, _)| k == "scope")
            .expect("scope")
            .1;
        assert_eq!(scope, "repo read admin");
        assert!(parsed.query_pairs().any(|(k, v)| k == "state" && v == "s"));
        assert_eq!(with_scopes(url.clone(), &[]), url);
    }

    #[test]
    fn callback_params() {
        let p = CallbackParams::from_query("code=abc&state=s.t&iss=https%3A%2F%2Fas&x=1");
        assert_eq!(p.code.as_deref(), Some("abc"));
        assert_eq!(p.iss.as_deref(), Some("https://as"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any query string parses; the page for any refusal escapes what
        /// it shows.
        #[test]
        fn callback_queries_never_panic_and_pages_escape(query in "[ -~]{0,80}") {
            let params = CallbackParams::from_query(&query);
            let denied: Result<Completed, FlowError> =
                Err(FlowError::Denied(error_code(params.error.as_deref().unwrap_or("<x>"))));
            let page = result_page(&denied);
            proptest::prop_assert!(!page.contains("<x>"));
            if let Some(description) = params.error_description.filter(|d| d.len() > 3) {
                proptest::prop_assert!(!page.contains(&description));
            }
        }
    }
}
