//! `user_supplied` with the `oauth2_client_credentials` kind: each user
//! hands in their own OAuth2 client (`PUT /v1/credentials/{provider}`), and
//! authhost fetches and renews its token at a real authorization server —
//! only at the token endpoints the operator lists.

use indoc::formatdoc;

use crate::{
    server::{invoke_as, put_credentials, start},
    support::oauth_server,
};

#[tokio::test(flavor = "multi_thread")]
async fn each_user_brings_a_client_whose_token_authhost_fetches_and_renews() {
    let auth = oauth_server::start();
    auth.set(|inner| inner.lifetime = Some(2));
    let running = start(
        &formatdoc!(
            r#"
                general:
                  inbound_auth:
                    type: none
                    trust_user_header: X-User-Id
                authentication:
                  partner:
                    _type: user_supplied
                    kinds: [oauth2_client_credentials]
                    token_url_prefixes: ["{base}/"]
                    ttl: 3600
                tools:
                  me:
                    _type: http
                    url: {base}/api/me
                    auth_provider: partner
            "#,
            base = auth.base,
        ),
        None,
    )
    .await;
    let document = |secret: &str, token_url: &str| {
        serde_json::json!({
            "kind": "oauth2_client_credentials",
            "token_url": token_url,
            "client_id": "authhost-test",
            "client_secret": secret,
            "scopes": ["reports"],
        })
        .to_string()
    };
    let token_url = format!("{}/token", auth.base);

    let (status, body) = invoke_as(&running.base, "me", "alice").await;
    assert_eq!(status, 401, "{body}");

    // Supplying checks the client: one token request.
    let (status, body) = put_credentials(
        &running.base,
        "partner",
        "alice",
        &document("test-secret", &token_url),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(auth.calls("client_credentials"), 1);
    for _ in 0..3 {
        let (status, body) = invoke_as(&running.base, "me", "alice").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["body"]["user"], "client:authhost-test", "{body}");
    }
    // One more token for the calls, then the cache.
    assert_eq!(auth.calls("client_credentials"), 2);
    // Renewed before it expires (a 2 s token is used for 1 s).
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let (status, body) = invoke_as(&running.base, "me", "alice").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(auth.calls("client_credentials"), 3);
    assert_eq!(auth.get(|inner| inner.expired_presented), 0);

    // A refused client (one request), and a token endpoint the operator
    // did not list (none):
    // 400, saying which, never echoing the secret.
    let (status, body) = put_credentials(
        &running.base,
        "partner",
        "bob",
        &document("wrong-secret", &token_url),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("(invalid_client)")),
        "{body}"
    );
    assert!(!body.to_string().contains("wrong-secret"));
    let (status, body) = put_credentials(
        &running.base,
        "partner",
        "bob",
        &document("test-secret", "http://169.254.169.254/latest/api/token"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().is_some_and(
            |m| m.starts_with("token_url: this provider accepts token endpoints under")
        ),
        "{body}"
    );
    assert_eq!(
        auth.calls("client_credentials"),
        4,
        "the unlisted endpoint was never asked"
    );
}
