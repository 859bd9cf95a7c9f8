//! The hot path of `/mcp`: a single `tools/call` request in a session this
//! process opened is answered here, as `application/json` (one of the two
//! answers Streamable HTTP allows for a POST), through the same
//! [`call_tool`](super::handler::call_tool) rmcp's handler uses — without
//! the hop to rmcp's per-session worker and the event stream it opens per
//! request. Everything else (`initialize`, lists, notifications, batches,
//! `GET` streams, `DELETE`, a session rmcp no longer has, headers rmcp
//! would refuse) goes on to rmcp unchanged.

use std::sync::Arc;

use axum::{
    http::{header, HeaderMap},
    response::{IntoResponse, Response},
};
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ProtocolVersion, ServerResult};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{super::ServerState, handler};
use crate::inbound::Caller;

/// What the middleware needs to know of a POSTed message.
#[derive(Debug)]
pub(super) enum Message {
    /// A single `tools/call` request.
    ToolsCall {
        /// Its JSON-RPC id.
        id: Value,
        /// Its parameters.
        params: CallToolRequestParams,
    },
    /// `initialize`, with whether the client takes URL-mode elicitation.
    Initialize {
        /// The client declared `capabilities.elicitation.url`.
        url_elicitation: bool,
    },
    /// Anything else: rmcp answers it.
    Other,
}

/// A message's envelope; `params` read only once the method is known.
#[derive(Deserialize)]
struct Incoming<'a> {
    jsonrpc: &'a str,
    id: Option<Value>,
    method: &'a str,
}

/// The `params` of a message whose method is known.
#[derive(Deserialize)]
struct WithParams<P> {
    params: P,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitializeParams {
    #[serde(default)]
    capabilities: ClientCapabilities,
}

/// A JSON-RPC response, serialized without an intermediate JSON tree.
#[derive(Serialize)]
struct Reply<'a, R: Serialize, E: Serialize> {
    jsonrpc: &'static str,
    id: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<R>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<E>,
}

/// Reads what kind of message `body` is (anything unexpected is `Other`).
pub(super) fn classify(body: &[u8]) -> Message {
    let Ok(message) = serde_json::from_slice::<Incoming>(body) else {
        return Message::Other;
    };
    if message.jsonrpc != "2.0" {
        return Message::Other;
    }
    match (message.method, message.id) {
        ("tools/call", Some(id @ (Value::Number(_) | Value::String(_)))) => {
            match serde_json::from_slice::<WithParams<CallToolRequestParams>>(body) {
                Ok(call) => Message::ToolsCall {
                    id,
                    params: call.params,
                },
                Err(_) => Message::Other,
            }
        }
        ("initialize", Some(_)) => Message::Initialize {
            url_elicitation: serde_json::from_slice::<WithParams<InitializeParams>>(body)
                .ok()
                .and_then(|init| init.params.capabilities.elicitation)
                .is_some_and(|e| e.url.is_some()),
        },
        _ => Message::Other,
    }
}

/// Whether the request's headers are ones rmcp would accept for a
/// `tools/call` in a session: a JSON body, an `Accept` of both answer
/// kinds, and a known `MCP-Protocol-Version`.
pub(super) fn headers_allow(headers: &HeaderMap) -> bool {
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    let accepts = |kind: &str| {
        headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|entry| {
                let mut parts = entry.split(';');
                parts
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case(kind))
                    && !parts.any(|p| {
                        p.split_once('=').is_some_and(|(k, v)| {
                            k.trim().eq_ignore_ascii_case("q") && zero_weight(v)
                        })
                    })
            })
    };
    let known_version = headers
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            ProtocolVersion::KNOWN_VERSIONS
                .iter()
                .any(|k| k.as_str() == v)
        });
    json_body && accepts("application/json") && accepts("text/event-stream") && known_version
}

/// Whether a `q` value is zero (`0`, `0.`, `0.0`…): the type is refused.
fn zero_weight(value: &str) -> bool {
    let value = value.trim();
    value == "0"
        || value
            .strip_prefix("0.")
            .is_some_and(|f| f.len() <= 3 && f.bytes().all(|b| b == b'0'))
}

/// Answers a `tools/call` as a JSON-RPC response.
pub(super) async fn answer(
    state: &Arc<ServerState>,
    headers: &HeaderMap,
    caller: &Caller,
    id: Value,
    params: CallToolRequestParams,
    url_elicitation: bool,
) -> Response {
    let (result, error) =
        match handler::call_tool(state, headers, caller, params, url_elicitation).await {
            Ok(result) => (Some(ServerResult::from(result)), None),
            Err(error) => (None, Some(error)),
        };
    let reply = Reply {
        jsonrpc: "2.0",
        id: &id,
        result,
        error,
    };
    match serde_json::to_vec(&reply) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "an MCP answer could not be serialized");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_single_tools_call_request_takes_the_fast_path() {
        let call = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"ok","arguments":{"a":1}}}"#;
        assert!(matches!(classify(call), Message::ToolsCall { id, .. } if id == 7));
        let batch = br#"[{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"ok"}}]"#;
        assert!(matches!(classify(batch), Message::Other));
        let notification = br#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"ok"}}"#;
        assert!(matches!(classify(notification), Message::Other));
        let no_name = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#;
        assert!(matches!(classify(no_name), Message::Other));
        assert!(matches!(classify(b"not json"), Message::Other));
    }

    #[test]
    fn initialize_says_whether_the_client_takes_url_elicitation() {
        let with = br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{"url":{}}},"clientInfo":{"name":"c","version":"1"}}}"#;
        assert!(matches!(
            classify(with),
            Message::Initialize {
                url_elicitation: true
            }
        ));
        let form_only = br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{}},"clientInfo":{"name":"c","version":"1"}}}"#;
        assert!(matches!(
            classify(form_only),
            Message::Initialize {
                url_elicitation: false
            }
        ));
    }

    #[test]
    fn headers_rmcp_would_refuse_go_to_rmcp() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.append(*k, v.parse().unwrap());
            }
            map
        };
        let good = [
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2025-11-25"),
        ];
        assert!(headers_allow(&headers(&good)));
        assert!(!headers_allow(&headers(&good[..2])));
        assert!(!headers_allow(&headers(&[
            good[0],
            ("accept", "application/json"),
            good[2]
        ])));
        assert!(!headers_allow(&headers(&[
            good[0],
            ("accept", "application/json, text/event-stream;q=0"),
            good[2]
        ])));
        assert!(!headers_allow(&headers(&[
            ("content-type", "text/plain"),
            good[1],
            good[2]
        ])));
        assert!(!headers_allow(&headers(&[
            good[0],
            good[1],
            ("mcp-protocol-version", "1999-01-01")
        ])));
    }
}
