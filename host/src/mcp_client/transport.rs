//! JSON-RPC over MCP's Streamable HTTP transport (revision 2025-11-25), as
//! a client: `initialize`, the session id and protocol version headers,
//! answers as `application/json` or as a `text/event-stream`, and a `401` or
//! `403` kept with its `WWW-Authenticate` challenge so the caller can act
//! on it (authorize, step up) and retry the same request.

use std::sync::Arc;

use authhost_plugin_api::{Credential, Secret};
use serde_json::{json, Value};

use crate::{
    credentials::{apply, PreparedRequest},
    outbound::{loggable_url, Outbound, OutboundError},
};

use super::{challenge::BearerChallenge, http::redact};

/// The protocol revision this client speaks.
pub const PROTOCOL_VERSION: &str = "2025-11-25";

/// Why a request got no result.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The server wants (other) credentials: `401`, or `403` for scope.
    #[error("{url} answered {status}{}", describe(.challenge))]
    Unauthorized {
        /// The server URL.
        url: String,
        /// 401 or 403.
        status: u16,
        /// Its `Bearer` challenge, when it sent one.
        challenge: Option<BearerChallenge>,
    },
    /// Another HTTP status.
    #[error("{url} answered {status}: {body}")]
    Status {
        /// The server URL.
        url: String,
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The server no longer knows the session (`404` to a request carrying
    /// its id): a new one must be initialized.
    #[error("{url} ended the MCP session")]
    SessionExpired {
        /// The server URL.
        url: String,
    },
    /// A JSON-RPC error object.
    #[error("the server refused {method}: {message} (JSON-RPC error {code})")]
    Rpc {
        /// The method called.
        method: String,
        /// `error.code`.
        code: i64,
        /// `error.message`.
        message: String,
    },
    /// The answer is not what the protocol says.
    #[error("{0}")]
    Protocol(String),
    /// Sending or reading failed, or the answer is too large.
    #[error(transparent)]
    Outbound(#[from] OutboundError),
}

fn describe(challenge: &Option<BearerChallenge>) -> String {
    let Some(c) = challenge else {
        return String::new();
    };
    let mut text = String::new();
    if let Some(error) = &c.error {
        text.push_str(&format!(" ({error})"));
    }
    if !c.scope.is_empty() {
        text.push_str(&format!("; it asks for scope `{}`", c.scope.join(" ")));
    }
    if let Some(metadata) = &c.resource_metadata {
        text.push_str(&format!("; its authorization metadata is at {metadata}"));
    }
    text
}

/// One client connection to an MCP server.
#[derive(Debug)]
pub struct Transport {
    outbound: Arc<Outbound>,
    url: url::Url,
    bearer: Option<Secret>,
    credentials: Option<Arc<[Credential]>>,
    timeout: Option<std::time::Duration>,
    session: Option<String>,
    protocol: Option<String>,
    next_id: u64,
}

impl Transport {
    /// A connection to `url` through `outbound` (its egress policy,
    /// timeouts and response size limit); `bearer` goes in every request's
    /// `Authorization`.
    pub fn new(outbound: Arc<Outbound>, url: url::Url, bearer: Option<Secret>) -> Self {
        Self {
            outbound,
            url,
            bearer,
            credentials: None,
            timeout: None,
            session: None,
            protocol: None,
            next_id: 1,
        }
    }

    /// Applies `credentials` (a provider's, for a user) to every request
    /// from now on.
    pub fn set_credentials(&mut self, credentials: Arc<[Credential]>) {
        self.credentials = Some(credentials);
    }

    /// Gives each request at most `timeout` (default: the outbound client's).
    pub fn set_timeout(&mut self, timeout: Option<std::time::Duration>) {
        self.timeout = timeout;
    }

    /// Whether `initialize` has succeeded on this connection.
    pub fn is_initialized(&self) -> bool {
        self.protocol.is_some()
    }

    /// Forgets the session, so the next request must initialize again.
    pub fn reset(&mut self) {
        self.session = None;
        self.protocol = None;
    }

    /// Sends `bearer` in `Authorization` from now on.
    pub fn set_bearer(&mut self, bearer: Secret) {
        self.bearer = Some(bearer);
    }

    /// The server URL.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// The outbound client the connection uses.
    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    /// `initialize` and `notifications/initialized`; returns the server's
    /// `InitializeResult`.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    pub async fn initialize(&mut self) -> Result<Value, RpcError> {
        let result = self
            .request(
                "initialize",
                json!({
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "authhost", "version": env!("CARGO_PKG_VERSION")},
                }),
            )
            .await?;
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                RpcError::Protocol("the initialize result has no protocolVersion".to_owned())
            })?;
        self.protocol = Some(version.to_owned());
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        Ok(result)
    }

    /// Calls `method` and returns its `result`.
    ///
    /// # Errors
    ///
    /// [`RpcError::Unauthorized`] with the challenge, another status, a
    /// JSON-RPC error, a malformed or too large answer, a transport failure.
    pub async fn request(&mut self, method: &str, params: Value) -> Result<Value, RpcError> {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let response = self.send(&message).await?;
        let Some(response) = response else {
            return Err(RpcError::Protocol(format!(
                "the server sent no answer to {method}"
            )));
        };
        let reply = match response {
            Answer::Json(value) => find_response(value, id),
            Answer::Events(text) => events(&text)
                .filter_map(|data| serde_json::from_str::<Value>(&data).ok())
                .find_map(|value| find_response(value, id)),
        }
        .ok_or_else(|| RpcError::Protocol(format!("no response to {method} (id {id})")))?;
        if let Some(error) = reply.get("error") {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("no message");
            return Err(RpcError::Rpc {
                method: method.to_owned(),
                code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: redact(message, &self.secret_values()),
            });
        }
        reply
            .get("result")
            .cloned()
            .ok_or_else(|| RpcError::Protocol(format!("the response to {method} has no result")))
    }

    /// Every tool the server lists, following `nextCursor` (at most 100
    /// pages).
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request), or a list that does not end.
    pub async fn list_tools(&mut self) -> Result<Vec<Value>, RpcError> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let params = match &cursor {
                Some(c) => json!({ "cursor": c }),
                None => json!({}),
            };
            let page = self.request("tools/list", params).await?;
            if let Some(items) = page.get("tools").and_then(Value::as_array) {
                tools.extend(items.iter().cloned());
            }
            cursor = page
                .get("nextCursor")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if cursor.is_none() {
                return Ok(tools);
            }
        }
        Err(RpcError::Protocol(
            "the server's tool list did not end after 100 pages".to_owned(),
        ))
    }

    /// Posts one message; `None` for `202 Accepted`.
    async fn send(&mut self, message: &Value) -> Result<Option<Answer>, RpcError> {
        let url = loggable_url(&self.url);
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json, text/event-stream"),
        );
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        for (name, value) in [
            ("mcp-session-id", &self.session),
            ("mcp-protocol-version", &self.protocol),
        ] {
            if let Some(value) = value {
                let value = http::HeaderValue::from_str(value).map_err(|_| {
                    RpcError::Protocol(format!("the server's {name} is not a header value"))
                })?;
                headers.insert(name, value);
            }
        }
        let mut request = PreparedRequest {
            method: http::Method::POST,
            url: self.url.clone(),
            headers,
            body: Some(message.to_string().into_bytes()),
            timeout: self.timeout,
        };
        let bearer = self.bearer.iter().map(|b| Credential::bearer(b.clone()));
        let credentials: Vec<Credential> = bearer
            .chain(self.credentials.iter().flat_map(|c| c.iter().cloned()))
            .collect();
        apply(&mut request, &credentials)
            .map_err(|e| RpcError::Protocol(format!("the credentials cannot be applied: {e}")))?;
        let response = crate::upstream::send(&self.outbound, request).await?;
        let header = |name: &'static str| {
            response
                .headers
                .iter()
                .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let status = response.status;
        if matches!(status.as_u16(), 401 | 403) {
            let challenge = header("www-authenticate").find_map(BearerChallenge::parse);
            return Err(RpcError::Unauthorized {
                url,
                status: status.as_u16(),
                challenge,
            });
        }
        if let Some(session) = header("mcp-session-id").next() {
            if session.is_empty() || !session.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
                return Err(RpcError::Protocol(
                    "the Mcp-Session-Id header is not visible ASCII".to_owned(),
                ));
            }
            self.session = Some(session.to_owned());
        }
        let events = header("content-type")
            .next()
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if status == http::StatusCode::ACCEPTED {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&response.body).into_owned();
        if status == http::StatusCode::NOT_FOUND && self.session.is_some() {
            return Err(RpcError::SessionExpired { url });
        }
        if !status.is_success() {
            // A server may echo the request's credentials back: never pass them on.
            let text = redact(&text, &self.secret_values());
            return Err(RpcError::Status {
                url,
                status: status.as_u16(),
                body: text.chars().take(300).collect(),
            });
        }
        if events {
            return Ok(Some(Answer::Events(text)));
        }
        serde_json::from_str(&text)
            .map(|v| Some(Answer::Json(v)))
            .map_err(|e| RpcError::Protocol(format!("the answer of {url} is not JSON: {e}")))
    }
}

