//! `oauth2_token_exchange` through `serve` and `authhost call`: the
//! caller's own token is exchanged (RFC 8693, and Entra's on-behalf-of)
//! at the test authorization server, which checks the subject token and
//! its type; one exchange per caller token, however many calls carry it.

use std::path::PathBuf;

use indoc::formatdoc;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

use crate::{
    server::{now, start},
    support::{authhost, oauth_server, run, write_workflow},
};

/// A caller token the authorization server issued (RS256, kid `test-rsa-1`).
pub(crate) fn caller_token(issuer: &str, user: &str) -> String {
    let key = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/keys/rsa-private.pem"),
    )
    .expect("key");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("test-rsa-1".to_owned());
    encode(
        &header,
        &serde_json::json!({"iss": issuer, "sub": user, "aud": "authhost", "exp": now() + 600}),
        &EncodingKey::from_rsa_pem(&key).expect("rsa"),
    )
    .expect("jwt")
}

fn workflow(base: &str) -> String {
    formatdoc!(
        r#"
            general:
              inbound_auth:
                type: jwt
                algorithms: [RS256]
                jwks_url: {base}/.well-known/jwks.json
                issuer: {base}
                audience: authhost
            authentication:
              orders:
                _type: oauth2_token_exchange
                token_url: {base}/token
                client_id: authhost-test
                client_secret: test-secret
                subject_token_type: jwt
                audience: https://orders.example.com
                scopes: [orders.read]
              graph:
                _type: oauth2_token_exchange
                style: entra_on_behalf_of
                token_url: {base}/token
                client_id: authhost-test
                client_secret: test-secret
                token_endpoint_auth_method: client_secret_post
                scopes: [https://graph.example.com/.default]
            tools:
              orders_me:
                _type: http
                url: {base}/api/me
                auth_provider: orders
              graph_me:
                _type: http
                url: {base}/api/me
                auth_provider: graph
        "#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn each_callers_token_is_exchanged_once_for_a_downstream_token() {
    let auth = oauth_server::start();
    let running = start(&workflow(&auth.base), None).await;
    let http = reqwest::Client::new();
    let invoke = |tool: &'static str, token: String| {
        let (http, base) = (http.clone(), running.base.clone());
        async move {
            let answer = http
                .post(format!("{base}/v1/tools/{tool}/invoke"))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .expect("invoke");
            let status = answer.status().as_u16();
            let body: serde_json::Value =
                serde_json::from_slice(&answer.bytes().await.expect("body")).expect("json");
            (status, body)
        }
    };
    let alice = caller_token(&auth.base, "alice");
    for _ in 0..3 {
        let (status, body) = invoke("orders_me", alice.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["body"]["user"], "alice via authhost-test", "{body}");
    }
    let (_, body) = invoke("orders_me", caller_token(&auth.base, "bob")).await;
    assert_eq!(body["body"]["user"], "bob via authhost-test", "{body}");
    let (_, body) = invoke("graph_me", alice.clone()).await;
    assert_eq!(body["body"]["user"], "alice via authhost-test", "{body}");

    let exchanges = auth.get(|inner| inner.exchanges.clone());
    assert_eq!(
        exchanges.len(),
        3,
        "one per (provider, caller token): {exchanges:?}"
    );
    let first = &exchanges[0];
    assert_eq!(
        first["grant_type"],
        "urn:ietf:params:oauth:grant-type:token-exchange"
    );
    assert_eq!(
        first["subject_token_type"],
        "urn:ietf:params:oauth:token-type:jwt"
    );
    assert_eq!(first["audience"], "https://orders.example.com");
    assert_eq!(first["scope"], "orders.read");
    assert_eq!(first["subject"], "alice");
    let obo = &exchanges[2];
    assert_eq!(
        obo["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    assert_eq!(obo["requested_token_use"], "on_behalf_of");
    assert_eq!(obo["scope"], "https://graph.example.com/.default");
    assert_eq!(obo["client"], "authhost-test");

    // A tampered caller token never reaches the exchange: the inbound
    // check refuses it, and the answer does not repeat it.
    let forged = {
        let mut token = caller_token(&auth.base, "mallory");
        token.push('x');
        token
    };
    let (status, body) = invoke("orders_me", forged.clone()).await;
    assert_eq!(status, 401, "{body}");
    assert!(!body.to_string().contains(&forged));
    assert_eq!(auth.get(|inner| inner.exchanges.len()), 3);
}

#[test]
fn the_cli_exchanges_a_token_from_the_environment() {
    let auth = oauth_server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_workflow(dir.path(), workflow(&auth.base));
    let path = path.display().to_string();
    let mut call = authhost();
    call.env("CALLER_TOKEN", caller_token(&auth.base, "carol"));
    let out = run(
        call,
        &[
            "call",
            "orders_me",
            "--config",
            &path,
            "--caller-token-env",
            "CALLER_TOKEN",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("carol via authhost-test"),
        "{}",
        out.stdout
    );

    // Without a caller token: said, exit 2.
    let out = run(authhost(), &["call", "orders_me", "--config", &path]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .contains("exchanges the caller's own token, and this call presented none"),
        "{}",
        out.stderr
    );
    // Config mistakes name the key.
    let bad = write_workflow(
        dir.path(),
        "authentication:\n  graph:\n    _type: oauth2_token_exchange\n    style: entra_on_behalf_of\n    token_url: https://login.example.com/token\n    client_id: a\n    client_secret: b\n",
    );
    let out = run(authhost(), &["validate", &bad.display().to_string()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stdout.contains("authentication.graph"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("scopes: required with entra_on_behalf_of"),
        "{}",
        out.stdout
    );
}
