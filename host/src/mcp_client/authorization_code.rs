//! The authorization code grant with PKCE for a remote MCP server, as a
//! native app does it (RFC 8252): a loopback redirect URI on 127.0.0.1, the
//! authorization URL opened with `$BROWSER` (and always printed), the
//! callback's `state` compared in constant time and its `iss` checked
//! (RFC 9207), then the code exchanged with the verifier and `resource`.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
    response::Html,
    routing::get,
};
use tokio::sync::mpsc;

use super::{
    authorization_server::AuthorizationServer,
    client::Client,
    token_endpoint::{self, scope_param, Token},
};
use crate::{
    authorize::{message_page, pkce_pair, CallbackParams},
    outbound::Outbound,
};

/// The path of the loopback redirect URI.
const CALLBACK_PATH: &str = "/callback";

/// A loopback port the browser comes back to, kept for the whole session
/// so the redirect URI stays the one the client registered.
#[derive(Debug)]
pub struct Loopback {
    listener: std::net::TcpListener,
    redirect_uri: url::Url,
}

impl Loopback {
    /// Listens on 127.0.0.1 at a free port.
    ///
    /// # Errors
    ///
    /// No port could be bound.
    pub fn bind() -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let redirect_uri = url::Url::parse(&format!("http://127.0.0.1:{port}{CALLBACK_PATH}"))
            .expect("a loopback URL parses");
        Ok(Self {
            listener,
            redirect_uri,
        })
    }

    /// The redirect URI.
    pub fn redirect_uri(&self) -> &url::Url {
        &self.redirect_uri
    }
}

/// What one authorization needs besides the server and client.
#[derive(Debug)]
pub struct Request<'a> {
    /// The resource indicator (RFC 8707): the MCP server.
    pub resource: &'a str,
    /// The scopes to ask for (none: `scope` omitted).
    pub scopes: &'a [String],
    /// The command that opens a URL (from `$BROWSER`), if any.
    pub browser: Option<&'a str>,
    /// How long to wait for the browser.
    pub timeout: Duration,
}

/// Runs one authorization in the browser and exchanges its code.
///
/// # Errors
///
/// The server does not do PKCE S256, the user or server refused, the
/// callback is not this authorization's, time ran out, or the code
/// exchange failed.
pub async fn authorize(
    outbound: &Outbound,
    server: &AuthorizationServer,
    client: &Client,
    loopback: &Loopback,
    request: Request<'_>,
) -> Result<Token, String> {
    let Some(endpoint) = &server.authorization_endpoint else {
        return Err(format!(
            "the authorization server {} has no authorization endpoint",
            server.issuer
        ));
    };
    if !server.supports_s256() {
        return Err(format!(
            "the authorization server {} does not advertise PKCE with S256 (code_challenge_methods_supported), so authhost will not authorize there",
            server.issuer
        ));
    }
    let (verifier, challenge) = pkce_pair();
    let state = crate::connect::random_token();
    let mut url = endpoint.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &client.id)
            .append_pair("redirect_uri", loopback.redirect_uri.as_str())
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", &state)
            .append_pair("resource", request.resource);
        if let Some((key, value)) = scope_param(request.scopes) {
            query.append_pair(key, &value);
        }
    }
    let params = wait_for_callback(loopback, &url, state, request.browser, request.timeout).await?;
    if let Some(error) = &params.error {
        return Err(format!(
            "the authorization server refused: {}{}",
            crate::printable::printable(error),
            params
                .error_description
                .as_deref()
                .map(|d| format!(" ({})", crate::printable::printable(d)))
                .unwrap_or_default()
        ));
    }
    match &params.iss {
        Some(iss) if iss != &server.issuer => {
            return Err(format!(
                "the callback names the issuer `{}`, not {} (RFC 9207): a mix-up, refused",
                crate::printable::printable(iss),
                server.issuer
            ))
        }
        None if server.authorization_response_iss_parameter_supported => {
            return Err(format!(
                "the callback carries no `iss` though {} says it sends one (RFC 9207), refused",
                server.issuer
            ))
        }
        _ => {}
    }
    let code = params.code.ok_or("the callback carries no code")?;
    let mut form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code),
        ("redirect_uri", loopback.redirect_uri.to_string()),
        ("code_verifier", verifier),
        ("resource", request.resource.to_owned()),
    ];
    form.extend(scope_param(request.scopes));
    token_endpoint::request(outbound, server, client, form, request.scopes).await
}

/// What the callback route needs.
struct Waiting {
    state: String,
    done: mpsc::Sender<CallbackParams>,
}

/// Opens `url` for the user and serves the redirect URI until the callback
/// carrying `state` arrives; callbacks with another state are refused and
/// the wait goes on.
async fn wait_for_callback(
    loopback: &Loopback,
    url: &url::Url,
    state: String,
    browser: Option<&str>,
    timeout: Duration,
) -> Result<CallbackParams, String> {
    let listener = loopback
        .listener
        .try_clone()
        .and_then(tokio::net::TcpListener::from_std)
        .map_err(|e| format!("cannot serve the redirect URI: {e}"))?;
    let (done, mut finished) = mpsc::channel(1);
    let app = axum::Router::new()
        .route(CALLBACK_PATH, get(callback))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(Arc::new(Waiting { state, done }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    eprintln!("Open this URL to authorize authhost:\n{url}");
    if let Some(command) = browser {
        open(command, url.as_str());
    }
    let result = tokio::time::timeout(timeout, finished.recv()).await;
    let _ = stop.send(());
    let _ = server.await;
    match result {
        Ok(Some(params)) => Ok(params),
        Ok(None) => Err("the redirect URI stopped being served".to_owned()),
        Err(_) => Err(format!(
            "no authorization came back within {} s",
            timeout.as_secs()
        )),
    }
}

/// Runs `command URL` through the shell (`$BROWSER` may hold arguments);
/// the URL goes in as an argument, never into the command text.
fn open(command: &str, url: &str) {
    let spawned = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{command} \"$1\""))
        .arg("sh")
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        eprintln!("could not run $BROWSER ({e}); open the URL yourself");
    }
}

async fn callback(
    State(waiting): State<Arc<Waiting>>,
    RawQuery(query): RawQuery,
) -> (
    StatusCode,
    [(http::HeaderName, &'static str); 1],
    Html<String>,
) {
    let no_store = [(http::header::CACHE_CONTROL, "no-store")];
    let params = CallbackParams::from_query(query.as_deref().unwrap_or_default());
    if !params.carries_state(&waiting.state) {
        return (
            StatusCode::BAD_REQUEST,
            no_store,
            Html(message_page("Not this authorization", "This callback does not belong to the authorization authhost is waiting for; nothing changed.")),
        );
    }
    let refused = params.error.is_some();
    let _ = waiting.done.try_send(params);
    let page = if refused {
        message_page(
            "Authorization refused",
            "authhost got the refusal. You can close this window.",
        )
    } else {
        message_page(
            "Authorized",
            "authhost got the authorization. You can close this window.",
        )
    };
    (StatusCode::OK, no_store, Html(page))
}