impl Transport {
    /// Every secret value a request carries (the bearer token, the
    /// provider's credential values, a Basic pair in both forms).
    fn secret_values(&self) -> Vec<String> {
        use base64::Engine as _;
        let mut values: Vec<String> = self.bearer.iter().map(|b| b.expose().to_owned()).collect();
        for credential in self.credentials.iter().flat_map(|c| c.iter()) {
            match credential {
                Credential::Header { value, .. }
                | Credential::Query { value, .. }
                | Credential::Cookie { value, .. } => values.push(value.expose().to_owned()),
                Credential::Bearer { token, .. } => values.push(token.expose().to_owned()),
                Credential::Basic { username, password } => {
                    values.push(password.expose().to_owned());
                    values.push(
                        base64::engine::general_purpose::STANDARD
                            .encode(format!("{username}:{}", password.expose())),
                    );
                }
            }
        }
        values.retain(|v| !v.is_empty());
        values
    }
}

/// A response body.
enum Answer {
    Json(Value),
    Events(String),
}

/// The response with `id` in a message or a batch.
fn find_response(value: Value, id: u64) -> Option<Value> {
    match value {
        Value::Array(items) => items.into_iter().find_map(|v| find_response(v, id)),
        Value::Object(ref map) if map.get("id").and_then(Value::as_u64) == Some(id) => Some(value),
        _ => None,
    }
}

