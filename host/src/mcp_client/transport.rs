//! JSON-RPC over MCP's Streamable HTTP transport (revision 2025-11-25), as
//! a client: `initialize`, the session id and protocol version headers,
//! answers as `application/json` or as a `text/event-stream`, and a `401` or
//! `403` kept with its `WWW-Authenticate` challenge so the caller can act
//! on it (authorize, step up) and retry the same request.

use std::sync::Arc;

use authhost_plugin_api::Secret;
use serde_json::{json, Value};

use crate::outbound::{loggable_url, read_limited, Outbound, OutboundError};

use super::challenge::BearerChallenge;

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
            session: None,
            protocol: None,
            next_id: 1,
        }
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
            return Err(RpcError::Rpc {
                method: method.to_owned(),
                code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("no message")
                    .to_owned(),
            });
        }
        reply
            .get("result")
            .cloned()
            .ok_or_else(|| RpcError::Protocol(format!("the response to {method} has no result")))
    }

    /// Posts one message; `None` for `202 Accepted`.
    async fn send(&mut self, message: &Value) -> Result<Option<Answer>, RpcError> {
        let url = loggable_url(&self.url);
        let timeout = self.outbound.request_timeout();
        let mut request = self
            .outbound
            .client()
            .map_err(|e| OutboundError::from_reqwest(&url, timeout, &e))?
            .post(self.url.clone())
            .header(http::header::ACCEPT, "application/json, text/event-stream")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(message.to_string());
        if let Some(session) = &self.session {
            request = request.header("mcp-session-id", session);
        }
        if let Some(protocol) = &self.protocol {
            request = request.header("mcp-protocol-version", protocol);
        }
        if let Some(bearer) = &self.bearer {
            request = request.bearer_auth(bearer.expose());
        }
        let response = request
            .send()
            .await
            .map_err(|e| OutboundError::from_reqwest(&url, timeout, &e))?;
        let status = response.status();
        if matches!(status.as_u16(), 401 | 403) {
            let challenge = response
                .headers()
                .get_all(http::header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(BearerChallenge::parse);
            return Err(RpcError::Unauthorized {
                url,
                status: status.as_u16(),
                challenge,
            });
        }
        if let Some(session) = response.headers().get("mcp-session-id") {
            let session = session.to_str().map_err(|_| {
                RpcError::Protocol("the Mcp-Session-Id header is not visible ASCII".to_owned())
            })?;
            self.session = Some(session.to_owned());
        }
        let events = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let body =
            read_limited(response, self.outbound.max_response_bytes(), &url, timeout).await?;
        if status == reqwest::StatusCode::ACCEPTED {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&body).into_owned();
        if !status.is_success() {
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
