//! Routes that need no socket, driven through the router with
//! `tower::ServiceExt::oneshot`: health, readiness, the OpenAPI document,
//! the component list, and the error answers of the one mapping table
//! (unknown tool 404, bad arguments 400, a failing upstream 502).

use std::sync::Arc;

use authhost::{
    server::{app, ServerState},
    workflow::{load, LoadOptions},
};
use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use indoc::indoc;
use tower::ServiceExt as _;

use crate::support::{target_dir, write_workflow};

/// A router over an api_key tool whose upstream does not listen.
fn router() -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_workflow(
        dir.path(),
        indoc!(
            r#"
            general:
              inbound_auth:
                type: none
                trust_user_header: X-User-Id
            authentication:
              key:
                _type: api_key
                api_key: k
            tools:
              items:
                _type: http
                url: http://127.0.0.1:9/items/{id}
                auth_provider: key
            "#
        ),
    );
    let loaded = load(
        &path,
        &LoadOptions {
            plugin_paths: vec![target_dir()],
            ..LoadOptions::default()
        },
    );
    let workflow = loaded
        .workflow
        .unwrap_or_else(|| panic!("{:#?}", loaded.diagnostics));
    let state =
        ServerState::new(workflow, None, "127.0.0.1:0".parse().expect("addr")).expect("state");
    (app(Arc::new(state)), dir)
}

async fn send(router: &axum::Router, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, body)
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).expect("request")
}

fn invoke(tool: &str, body: &str) -> Request<Body> {
    Request::post(format!("/v1/tools/{tool}/invoke"))
        .header("X-User-Id", "alice")
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .expect("request")
}

#[tokio::test]
async fn health_readiness_openapi_and_components() {
    let (router, _dir) = router();
    assert_eq!(
        send(&router, get("/healthz")).await,
        (StatusCode::OK, "ok\n".into())
    );
    assert_eq!(
        send(&router, get("/readyz")).await,
        (StatusCode::OK, "ready\n".into())
    );
    let (status, doc) = send(&router, get("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["paths"]["/v1/tools/{tool}/invoke"]["post"].is_object(),
        "{doc}"
    );
    let (status, components) = send(&router, get("/v1/components")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        components
            .as_array()
            .expect("list")
            .iter()
            .any(|c| c["name"] == "api_key"),
        "{components}"
    );
}

#[tokio::test]
async fn errors_map_to_their_answers() {
    let (router, _dir) = router();
    let (status, body) = send(&router, invoke("itmes", "{}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "not_found");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("did you mean `items`"),
        "{body}"
    );

    let (status, body) = send(&router, invoke("items", "[1, 2]")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, body) = send(&router, invoke("items", r#"{"id": "7"}"#)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"], "bad_gateway");

    let (status, body) = send(&router, get("/v1/credentials/nope")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no X-User-Id: {body}");
    let request = Request::get("/v1/credentials/nope")
        .header("X-User-Id", "alice")
        .body(Body::empty())
        .expect("request");
    let (status, body) = send(&router, request).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