/// The `data` of each event in an SSE stream (lines joined by `\n`).
fn events(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split("\n\n")
        .flat_map(|block| block.split("\r\n\r\n"))
        .filter_map(|block| {
            let data: Vec<&str> = block
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_a_server_echoes_are_redacted() {
        let mut transport = Transport::new(
            Arc::new(Outbound::default()),
            url::Url::parse("https://mcp.example/mcp").unwrap(),
            Some(Secret::new("bearer-secret")),
        );
        transport.set_credentials(Arc::from(vec![
            Credential::Header {
                name: "X-Key".to_owned(),
                value: Secret::new("key-secret"),
            },
            Credential::Basic {
                username: "u".to_owned(),
                password: Secret::new("pw-secret"),
            },
        ]));
        let echoed =
            "got Bearer bearer-secret, X-Key: key-secret, Basic dTpwdy1zZWNyZXQ= (pw-secret)";
        let clean = redact(echoed, &transport.secret_values());
        assert_eq!(
            clean,
            "got Bearer [redacted], X-Key: [redacted], Basic [redacted] ([redacted])"
        );
    }

    #[test]
    fn finds_the_response_in_events_and_batches() {
        let stream = "event: message\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n\
                      data: {\"jsonrpc\":\"2.0\",\ndata: \"id\":7,\"result\":{}}\n\n";
        let found = events(stream)
            .filter_map(|d| serde_json::from_str::<Value>(&d).ok())
            .find_map(|v| find_response(v, 7));
        assert_eq!(
            found,
            Some(json!({"jsonrpc": "2.0", "id": 7, "result": {}}))
        );
        let batch = json!([{"jsonrpc": "2.0", "id": 1, "result": 1}, {"jsonrpc": "2.0", "id": 2, "result": 2}]);
        assert_eq!(find_response(batch, 2).unwrap()["result"], 2);
        assert_eq!(find_response(json!({"id": "2"}), 2), None);
    }
}
