//! A real HTTP API on 127.0.0.1 for the tests: it echoes what it received
//! (method, path, query, headers, body) as JSON and records every hit.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::any,
    Json, Router,
};

/// A running echo server.
pub struct EchoServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The port.
    pub port: u16,
    hits: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl EchoServer {
    /// Every request received so far, as echoed.
    pub fn hits(&self) -> Vec<serde_json::Value> {
        self.hits.lock().expect("lock").clone()
    }
}

#[derive(Clone)]
struct AppState {
    hits: Arc<Mutex<Vec<serde_json::Value>>>,
    port: u16,
}

async fn echo(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let headers_json: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned().into(),
            )
        })
        .collect();
    let record = serde_json::json!({
        "method": method.as_str(),
        "path": uri.path(),
        "query": uri.query().unwrap_or(""),
        "headers": headers_json,
        "body": String::from_utf8_lossy(&body),
    });
    state.hits.lock().expect("lock").push(record.clone());
    match uri.path() {
        "/redirect/same" => (StatusCode::FOUND, [("location", "/after-same")]).into_response(),
        "/redirect/cross" => (
            StatusCode::FOUND,
            [(
                "location",
                format!("http://localhost:{}/after-cross", state.port),
            )],
        )
            .into_response(),
        "/status/500" => (StatusCode::INTERNAL_SERVER_ERROR, Json(record)).into_response(),
        // A session endpoint: the `X-API-Key` it was sent, exchanged for a
        // token that lives ten minutes (what `plugins new` scaffolds against).
        "/session-token" => match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
            Some(key) => {
                Json(serde_json::json!({ "token": format!("s-{key}"), "expires_in": 600 }))
                    .into_response()
            }
            None => StatusCode::UNAUTHORIZED.into_response(),
        },
        // `/big/N`: N bytes, streamed without a Content-Length.
        path if path.starts_with("/big/") => {
            let total: usize = path["/big/".len()..].parse().unwrap_or(0);
            let chunks = (0..total.div_ceil(64 * 1024)).map(move |i| {
                let len = (total - i * 64 * 1024).min(64 * 1024);
                Ok::<_, std::convert::Infallible>(Bytes::from(vec![b'x'; len]))
            });
            axum::body::Body::from_stream(futures_util::stream::iter(chunks)).into_response()
        }
        _ => Json(record).into_response(),
    }
}

/// `POST /sink`: reads the body as it streams in, keeping only its length
/// (`{"received": N}`); not recorded as a hit.
async fn sink(body: axum::body::Body) -> Response {
    use futures_util::StreamExt as _;
    let mut stream = body.into_data_stream();
    let mut received = 0_u64;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => received += chunk.len() as u64,
            Err(_) => return StatusCode::BAD_REQUEST.into_response(),
        }
    }
    Json(serde_json::json!({ "received": received })).into_response()
}

/// Starts a server on a free port of 127.0.0.1, in a background thread that
/// lives as long as the test process.
pub fn start() -> EchoServer {
    let hits = Arc::new(Mutex::new(Vec::new()));
    let state_hits = hits.clone();
    let addr: SocketAddr = super::background::serve_in_background(1, move |addr| {
        let state = AppState {
            hits: state_hits,
            port: addr.port(),
        };
        Router::new()
            .route("/sink", axum::routing::post(sink))
            .fallback(any(echo))
            .with_state(state)
    });
    EchoServer {
        base: format!("http://127.0.0.1:{}", addr.port()),
        port: addr.port(),
        hits,
    }
}
