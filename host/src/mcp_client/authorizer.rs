//! Answers an MCP server's `401` / `403` with a token, as MCP 2025-11-25's
//! authorization section says a client does: protected resource metadata,
//! then the authorization server's, a client identity, the scope to ask for
//! (the challenge's, else the server's `scopes_supported`, else none), the
//! grant (authorization code with PKCE in the browser, or client
//! credentials), and step-up on `403 insufficient_scope` — at most
//! [`MAX_AUTHORIZATIONS`] times per session, and never when asking again
//! cannot help.

use std::{sync::Arc, time::Duration};

use authhost_plugin_api::Secret;

use super::{
    authorization_code::{self, Loopback},
    authorization_server::{self, AuthorizationServer},
    challenge::BearerChallenge,
    client::{self, Client, ClientSettings},
    discovery,
    saved::Saved,
    token_endpoint::{self, scope_param, Token},
};
use crate::outbound::{loggable_url, Outbound};

/// How many times one session authorizes before it gives up.
pub const MAX_AUTHORIZATIONS: u32 = 3;

/// The grant authhost uses with the server's authorization server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// A user authorizes in the browser (authorization code + PKCE).
    AuthorizationCode,
    /// authhost authenticates as itself (machine to machine).
    ClientCredentials,
}

/// What the user chose about authorizing.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The client identity to use.
    pub client: ClientSettings,
    /// The grant.
    pub grant: Grant,
    /// The command that opens the authorization URL (`$BROWSER`).
    pub browser: Option<String>,
    /// How long to wait for the browser.
    pub timeout: Duration,
}

/// What discovery found, kept for the session.
#[derive(Debug)]
struct Discovered {
    resource: String,
    scopes_supported: Vec<String>,
    server: AuthorizationServer,
    client: Client,
}

/// Gets and renews the tokens of one MCP server for one session.
#[derive(Debug)]
pub struct Authorizer {
    outbound: Arc<Outbound>,
    server: url::Url,
    settings: Settings,
    loopback: Option<Loopback>,
    discovered: Option<Discovered>,
    token: Option<Token>,
    authorizations: u32,
    saved: Option<Saved>,
}

impl Authorizer {
    /// An authorizer for the MCP server at `server`; with `saved`, tokens
    /// and registrations outlive the session in the token store.
    pub fn new(
        outbound: Arc<Outbound>,
        server: url::Url,
        settings: Settings,
        saved: Option<Saved>,
    ) -> Self {
        Self {
            saved,
            outbound,
            server,
            settings,
            loopback: None,
            discovered: None,
            token: None,
            authorizations: 0,
        }
    }

    /// The token saved for this server in an earlier session, if any.
    ///
    /// # Errors
    ///
    /// The store failed.
    pub async fn saved_token(&mut self) -> Result<Option<Secret>, String> {
        let Some(saved) = &self.saved else {
            return Ok(None);
        };
        self.token = saved.token(&self.server).await?;
        Ok(self.token.as_ref().map(|t| t.access.clone()))
    }

    /// A token to retry with after the server answered `status` (401 or
    /// 403) with `challenge`.
    ///
    /// # Errors
    ///
    /// Why no (better) token can be had: discovery, registration, the
    /// user's or the authorization server's refusal, or the retry limit.
    pub async fn answer(
        &mut self,
        status: u16,
        challenge: Option<&BearerChallenge>,
    ) -> Result<Secret, String> {
        let step_up = status == 403;
        if step_up && challenge.and_then(|c| c.error.as_deref()) != Some("insufficient_scope") {
            return Err("the server refuses this token (403) for a reason other than scope; authorizing again will not change that".to_owned());
        }
        let asked: Vec<String> = challenge.map(|c| c.scope.clone()).unwrap_or_default();
        if step_up {
            if let Some(token) = &self.token {
                if asked.iter().all(|s| token.scopes.contains(s)) {
                    return Err(format!(
                        "the server asks for scope `{}`, which the token already has; authorizing again will not help",
                        asked.join(" ")
                    ));
                }
            }
        }
        if self.authorizations >= MAX_AUTHORIZATIONS {
            return Err(format!(
                "gave up after {MAX_AUTHORIZATIONS} authorizations: the server still answers {status}"
            ));
        }
        self.authorizations += 1;
        self.discover(challenge).await?;
        if !step_up {
            if let Some(token) = self.refreshed().await {
                return Ok(token);
            }
        }
        let discovered = self.discovered.as_ref().expect("discovered above");
        let scopes = if step_up {
            let mut union = self
                .token
                .as_ref()
                .map(|t| t.scopes.clone())
                .unwrap_or_default();
            for scope in asked {
                if !union.contains(&scope) {
                    union.push(scope);
                }
            }
            union
        } else if !asked.is_empty() {
            asked
        } else {
            discovered.scopes_supported.clone()
        };
        let token = match self.settings.grant {
            Grant::AuthorizationCode => {
                let loopback = self.loopback.as_ref().expect("bound in discover");
                authorization_code::authorize(
                    &self.outbound,
                    &discovered.server,
                    &discovered.client,
                    loopback,
                    authorization_code::Request {
                        resource: &discovered.resource,
                        scopes: &scopes,
                        browser: self.settings.browser.as_deref(),
                        timeout: self.settings.timeout,
                    },
                )
                .await?
            }
            Grant::ClientCredentials => {
                let mut form = vec![
                    ("grant_type", "client_credentials".to_owned()),
                    ("resource", discovered.resource.clone()),
                ];
                form.extend(scope_param(&scopes));
                token_endpoint::request(
                    &self.outbound,
                    &discovered.server,
                    &discovered.client,
                    form,
                    &scopes,
                )
                .await?
            }
        };
        let access = token.access.clone();
        if let Some(saved) = &self.saved {
            if let Err(why) = saved.put_token(&self.server, &token).await {
                eprintln!("warning: the token works but could not be saved: {why}");
            }
        }
        self.token = Some(token);
        Ok(access)
    }

