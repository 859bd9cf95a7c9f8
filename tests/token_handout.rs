//! `POST /v1/credentials/{provider}/token` against a real `authhost serve`:
//! off unless the provider opts in and a rule names the caller, refusals
//! name what refused, the token is the user's own (refreshed when due),
//! never cached, and every answer is an audit line without the token.

use std::time::Duration;

use crate::{
    server::{client, connect_through_link, hs, now, spawn_serve_logged, terminate, HS_SECRET},
    support::{authhost, free_port, oauth_server},
};

/// A caller's JWT: `sub` `user`, plus `extra` claims.
fn caller(user: &str, extra: serde_json::Value) -> String {
    let mut claims = serde_json::json!({"sub": user, "exp": now() + 600});
    if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
        claims.extend(extra.clone());
    }
    hs(&claims)
}

/// The claims `general.server.handout.allow[0]` asks for.
fn sdk_claims() -> serde_json::Value {
    serde_json::json!({"scope": "profile tokens:read", "azp": "sdk-agent"})
}

#[tokio::test(flavor = "multi_thread")]
async fn only_allowed_callers_take_their_own_fresh_token() {
    let auth = oauth_server::start();
    auth.set(|inner| inner.lifetime = Some(4));
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let yaml = format!(
        r#"general:
  server:
    connect:
      verify: none
    handout:
      allow:
        - scopes: [tokens:read]
          claims: {{azp: sdk-agent}}
  store:
    url: sqlite://{dir}/tokens.db
    key_file: {dir}/store.key
  inbound_auth:
    type: jwt
    algorithms: [HS256]
    secret: "{HS_SECRET}"
authentication:
  gh:
    _type: oauth2_auth_code_flow
    _handout: true
    client_id: authhost-test
    client_secret: test-secret
    issuer: {base}
    redirect_uri: http://127.0.0.1:{port}/auth/callback
    scopes: [repo]
  keyed:
    _type: api_key
    _handout: true
    api_key: static-key-not-a-token
  kept_inside:
    _type: api_key
    api_key: another-static-key
tools:
  me:
    _type: http
    url: {base}/api/me
    auth_provider: gh
"#,
        dir = dir.path().display(),
        base = auth.base,
    );
    let config = dir.path().join("workflow.yaml");
    std::fs::write(&config, yaml).expect("write");
    let (server, base, log) = tokio::task::spawn_blocking(move || {
        spawn_serve_logged(authhost(), &config, Some(&format!("127.0.0.1:{port}")))
    })
    .await
    .expect("serve");
    let http = client();
    let take = |provider: &'static str, jwt: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let answer = http
                .post(format!("{base}/v1/credentials/{provider}/token"))
                .bearer_auth(jwt)
                .send()
                .await
                .expect("hand-out");
            let status = answer.status().as_u16();
            let cache = answer
                .headers()
                .get("cache-control")
                .map(|v| v.to_str().expect("ascii").to_owned());
            let body: serde_json::Value =
                serde_json::from_slice(&answer.bytes().await.expect("body")).expect("json");
            (status, cache, body)
        }
    };

    // Not connected yet: the caller is sent to connect, as invoke does.
    let (status, _, body) = take("gh", caller("alice", sdk_claims())).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "authorization_required", "{body}");
    let answer = http
        .post(format!("{base}/v1/tools/me/invoke"))
        .bearer_auth(caller("alice", serde_json::json!({})))
        .send()
        .await
        .expect("invoke");
    let answer = (
        answer.status().as_u16(),
        serde_json::from_slice(&answer.bytes().await.expect("body")).expect("json"),
    );
    connect_through_link(&http, answer).await;

    // Refusals name the key or the rule that refused.
    let (status, _, body) = take(
        "gh",
        caller("alice", serde_json::json!({"azp": "sdk-agent"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["message"], "general.server.handout.allow[0]: the token lacks the scope tokens:read",
        "{body}"
    );
    let (status, _, body) = take(
        "gh",
        caller(
            "alice",
            serde_json::json!({"scope": "tokens:read", "azp": "other-app"}),
        ),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("the claim `azp` is not `sdk-agent`"),
        "{body}"
    );
    let (status, _, body) = take("kept_inside", caller("alice", sdk_claims())).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .starts_with("authentication.kept_inside._handout is not true"),
        "{body}"
    );
    let (status, _, body) = take("keyed", caller("alice", sdk_claims())).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("not an access token"),
        "{body}"
    );
    assert_eq!(take("nope", caller("alice", sdk_claims())).await.0, 404);
    let (status, _, body) = take("gh", "not-a-jwt".to_owned()).await;
    assert_eq!(status, 401, "{body}");

    // Allowed: alice's own token, usable at the API, never cached.
    let (status, cache, first) = take("gh", caller("alice", sdk_claims())).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(cache.as_deref(), Some("no-store"));
    assert_eq!(first["provider"], "gh");
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(first["scopes"], serde_json::json!(["repo"]), "{first}");
    assert!(
        first["expires_at"]
            .as_i64()
            .is_some_and(|at| at > now() as i64),
        "{first}"
    );
    let access = first["access_token"].as_str().expect("token").to_owned();
    assert!(auth.get(|inner| inner.issued_tokens()).contains(&access));
    let me = http
        .get(format!("{}/api/me", auth.base))
        .bearer_auth(&access)
        .send()
        .await
        .expect("api");
    assert_eq!(me.status(), 200);

    // Refreshed when due: past the refresh point, the next hand-out gets a
    // new token from one refresh.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, _, second) = take("gh", caller("alice", sdk_claims())).await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["access_token"], first["access_token"]);
    assert_eq!(auth.calls("refresh_token"), 1);

    // One counter per outcome, one audit line per answer, no token in either.
    let metrics = crate::server::metrics_text(&base).await;
    assert!(
        metrics.contains("authhost_token_handouts_total{provider=\"gh\",outcome=\"granted\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("authhost_token_handouts_total{provider=\"gh\",outcome=\"denied\"} 2"),
        "{metrics}"
    );
    assert!(terminate(server).success());
    let log = log.lock().expect("lock").clone();
    let audit: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("authhost::audit"))
        .collect();
    assert_eq!(
        audit
            .iter()
            .filter(|l| l.contains("outcome=granted"))
            .count(),
        2,
        "{log}"
    );
    assert!(audit.iter().all(|l| l.contains("user=alice")), "{log}");
    assert!(
        audit.iter().any(|l| l.contains("client=sdk-agent")),
        "{log}"
    );
    for token in auth.get(|inner| inner.issued_tokens()) {
        assert!(!log.contains(&token), "a token reached the log");
    }
    assert!(!log.contains("static-key-not-a-token"));
}

#[test]
fn validate_names_handout_mistakes_with_positions() {
    let validate = |yaml: &str| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = crate::support::write_workflow(dir.path(), yaml);
        crate::support::run(authhost(), &["validate", path.to_str().expect("utf-8")]).all()
    };
    let out = validate(
        "general:\n  server:\n    handout:\n      allow:\n        - {}\nauthentication:\n  key:\n    _type: api_key\n    _handout: true\n    api_key: k\n",
    );
    assert!(
        out.contains(":5:11: error: general.server.handout.allow[0]: a rule with no condition would let every caller take tokens"),
        "{out}"
    );
    let out = validate(
        "authentication:\n  key:\n    _type: api_key\n    _handout: yes please\n    api_key: k\n",
    );
    assert!(
        out.contains(":4:15: error: authentication.key._handout: expected true or false"),
        "{out}"
    );
}
