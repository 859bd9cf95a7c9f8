//! `oauth2_jwt_bearer` (RFC 7523 §2.1) through the binary and `serve`
//! against the test authorization server, which checks the assertion as
//! §3 says (signature, `iss`, `sub`, `aud`, `exp`, lifetime, `jti`).

use std::path::PathBuf;

use indoc::formatdoc;

use crate::{
    server::start,
    support::{authhost, oauth_server, run, write_workflow},
};

fn keys() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/keys")
}

/// A Google-style service account key file for the test RSA key.
fn service_account_file(dir: &std::path::Path, token_uri: &str) -> PathBuf {
    let file = dir.join("service-account.json");
    let account = serde_json::json!({
        "type": "service_account",
        "client_email": "reports@test-project.iam.example.com",
        "private_key_id": "test-rsa-1",
        "private_key": std::fs::read_to_string(keys().join("rsa-private.pem")).expect("key"),
        "token_uri": token_uri,
    });
    std::fs::write(&file, account.to_string()).expect("write");
    file
}

#[test]
fn a_service_account_key_file_signs_the_assertion_and_scopes_go_in_a_claim() {
    let server = oauth_server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let account = service_account_file(dir.path(), &format!("{}/token", server.base));
    let yaml = formatdoc!(
        r#"
            authentication:
              google:
                _type: oauth2_jwt_bearer
                service_account_file: {account}
                scopes: [repo, reports.read]
            tools:
              me:
                _type: http
                url: {base}/api/me
                auth_provider: google
        "#,
        account = account.display(),
        base = server.base
    );
    let path = write_workflow(dir.path(), yaml);
    let out = run(
        authhost(),
        &[
            "call",
            "me",
            "--config",
            &path.display().to_string(),
            "--concurrency",
            "4",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(out.stdout.trim(), "4 200", "{}", out.all());
    // Four calls at once, one assertion exchanged.
    assert_eq!(
        server.calls("urn:ietf:params:oauth:grant-type:jwt-bearer"),
        1
    );
    let claims = server.get(|inner| inner.assertions.clone());
    let claims = &claims[0];
    assert_eq!(claims["iss"], "reports@test-project.iam.example.com");
    assert_eq!(claims["sub"], "reports@test-project.iam.example.com");
    assert_eq!(claims["aud"], format!("{}/token", server.base));
    assert_eq!(claims["scope"], "repo reports.read");
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        300
    );
    assert!(!out.all().contains("PRIVATE KEY"));
}

#[tokio::test(flavor = "multi_thread")]
async fn acting_as_each_user_or_as_one_subject_shared_by_all() {
    let auth = oauth_server::start();
    let running = start(
        &formatdoc!(
            r#"
                general:
                  inbound_auth:
                    type: none
                    trust_user_header: X-User-Id
                authentication:
                  delegated:
                    _type: oauth2_jwt_bearer
                    issuer: ec-service
                    private_key_algorithm: ES256
                    private_key: |
                {key}
                    token_url: {base}/token
                    scopes: [mail.read]
                    subject_is_user: true
                  fixed:
                    _type: oauth2_jwt_bearer
                    issuer: ec-service
                    private_key_algorithm: ES256
                    private_key: |
                {key}
                    token_url: {base}/token
                    subject: robot@example.com
                    client_id: authhost-test
                    client_secret: test-secret
                tools:
                  as_user:
                    _type: http
                    url: {base}/api/me
                    auth_provider: delegated
                  as_robot:
                    _type: http
                    url: {base}/api/me
                    auth_provider: fixed
            "#,
            base = auth.base,
            key = std::fs::read_to_string(keys().join("ec-private.pem"))
                .expect("key")
                .lines()
                .map(|l| format!("          {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        None,
    )
    .await;
    let http = reqwest::Client::new();
    let invoke = |tool: &'static str, user: &'static str| {
        let (http, base) = (http.clone(), running.base.clone());
        async move {
            let answer: serde_json::Value = http
                .post(format!("{base}/v1/tools/{tool}/invoke"))
                .header("X-User-Id", user)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .expect("invoke")
                .bytes()
                .await
                .map(|b| serde_json::from_slice(&b).expect("json"))
                .expect("body");
            answer
        }
    };
    for user in ["alice@example.com", "bob@example.com"] {
        let answer = invoke("as_user", user).await;
        assert_eq!(answer["status"], 200, "{answer}");
        assert_eq!(answer["body"]["user"], user, "{answer}");
        let answer = invoke("as_robot", user).await;
        assert_eq!(answer["body"]["user"], "robot@example.com", "{answer}");
    }
    // One token per subject: two users, one robot.
    let grant = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    assert_eq!(auth.calls(grant), 3);
    let claims = auth.get(|inner| inner.assertions.clone());
    assert_eq!(claims[0]["sub"], "alice@example.com");
    assert!(claims
        .iter()
        .all(|c| c["iss"] == "ec-service" && c.get("scope").is_none()));
    assert!(auth.get(|inner| inner.refused_assertions.is_empty()));
}

#[test]
fn config_mistakes_name_the_key_and_never_show_the_key_material() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            "issuer: svc\n    private_key: ${KEY}\n    token_url: https://auth.example.com/token\n    subject: a\n    subject_is_user: true",
            "subject: not with subject_is_user",
        ),
        (
            "service_account_json: ${KEY}\n    token_url: https://auth.example.com/token",
            "service_account_json: not a service account key",
        ),
        (
            "issuer: svc\n    private_key: ${KEY}\n    token_url: https://auth.example.com/token\n    extra_claims: {sub: admin}",
            "extra_claims.sub: is set by authhost",
        ),
        (
            "issuer: svc\n    private_key: ${KEY}",
            "token_url: required",
        ),
        (
            "issuer: svc\n    private_key: ${KEY}\n    token_url: https://auth.example.com/token\n    assertion_lifetime: 7200",
            "assertion_lifetime: must be between 1 and 3600",
        ),
    ];
    for (entry, expected) in cases {
        let path = write_workflow(
            dir.path(),
            format!("authentication:\n  svc:\n    _type: oauth2_jwt_bearer\n    {entry}\n"),
        );
        let mut cmd = authhost();
        cmd.env(
            "KEY",
            std::fs::read_to_string(keys().join("rsa-private.pem")).expect("key"),
        );
        let out = run(cmd, &["validate", &path.display().to_string()]);
        assert_eq!(out.code, 2, "{entry}: {}", out.all());
        assert!(out.stdout.contains(expected), "{entry}: {}", out.stdout);
        assert!(out.stdout.contains("authentication.svc"), "{}", out.stdout);
        assert!(!out.all().contains("PRIVATE KEY"), "{}", out.all());
    }
}