    /// The current token refreshed, when it has a refresh token and the
    /// authorization server issues a new access token for it (once across
    /// processes when the token is saved).
    async fn refreshed(&mut self) -> Option<Secret> {
        let discovered = self.discovered.as_ref()?;
        let current = self.token.as_ref()?;
        current.refresh.as_ref()?;
        let outbound = &self.outbound;
        let refresh = |token: Token| async move {
            let Some(refresh) = token.refresh.clone() else {
                return Err("the token has no refresh token".to_owned());
            };
            let form = vec![
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", refresh.expose().to_owned()),
                ("resource", discovered.resource.clone()),
            ];
            let mut fresh = token_endpoint::request(
                outbound,
                &discovered.server,
                &discovered.client,
                form,
                &token.scopes,
            )
            .await?;
            // A server that does not rotate refresh tokens keeps the old one.
            if fresh.refresh.is_none() {
                fresh.refresh = Some(refresh);
            }
            Ok(fresh)
        };
        let result = match &self.saved {
            Some(saved) => {
                saved
                    .refresh_once(&self.server, &current.access, refresh)
                    .await
            }
            None => refresh(current.clone()).await,
        };
        match result {
            Ok(fresh) => {
                let access = fresh.access.clone();
                self.token = Some(fresh);
                Some(access)
            }
            Err(why) => {
                eprintln!("refreshing the token failed ({why}); authorizing again");
                None
            }
        }
    }

    /// Finds the authorization server and a client identity there, once.
    async fn discover(&mut self, challenge: Option<&BearerChallenge>) -> Result<(), String> {
        if self.discovered.is_some() {
            return Ok(());
        }
        let (at, metadata) = discovery::protected_resource(&self.outbound, &self.server, challenge)
            .await
            .map_err(|why| {
                format!(
                    "no protected resource metadata names {}: {why}",
                    loggable_url(&self.server)
                )
            })?;
        let issuer = metadata.authorization_servers.first().ok_or_else(|| {
            format!(
                "the protected resource metadata at {} names no authorization server",
                loggable_url(&at)
            )
        })?;
        let server = authorization_server::discover(&self.outbound, issuer).await?;
        let grant_types: &[&str] = match self.settings.grant {
            Grant::AuthorizationCode => {
                if self.loopback.is_none() {
                    self.loopback =
                        Some(Loopback::bind().map_err(|e| {
                            format!("cannot listen for the browser on 127.0.0.1: {e}")
                        })?);
                }
                &["authorization_code", "refresh_token"]
            }
            Grant::ClientCredentials => &["client_credentials"],
        };
        let redirect = self.loopback.as_ref().map(Loopback::redirect_uri);
        let registered = match (&self.saved, &self.settings.client.client_id) {
            (Some(saved), None) => saved.registration(&server.issuer).await?,
            _ => None,
        };
        let client = match registered {
            Some(client) => client,
            None => {
                client::identify(
                    &self.outbound,
                    &server,
                    &self.settings.client,
                    redirect,
                    grant_types,
                )
                .await?
            }
        };
        if let (Some(saved), client::Origin::Registered) = (&self.saved, client.origin) {
            if let Err(why) = saved.put_registration(&server.issuer, &client).await {
                eprintln!("warning: the client registration could not be saved: {why}");
            }
        }
        self.discovered = Some(Discovered {
            resource: metadata.resource,
            scopes_supported: metadata.scopes_supported,
            server,
            client,
        });
        Ok(())
    }
}
