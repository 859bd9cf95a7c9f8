//! `authhost serve` through real sockets: inbound JWT (HS, RS, ES) and its
//! attack catalogue, tool calls with the caller's credentials, 401 with an
//! `auth_url`, the browser flow through the server's callback, the caller's
//! credentials endpoints, and plugin failures costing only their call.

use indoc::{formatdoc, indoc};
use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::Stdio,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::support::{echo, free_port, oauth_server, target_dir, write_workflow, PluginDir};
use authhost::{
    server::{self, ServerState},
    workflow::{load, LoadOptions},
};
use base64::Engine as _;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

pub(crate) const HS_SECRET: &str = "a-test-secret-of-at-least-32-bytes!!";

pub(crate) struct Running {
    pub(crate) base: String,
    _dir: tempfile::TempDir,
    _plugins: Option<PluginDir>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn keys_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/keys")
}

/// Starts the server on a free loopback port; `yaml` may use `{port}` for
/// the server's own port and `{keys}` for the test keys folder.
pub(crate) async fn start(yaml: &str, plugins: Option<PluginDir>) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("workflow.yaml");
    let yaml = yaml
        .replace("{port}", &addr.port().to_string())
        .replace("{keys}", &keys_dir().display().to_string())
        .replace("{dir}", &dir.path().display().to_string());
    std::fs::write(&path, yaml).expect("write");
    let mut plugin_paths = vec![target_dir()];
    if let Some(p) = &plugins {
        plugin_paths.push(p.path().to_path_buf());
    }
    let loaded = load(
        &path,
        &LoadOptions {
            plugin_paths,
            ..LoadOptions::default()
        },
    );
    let workflow = loaded
        .workflow
        .unwrap_or_else(|| panic!("{:#?}", loaded.diagnostics));
    let store = if workflow.needs_store() {
        Some(Arc::new(workflow.open_store().await.expect("store").0))
    } else {
        None
    };
    let state = Arc::new(ServerState::new(workflow, store, addr).expect("state"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    Running {
        base: format!("http://{addr}"),
        _dir: dir,
        _plugins: plugins,
        stop: Some(stop),
    }
}

/// Runs `authhost serve --config CONFIG [--bind BIND]` with `cmd`'s
/// environment; returns once it listens, with its base URL. Its stderr is
/// drained in the background so a chatty server never blocks.
pub(crate) fn spawn_serve(
    cmd: std::process::Command,
    config: &std::path::Path,
    bind: Option<&str>,
) -> (std::process::Child, String) {
    let (child, base, _) = spawn_serve_logged(cmd, config, bind);
    (child, base)
}

/// Everything a spawned `serve` wrote to stderr so far.
pub(crate) type ServeLog = Arc<std::sync::Mutex<String>>;

/// [`spawn_serve`], keeping what the server writes to stderr.
pub(crate) fn spawn_serve_logged(
    mut cmd: std::process::Command,
    config: &std::path::Path,
    bind: Option<&str>,
) -> (std::process::Child, String, ServeLog) {
    cmd.arg("serve").arg("--config").arg(config);
    if let Some(bind) = bind {
        cmd.args(["--bind", bind]);
    }
    let mut child = cmd
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn authhost serve");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    while !line.contains("listening on ") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).expect("read") > 0,
            "authhost serve exited before listening"
        );
    }
    let base = line
        .trim()
        .rsplit_once("listening on ")
        .expect("listening line")
        .1
        .to_owned();
    let log = ServeLog::default();
    let kept = log.clone();
    std::thread::spawn(move || {
        let mut line = String::new();
        while matches!(stderr.read_line(&mut line), Ok(n) if n > 0) {
            kept.lock().expect("lock").push_str(&line);
            line.clear();
        }
    });
    (child, base, log)
}

/// The `/metrics` text of the server at `base`.
pub(crate) async fn metrics_text(base: &str) -> String {
    client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

/// SIGTERM, then the exit status.
pub(crate) fn terminate(mut child: std::process::Child) -> std::process::ExitStatus {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait().expect("wait")
}

/// A response body as JSON.
async fn json(response: reqwest::Response) -> serde_json::Value {
    serde_json::from_slice(&response.bytes().await.expect("body")).expect("json")
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

pub(crate) fn claims(sub: &str, exp_offset: i64, iss: &str, aud: &str) -> serde_json::Value {
    serde_json::json!({"sub": sub, "exp": (now() as i64 + exp_offset), "iss": iss, "aud": aud})
}

pub(crate) fn hs(claims: &serde_json::Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(HS_SECRET.as_bytes()),
    )
    .expect("jwt")
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn invoke(
    base: &str,
    tool: &str,
    auth: Option<&str>,
    body: serde_json::Value,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let mut request = client()
        .post(format!("{base}/v1/tools/{tool}/invoke"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = request.send().await.expect("invoke");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let json = serde_json::from_slice(&response.bytes().await.expect("body"))
        .unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

/// A workflow with the `gh` auth-code provider on `auth_base`, a SQLite
/// store, callers named by `X-User-Id`, the tool `me` (`{auth_base}/api/me`),
/// and `server_extra` under `general.server` (YAML, already indented).
fn oauth_workflow(auth_base: &str, server_extra: &str) -> String {
    formatdoc!(
        r#"
            general:
              server:
                bind: 127.0.0.1:0
                connect:
                  verify: none
            {server_extra}  store:
                url: sqlite://{{dir}}/tokens.db
              inbound_auth:
                type: none
                trust_user_header: X-User-Id
            authentication:
              gh:
                _type: oauth2_auth_code_flow
                client_id: authhost-test
                client_secret: test-secret
                issuer: {auth_base}
                redirect_uri: http://127.0.0.1:{{port}}/auth/callback
                scopes: [repo]
            tools:
              me:
                _type: http
                url: {auth_base}/api/me
                auth_provider: gh
        "#
    )
}

/// A replica's workflow: the auth-code provider `provider` on `auth_base`
/// with its tokens in the Postgres store at `postgres` (key file `key`),
/// callers named by `X-User-Id`, the tool `me`. `redirect_port` is a port
/// or the `{port}` placeholder.
fn postgres_workflow(
    postgres: &str,
    key: &std::path::Path,
    provider: &str,
    auth_base: &str,
    redirect_port: &str,
) -> String {
    formatdoc!(
        r#"
            general:
              server:
                connect:
                  verify: none
              store:
                url: {postgres}
                key_file: {key}
              inbound_auth:
                type: none
                trust_user_header: X-User-Id
            authentication:
              {provider}:
                _type: oauth2_auth_code_flow
                client_id: authhost-test
                client_secret: test-secret
                issuer: {auth_base}
                redirect_uri: http://127.0.0.1:{redirect_port}/auth/callback
            tools:
              me:
                _type: http
                url: {auth_base}/api/me
                auth_provider: {provider}
        "#,
        key = key.display(),
    )
}

/// Three `authhost serve` processes on the Postgres store at `postgres`
/// (key file and workflow in `dir`) with the auth-code provider `provider`
/// on `auth_base`; the first one's port is the redirect URI's. The first
/// replica creates the key file; the others start after it. Killed when
/// the returned guard drops.
fn postgres_replicas(
    postgres: &str,
    dir: &std::path::Path,
    provider: &str,
    auth_base: &str,
) -> (crate::support::Children, Vec<String>) {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let yaml = postgres_workflow(
        postgres,
        &dir.join("store.key"),
        provider,
        auth_base,
        &ports[0].to_string(),
    );
    let path = write_workflow(dir, yaml);
    let mut children = crate::support::Children::default();
    let mut bases = Vec::new();
    for port in &ports {
        let (child, base) = spawn_serve(
            crate::support::authhost(),
            &path,
            Some(&format!("127.0.0.1:{port}")),
        );
        children.0.push(child);
        bases.push(base);
    }
    (children, bases)
}

/// Plays the browser through the `auth_url` of an `authorization_required`
/// answer (`verify: none`) to the callback page, which must say authorized.
pub(crate) async fn connect_through_link(http: &reqwest::Client, answer: (u16, serde_json::Value)) {
    let (status, body) = answer;
    assert_eq!(status, 401, "{body}");
    let callback = follow_to_callback(http, body["auth_url"].as_str().expect("link")).await;
    assert_eq!(
        http.get(&callback).send().await.expect("callback").status(),
        200
    );
}

/// Plays the browser from an `auth_url` (a connect link, or the
/// authorization server's URL) to the redirect back: the callback URL.
pub(crate) async fn follow_to_callback(http: &reqwest::Client, url: &str) -> String {
    let mut url = url.to_owned();
    for _ in 0..4 {
        let response = http.get(&url).send().await.expect("browser");
        assert_eq!(response.status(), 303, "{url}");
        let next = response.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        if next.contains("/auth/callback?") {
            return next;
        }
        url = next;
    }
    panic!("no redirect to the callback from {url}");
}

fn jwt_workflow(echo: &echo::EchoServer, inbound: &str) -> String {
    formatdoc!(
        r#"
            general:
              inbound_auth:
            {inbound}
            authentication:
              key:
                _type: api_key
                api_key: upstream-key-1
            tools:
              echo:
                _type: http
                url: {}/items/{{id}}
                auth_provider: key
        "#,
        echo.base
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn hs256_callers_and_the_attack_catalogue() {
    let echo = echo::start();
    let inbound = format!(
        "    type: jwt\n    algorithms: [HS256]\n    secret: \"{HS_SECRET}\"\n    issuer: https://idp.test\n    audience: authhost\n"
    );
    let server = start(&jwt_workflow(&echo, &inbound), None).await;
    let good = hs(&claims("alice", 300, "https://idp.test", "authhost"));

    let (status, _, body) = invoke(
        &server.base,
        "echo",
        Some(&format!("Bearer {good}")),
        serde_json::json!({"id": "a b"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], 200);
    assert_eq!(body["body"]["path"], "/items/a%20b");
    assert_eq!(body["body"]["headers"]["x-api-key"], "upstream-key-1");

    let none_alg = format!(
        "{}.{}.",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(claims("alice", 300, "https://idp.test", "authhost").to_string())
    );
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "missing bearer token"),
        (Some("Bearer not.a.jwt".into()), "malformed token"),
        (
            Some(format!("Basic {good}")),
            "expected `Authorization: Bearer <jwt>`",
        ),
        (
            Some(format!(
                "Bearer {}",
                hs(&claims("alice", -600, "https://idp.test", "authhost"))
            )),
            "the token has expired",
        ),
        (
            Some(format!(
                "Bearer {}",
                hs(&claims("alice", 300, "https://evil.test", "authhost"))
            )),
            "wrong issuer",
        ),
        (
            Some(format!(
                "Bearer {}",
                hs(&claims("alice", 300, "https://idp.test", "other"))
            )),
            "wrong audience",
        ),
        (Some(format!("Bearer {none_alg}")), ""),
        (
            Some(format!("Bearer {}", "x".repeat(9000))),
            "authorization header too large",
        ),
        (
            Some(format!(
                "Bearer {}",
                encode(
                    &Header::new(Algorithm::HS256),
                    &claims("alice", 300, "https://idp.test", "authhost"),
                    &EncodingKey::from_secret(b"another-secret-of-32-bytes-or-more!!")
                )
                .expect("jwt")
            )),
            "bad signature",
        ),
    ];
    for (auth, reason) in cases {
        let (status, headers, body) = invoke(
            &server.base,
            "echo",
            auth.as_deref(),
            serde_json::json!({"id": "1"}),
        )
        .await;
        assert_eq!(status, 401, "{auth:?}: {body}");
        assert_eq!(
            headers["www-authenticate"],
            "Bearer error=\"invalid_token\""
        );
        assert_eq!(body["error"], "invalid_token");
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains(reason)),
            "{auth:?}: {body}"
        );
        if let Some(auth) = &auth {
            assert!(
                !body.to_string().contains(
                    auth.trim_start_matches("Bearer ")
                        .trim_start_matches("Basic ")
                ),
                "token echoed"
            );
        }
    }
    assert!(
        echo.hits().len() == 1,
        "refused callers reached the upstream"
    );

    // Errors of the call itself keep their status.
    let bearer = format!("Bearer {good}");
    let (status, _, body) =
        invoke(&server.base, "nope", Some(&bearer), serde_json::json!({})).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, _, body) =
        invoke(&server.base, "echo", Some(&bearer), serde_json::json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"]
        .as_str()
        .is_some_and(|m| m.contains("missing argument `id`")));
    let response = client()
        .post(format!("{}/v1/tools/echo/invoke", server.base))
        .header("authorization", &bearer)
        .body("[1, 2]")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 400);
}

/// A JWT for `sub`-like `claims` (with `exp` in 5 minutes) signed with `key`.
fn signed(algorithm: Algorithm, key: &EncodingKey, mut claims: serde_json::Value) -> String {
    claims["exp"] = (now() + 300).into();
    encode(&Header::new(algorithm), &claims, key).expect("jwt")
}

/// `invoke` of the `echo` tool of `jwt_workflow` with a bearer token.
async fn echo_with(base: &str, token: &str) -> (u16, serde_json::Value) {
    let (status, _, body) = invoke(
        base,
        "echo",
        Some(&format!("Bearer {token}")),
        serde_json::json!({"id": "1"}),
    )
    .await;
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn rs256_es256_and_algorithm_confusion() {
    let echo = echo::start();
    let rsa = start(
        &jwt_workflow(
            &echo,
            "    type: jwt\n    algorithms: [RS256]\n    public_key_file: {keys}/rsa-public.pem\n",
        ),
        None,
    )
    .await;
    let rsa_key =
        EncodingKey::from_rsa_pem(&std::fs::read(keys_dir().join("rsa-private.pem")).expect("key"))
            .expect("rsa");
    let (status, body) = echo_with(
        &rsa.base,
        &signed(
            Algorithm::RS256,
            &rsa_key,
            serde_json::json!({"sub": "rita"}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // HS256 signed with the RSA public key as the HMAC secret.
    let public = std::fs::read(keys_dir().join("rsa-public.pem")).expect("key");
    let confused = signed(
        Algorithm::HS256,
        &EncodingKey::from_secret(&public),
        serde_json::json!({"sub": "rita"}),
    );
    let (status, body) = echo_with(&rsa.base, &confused).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("algorithm not accepted"))
    );

    let ec = start(&jwt_workflow(&echo, "    type: jwt\n    algorithms: [ES256]\n    public_key_file: {keys}/ec-public.pem\n    user_claim: user_id\n"), None).await;
    let ec_key =
        EncodingKey::from_ec_pem(&std::fs::read(keys_dir().join("ec-private.pem")).expect("key"))
            .expect("ec");
    let (status, body) = echo_with(
        &ec.base,
        &signed(
            Algorithm::ES256,
            &ec_key,
            serde_json::json!({"user_id": "erin"}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = echo_with(
        &ec.base,
        &signed(
            Algorithm::ES256,
            &ec_key,
            serde_json::json!({"sub": "erin"}),
        ),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("the token has no `user_id` claim"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn authorization_through_the_server_then_calls_succeed() {
    let auth = oauth_server::start();
    let yaml = oauth_workflow(&auth.base, "");
    let server = start(&yaml, None).await;
    let http = client();
    let as_user = |user: &str| {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-user-id", user.parse().expect("header"));
        headers
    };

    // Not authorized yet: 401 with the URL where alice authorizes.
    let response = http
        .post(format!("{}/v1/tools/me/invoke", server.base))
        .headers(as_user("alice"))
        .send()
        .await
        .expect("invoke");
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = json(response).await;
    assert_eq!(body["error"], "authorization_required");
    assert_eq!(body["provider"], "gh");
    let auth_url = body["auth_url"].as_str().expect("auth_url").to_owned();
    assert!(
        auth_url.starts_with(&format!("{}/v1/auth/flows/", server.base)),
        "{auth_url}"
    );

    // The browser: connect link → authorization server → the server's callback.
    let callback = follow_to_callback(&http, &auth_url).await;
    assert!(
        callback.starts_with(&format!("{}/auth/callback?", server.base)),
        "{callback}"
    );
    let page = http.get(&callback).send().await.expect("callback");
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .expect("page")
        .contains("User <b>alice</b> is now authorized for <b>gh</b>"));
    // The same redirect again: refused.
    assert_eq!(
        http.get(&callback).send().await.expect("replay").status(),
        400
    );

    let response = http
        .post(format!("{}/v1/tools/me/invoke", server.base))
        .headers(as_user("alice"))
        .send()
        .await
        .expect("invoke");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = json(response).await;
    assert_eq!(body["body"]["user"], "test-user");

    // Credentials endpoints are the caller's own.
    let mine: serde_json::Value = http
        .get(format!("{}/v1/credentials", server.base))
        .headers(as_user("alice"))
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .map(|b| serde_json::from_slice::<serde_json::Value>(&b).expect("json"))
        .expect("body");
    assert_eq!(mine[0]["provider"], "gh");
    assert_eq!(mine[0]["authorized"], true);
    assert!(!mine.to_string().contains("access-"), "{mine}");
    let bobs: serde_json::Value = http
        .get(format!("{}/v1/credentials/gh", server.base))
        .headers(as_user("bob"))
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .map(|b| serde_json::from_slice::<serde_json::Value>(&b).expect("json"))
        .expect("body");
    assert_eq!(bobs["authorized"], false);
    assert_eq!(
        http.delete(format!("{}/v1/credentials/gh", server.base))
            .headers(as_user("bob"))
            .send()
            .await
            .expect("delete")
            .status(),
        404
    );
    assert_eq!(
        http.delete(format!("{}/v1/credentials/gh", server.base))
            .headers(as_user("alice"))
            .send()
            .await
            .expect("delete")
            .status(),
        204
    );
    assert_eq!(auth.get(|s| s.revocations), 1);
    let response = http
        .post(format!("{}/v1/tools/me/invoke", server.base))
        .headers(as_user("alice"))
        .send()
        .await
        .expect("invoke");
    assert_eq!(response.status(), 401);

    // Without the trusted header: refused.
    let response = http
        .post(format!("{}/v1/tools/me/invoke", server.base))
        .send()
        .await
        .expect("invoke");
    assert_eq!(response.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_or_hanging_plugin_costs_only_its_call() {
    let echo = echo::start();
    let plugins = PluginDir::new();
    plugins.install("fixture_faulty", "faulty");
    let yaml = formatdoc!(
        r#"
            general:
              timeouts:
                plugin_call: 500ms
            authentication:
              boom:
                _type: panic_in_future
              slow:
                _type: never_completes
              key:
                _type: api_key
                api_key: k
            tools:
              boom:
                _type: http
                url: {e}/x
                auth_provider: boom
              slow:
                _type: http
                url: {e}/x
                auth_provider: slow
              fine:
                _type: http
                url: {e}/x
                auth_provider: key
        "#,
        e = echo.base
    );
    let server = start(&yaml, Some(plugins)).await;
    let (status, _, body) = invoke(&server.base, "boom", None, serde_json::json!({})).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("panicked")),
        "{body}"
    );
    let (status, _, body) = invoke(&server.base, "slow", None, serde_json::json!({})).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("did not complete within 500ms")),
        "{body}"
    );
    let (status, _, _) = invoke(&server.base, "fine", None, serde_json::json!({})).await;
    assert_eq!(status, 200);
    let health = client()
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    let ready = client()
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), 200);
    let components: serde_json::Value = client()
        .get(format!("{}/v1/components", server.base))
        .send()
        .await
        .expect("components")
        .bytes()
        .await
        .map(|b| serde_json::from_slice::<serde_json::Value>(&b).expect("json"))
        .expect("body");
    assert!(components
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["name"] == "api_key")));
    let metrics = metrics_text(&server.base).await;
    for line in [
        "authhost_invokes_total{outcome=\"failed\"} 2",
        "authhost_invokes_total{outcome=\"upstream\"} 1",
        "authhost_provider_invokes_total{provider=\"boom\",outcome=\"failed\"} 1",
        "authhost_provider_invokes_total{provider=\"slow\",outcome=\"failed\"} 1",
        "authhost_provider_invokes_total{provider=\"key\",outcome=\"upstream\"} 1",
        "authhost_upstream_latency_seconds_count 1",
        "# TYPE authhost_token_refreshes_total counter",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing `{line}` in\n{metrics}"
        );
    }
}

#[test]
fn trusting_a_user_header_off_loopback_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_workflow(
        dir.path(),
        indoc!(
            r#"
            general:
              inbound_auth:
                type: none
                trust_user_header: X-User-Id
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
    let workflow = loaded.workflow.expect("valid");
    let err = ServerState::new(workflow, None, "0.0.0.0:8080".parse().expect("addr"))
        .expect_err("refused");
    assert!(
        err.contains("accepted only when general.server.bind is a loopback address"),
        "{err}"
    );
}

#[test]
fn serve_runs_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_workflow(dir.path(), crate::support::API_KEY_WORKFLOW);
    let (child, base) = spawn_serve(crate::support::authhost(), &path, Some("127.0.0.1:0"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let status = runtime.block_on(async {
        client()
            .get(format!("{base}/healthz"))
            .send()
            .await
            .expect("health")
            .status()
    });
    assert_eq!(status, 200);
    let exit = terminate(child);
    assert!(exit.success(), "{exit:?}");
    let _ = Duration::ZERO;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_authenticator_plugin_decides_who_calls() {
    let echo = echo::start();
    let plugins = PluginDir::new();
    plugins.install("fixture_faulty", "faulty");
    let yaml = jwt_workflow(&echo, "    type: plugin\n    authenticator: fixed_user\n");
    let server = start(&yaml, Some(plugins)).await;
    let (status, _, body) = invoke(
        &server.base,
        "echo",
        Some("Bearer letmein"),
        serde_json::json!({"id": "1"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, headers, body) = invoke(
        &server.base,
        "echo",
        Some("Bearer wrong"),
        serde_json::json!({"id": "1"}),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["message"], "credential refused");
    assert!(headers.contains_key("www-authenticate"));
    let (status, _, _) = invoke(&server.base, "echo", None, serde_json::json!({"id": "1"})).await;
    assert_eq!(status, 401);
}

/// Three `authhost serve` processes on one Postgres behave as one: a user
/// authorized through A is served by B and C, a state created by A is
/// accepted by B's callback once, and 1 000 concurrent invokes spread over
/// the three with an expired token cause exactly one refresh.
#[test]
fn three_replicas_on_postgres_refresh_once() {
    let Some(postgres) = crate::support::postgres_url() else {
        return;
    };
    let auth = oauth_server::start();
    auth.set(|s| s.lifetime = Some(1));
    let dir = tempfile::tempdir().expect("tempdir");
    let provider = crate::support::unique("gh").replace('-', "_");
    let (children, bases) = postgres_replicas(&postgres, dir.path(), &provider, &auth.base);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    runtime.block_on(async {
        let http = client();
        let invoke_as = |base: String, user: &'static str| {
            let http = http.clone();
            async move {
                http.post(format!("{base}/v1/tools/me/invoke"))
                    .header("x-user-id", user)
                    .send()
                    .await
                    .expect("invoke")
            }
        };
        // A hands out the authorization URL; the state is accepted by B's callback, once.
        let response = invoke_as(bases[0].clone(), "alice").await;
        assert_eq!(response.status(), 401);
        let auth_url = json(response).await["auth_url"]
            .as_str()
            .expect("auth_url")
            .to_owned();
        let location = follow_to_callback(&http, &auth_url).await;
        let via_b = location.replace(&bases[0], &bases[1]);
        assert_eq!(
            http.get(&via_b).send().await.expect("callback").status(),
            200
        );
        assert_eq!(
            http.get(&location)
                .send()
                .await
                .expect("replay on A")
                .status(),
            400
        );
        // C serves alice.
        assert_eq!(invoke_as(bases[2].clone(), "alice").await.status(), 200);

        // Let the token expire, then 1 000 calls at once over the three.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        auth.set(|s| {
            s.lifetime = Some(3600);
            s.refresh_delay = Duration::from_millis(100);
        });
        let before = auth.calls("refresh_token");
        let calls = (0..1000).map(|i| invoke_as(bases[i % 3].clone(), "alice"));
        let responses = futures_util::future::join_all(calls).await;
        let ok = responses.iter().filter(|r| r.status() == 200).count();
        assert_eq!(ok, 1000);
        assert_eq!(auth.calls("refresh_token") - before, 1);
        assert_eq!(auth.get(|s| s.reuse_detected), 0);
    });
    drop(children);
}

/// Sentinel secrets in config, the inbound key and the issued tokens appear
/// in no log line (at TRACE), no response of authhost's own, and no
/// plaintext byte of the token store.
#[test]
fn secret_leak_sweep_at_trace() {
    const CLIENT_SECRET: &str = "test-secret";
    const API_KEY: &str = "SENTINEL-api-key-71f3";
    const HS: &str = "SENTINEL-hs-secret-0123456789abcdef!!";
    const SUPPLIED: &str = "SENTINEL-supplied-4d2e";
    let auth = oauth_server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let yaml = formatdoc!(
        r#"
            general:
              server:
                connect:
                  verify: none
              store:
                url: sqlite://{db}
              inbound_auth:
                type: jwt
                algorithms: [HS256]
                secret: ${{INBOUND_SECRET}}
            authentication:
              gh:
                _type: oauth2_auth_code_flow
                client_id: authhost-test
                client_secret: ${{GH_SECRET}}
                issuer: {base}
                redirect_uri: http://127.0.0.1:{port}/auth/callback
              key:
                _type: api_key
                api_key: ${{API_KEY}}
              own:
                _type: user_supplied
                persist: true
            tools:
              me:
                _type: http
                url: {base}/api/me
                auth_provider: gh
              keyed:
                _type: http
                url: {base}/api/me
                auth_provider: key
        "#,
        db = dir.path().join("tokens.db").display(),
        base = auth.base
    );
    let path = write_workflow(dir.path(), yaml);
    let log_path = dir.path().join("server.log");
    let child = crate::support::authhost()
        .env("RUST_LOG", "trace")
        .env("INBOUND_SECRET", HS)
        .env("GH_SECRET", CLIENT_SECRET)
        .env("API_KEY", API_KEY)
        .args([
            "serve",
            "--config",
            &path.display().to_string(),
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .stderr(std::fs::File::create(&log_path).expect("log file"))
        .spawn()
        .expect("spawn");
    let base = format!("http://127.0.0.1:{port}");
    let token = encode(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({"sub": "alice", "exp": now() + 300}),
        &EncodingKey::from_secret(HS.as_bytes()),
    )
    .expect("jwt");
    let bearer = format!("Bearer {token}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let mut bodies = String::new();
    runtime.block_on(async {
        let http = client();
        for _ in 0..100 {
            if http.get(format!("{base}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let post = |tool: &str, auth: Option<&str>| {
            let mut r = http.post(format!("{base}/v1/tools/{tool}/invoke"));
            if let Some(auth) = auth {
                r = r.header("authorization", auth.to_owned());
            }
            r.send()
        };
        let first = post("me", Some(&bearer)).await.expect("invoke");
        let first = String::from_utf8_lossy(&first.bytes().await.expect("body")).into_owned();
        let auth_url = serde_json::from_str::<serde_json::Value>(&first).expect("json")["auth_url"]
            .as_str()
            .expect("url")
            .to_owned();
        bodies += &first;
        let location = follow_to_callback(&http, &auth_url).await;
        bodies += &http
            .get(&location)
            .send()
            .await
            .expect("callback")
            .text()
            .await
            .expect("page");
        for (tool, auth) in [
            ("me", Some(bearer.as_str())),
            ("keyed", Some(bearer.as_str())),
            ("me", None),
            ("me", Some("Bearer garbage")),
        ] {
            bodies += &post(tool, auth)
                .await
                .expect("invoke")
                .text()
                .await
                .expect("text");
        }
        bodies += &http
            .put(format!("{base}/v1/credentials/own"))
            .header("authorization", &bearer)
            .header("content-type", "application/json")
            .body(format!(r#"{{"kind": "bearer", "token": "{SUPPLIED}"}}"#))
            .send()
            .await
            .expect("supply")
            .text()
            .await
            .expect("text");
        bodies += &http
            .get(format!("{base}/v1/credentials"))
            .header("authorization", &bearer)
            .send()
            .await
            .expect("creds")
            .text()
            .await
            .expect("text");
    });
    terminate(child);
    let logs = std::fs::read_to_string(&log_path).expect("logs");
    assert!(
        logs.lines().count() > 20,
        "TRACE logging produced too little to sweep:\n{logs}"
    );
    let issued: Vec<String> = auth.get(|s| s.issued_tokens());
    assert!(!issued.is_empty());
    let mut store_bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let p = entry.expect("entry").path();
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("tokens.db"))
        {
            store_bytes.extend(std::fs::read(&p).expect("db"));
        }
    }
    let store_text = String::from_utf8_lossy(&store_bytes);
    let mut sentinels: Vec<String> =
        vec![API_KEY.into(), HS.into(), SUPPLIED.into(), token.clone()];
    sentinels.extend(issued);
    for sentinel in &sentinels {
        assert!(
            !logs.contains(sentinel.as_str()),
            "log leaks {sentinel}:\n{logs}"
        );
        assert!(
            !bodies.contains(sentinel.as_str()),
            "a response leaks {sentinel}:\n{bodies}"
        );
        assert!(
            !store_text.contains(sentinel.as_str()),
            "the store holds {sentinel} in plaintext"
        );
    }
    assert!(!logs.contains(&format!("client_secret={CLIENT_SECRET}")));
}

#[tokio::test(flavor = "multi_thread")]
async fn jwks_keys_by_kid_with_rate_limited_refetch() {
    let echo = echo::start();
    let idp = oauth_server::start();
    let inbound = format!(
        "    type: jwt\n    algorithms: [RS256]\n    jwks_url: {}/.well-known/jwks.json\n",
        idp.base
    );
    let server = start(&jwt_workflow(&echo, &inbound), None).await;
    let private =
        EncodingKey::from_rsa_pem(&std::fs::read(keys_dir().join("rsa-private.pem")).expect("key"))
            .expect("rsa");
    let sign = |kid: Option<&str>| {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_owned);
        encode(
            &header,
            &serde_json::json!({"sub": "jo", "exp": now() + 300}),
            &private,
        )
        .expect("jwt")
    };
    let call = |token: String| {
        let base = server.base.clone();
        async move {
            invoke(
                &base,
                "echo",
                Some(&format!("Bearer {token}")),
                serde_json::json!({"id": "1"}),
            )
            .await
        }
    };
    let (status, _, body) = call(sign(Some("test-rsa-1"))).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = call(sign(Some("test-rsa-1"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(idp.get(|s| s.jwks_fetches), 1, "cached");
    let (status, _, body) = call(sign(None)).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("the token has no `kid`"))
    );
    for _ in 0..5 {
        let (status, _, body) = call(sign(Some("rotated-away"))).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (401, Some("unknown key id"))
        );
    }
    assert_eq!(
        idp.get(|s| s.jwks_fetches),
        1,
        "unknown kids must not hammer the IdP"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_can_use_the_callers_claims() {
    let echo = echo::start();
    let yaml = formatdoc!(
        r#"
            general:
              inbound_auth:
                type: jwt
                algorithms: [HS256]
                secret: "{HS_SECRET}"
            tools:
              whoami:
                _type: http
                url: {}/users/{{user.id}}
                headers:
                  X-User-Email: "{{user.email}}"
        "#,
        echo.base
    );
    let server = start(&yaml, None).await;
    let token =
        hs(&serde_json::json!({"sub": "u-42", "email": "ada@example.com", "exp": now() + 300}));
    let bearer = format!("Bearer {token}");
    let (status, _, body) =
        invoke(&server.base, "whoami", Some(&bearer), serde_json::json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["body"]["path"], "/users/u-42");
    assert_eq!(body["body"]["headers"]["x-user-email"], "ada@example.com");
    // Callers cannot set user.* themselves.
    let (status, _, body) = invoke(
        &server.base,
        "whoami",
        Some(&bearer),
        serde_json::json!({"user.email": "x@evil"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("is reserved")),
        "{body}"
    );
    // A token without the claim.
    let token = hs(&serde_json::json!({"sub": "u-43", "exp": now() + 300}));
    let (status, _, body) = invoke(
        &server.base,
        "whoami",
        Some(&format!("Bearer {token}")),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("`email` claim")),
        "{body}"
    );
}

pub(crate) async fn put_credentials(
    base: &str,
    provider: &str,
    user: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let response = client()
        .put(format!("{base}/v1/credentials/{provider}"))
        .header("x-user-id", user)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("put");
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_slice(&response.bytes().await.expect("body")).unwrap_or_default(),
    )
}

pub(crate) async fn invoke_as(base: &str, tool: &str, user: &str) -> (u16, serde_json::Value) {
    let response = client()
        .post(format!("{base}/v1/tools/{tool}/invoke"))
        .header("x-user-id", user)
        .send()
        .await
        .expect("invoke");
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_slice(&response.bytes().await.expect("body")).unwrap_or_default(),
    )
}

/// User-supplied credentials (auto-bedrock-chat's kinds): each user puts
/// their own, kept in memory with a TTL or encrypted in the store; never
/// echoed, never shared with another user.
#[tokio::test(flavor = "multi_thread")]
async fn users_supply_their_own_credentials() {
    const SENTINEL: &str = "SENTINEL-user-token-93c1";
    let echo = echo::start();
    let yaml = formatdoc!(
        r#"
            general:
              store:
                url: sqlite://{{dir}}/tokens.db
              inbound_auth:
                type: none
                trust_user_header: X-User-Id
            authentication:
              mine:
                _type: user_supplied
                kinds: [bearer, api_key]
                ttl: 600
              kept:
                _type: user_supplied
                persist: true
                allowed_headers: [X-Key]
            tools:
              t:
                _type: http
                url: {e}/t
                auth_provider: mine
              k:
                _type: http
                url: {e}/k
                auth_provider: kept
        "#,
        e = echo.base
    );
    let server = start(&yaml, None).await;

    let (status, body) = invoke_as(&server.base, "t", "alice").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("credentials_required")),
        "{body}"
    );

    let (status, body) = put_credentials(
        &server.base,
        "mine",
        "alice",
        &format!(r#"{{"kind": "bearer", "token": "{SENTINEL}"}}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.to_string().contains(SENTINEL));
    let (status, body) = invoke_as(&server.base, "t", "alice").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["body"]["headers"]["authorization"],
        format!("Bearer {SENTINEL}")
    );
    // Bob does not get Alice's.
    let (status, _) = invoke_as(&server.base, "t", "bob").await;
    assert_eq!(status, 401);

    // Refused kinds and values say why, without echoing the value.
    let (status, body) = put_credentials(
        &server.base,
        "mine",
        "bob",
        r#"{"kind": "basic", "username": "u", "password": "p"}"#,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (
            400,
            Some("this provider does not accept `basic` credentials")
        )
    );
    let (status, body) = put_credentials(
        &server.base,
        "mine",
        "bob",
        &format!(r#"{{"kind": "bearer", "token": "{SENTINEL}\r\nX-Evil: 1"}}"#),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(!body.to_string().contains(SENTINEL));
    let (status, _) = put_credentials(&server.base, "mine", "bob", "not json").await;
    assert_eq!(status, 400);

    // Status and removal.
    let status_of = |user: &'static str| {
        let base = server.base.clone();
        async move {
            let r = client()
                .get(format!("{base}/v1/credentials/mine"))
                .header("x-user-id", user)
                .send()
                .await
                .expect("get");
            serde_json::from_slice::<serde_json::Value>(&r.bytes().await.expect("body"))
                .expect("json")
        }
    };
    assert_eq!(status_of("alice").await["authorized"], true);
    assert_eq!(status_of("bob").await["authorized"], false);
    let deleted = client()
        .delete(format!("{}/v1/credentials/mine", server.base))
        .header("x-user-id", "alice")
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    assert_eq!(invoke_as(&server.base, "t", "alice").await.0, 401);

    // Persisted: encrypted in the store.
    let (status, body) = put_credentials(
        &server.base,
        "kept",
        "carol",
        &format!(r#"{{"kind": "headers", "headers": {{"X-Key": "{SENTINEL}"}}}}"#),
    )
    .await;
    assert_eq!(
        (status, body["persisted"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    let (status, body) = invoke_as(&server.base, "k", "carol").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["body"]["headers"]["x-key"], SENTINEL);
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(server._dir.path()).expect("dir") {
        let path = entry.expect("entry").path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("tokens.db"))
        {
            bytes.extend(std::fs::read(path).expect("read"));
        }
    }
    assert!(!bytes.is_empty());
    assert!(
        !String::from_utf8_lossy(&bytes).contains(SENTINEL),
        "supplied credential stored in plaintext"
    );

    // Not a user_supplied provider.
    let (status, _) = put_credentials(&server.base, "nope", "carol", "{}").await;
    assert_eq!(status, 404);
}

/// The OpenAPI document lists every route, and docs/http-api.md lists
/// everything the document does.
#[tokio::test(flavor = "multi_thread")]
async fn openapi_describes_every_route_and_the_guide_follows_it() {
    let server = start(crate::support::API_KEY_WORKFLOW, None).await;
    let response = client()
        .get(format!("{}/openapi.json", server.base))
        .send()
        .await
        .expect("openapi");
    assert_eq!(response.status(), 200);
    let doc = json(response).await;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "delete"] {
            if item.get(method).is_some() {
                documented.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    documented.sort();
    let mut expected = vec![
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "GET /v1/components",
        "POST /v1/tools/{tool}/invoke",
        "GET /v1/auth/{provider}/start",
        "GET /v1/auth/flows/{link}",
        "POST /v1/auth/flows/{id}/confirm",
        "POST /v1/auth/preflight",
        "GET /auth/callback",
        "GET /v1/credentials",
        "GET /v1/credentials/{provider}",
        "DELETE /v1/credentials/{provider}",
        "PUT /v1/credentials/{provider}",
        "POST /v1/credentials/{provider}/token",
    ];
    expected.sort();
    assert_eq!(documented, expected);
    let guide = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/http-api.md"),
    )
    .expect("guide");
    for route in &documented {
        assert!(
            guide.contains(&format!("`{route}`")),
            "docs/http-api.md does not describe `{route}`"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

/// examples/python-client/client.py against the real server: it prints the
/// `auth_url`, the test plays the browser, the client's retry succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn the_python_client_follows_auth_url() {
    let python_ok = std::process::Command::new("python3")
        .args(["-c", "import requests"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !python_ok {
        eprintln!("skipping: python3 with `requests` is not installed");
        return;
    }
    let auth = oauth_server::start();
    let yaml = oauth_workflow(&auth.base, "");
    let server = start(&yaml, None).await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/python-client/client.py");
    let mut child = tokio::process::Command::new("python3")
        .arg(&script)
        .args([
            "--base",
            &server.base,
            "--tool",
            "me",
            "--user",
            "alice",
            "--no-browser",
            "--wait",
            "30",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout);
    let mut first = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut lines, &mut first)
        .await
        .expect("line");
    let auth_url = first
        .trim()
        .split_once(" at: ")
        .expect("authorize line")
        .1
        .to_owned();
    // The browser.
    let location = follow_to_callback(&client(), &auth_url).await;
    assert_eq!(
        client()
            .get(&location)
            .send()
            .await
            .expect("callback")
            .status(),
        200
    );
    let mut rest = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut lines, &mut rest)
        .await
        .expect("rest");
    let status = child.wait().await.expect("wait");
    assert!(status.success(), "{first}{rest}");
    assert!(rest.contains("\"user\": \"test-user\""), "{rest}");
}

/// The README's quick start: examples/quickstart.yaml served by the binary,
/// one invoke with curl's headers.
#[test]
fn the_quickstart_example_serves_its_tool() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart.yaml");
    let mut cmd = crate::support::authhost();
    cmd.env("QUICKSTART_ADDR", &addr);
    let (child, base) = spawn_serve(cmd, &example, None);
    assert!(base.contains(&addr), "{base}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let (status, body) = runtime.block_on(async {
        let response = client()
            .post(format!("http://{addr}/v1/tools/components/invoke"))
            .header("X-User-Id", "alice")
            .send()
            .await
            .expect("invoke");
        (response.status().as_u16(), json(response).await)
    });
    terminate(child);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], 200);
    assert!(
        body["body"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["name"] == "api_key")),
        "{body}"
    );
}

/// `return_to` is followed only when allow-listed, and the target comes
/// from the state row, not from the callback request.
#[tokio::test(flavor = "multi_thread")]
async fn return_to_only_from_the_allow_list() {
    let auth = oauth_server::start();
    let yaml = oauth_workflow(
        &auth.base,
        "    return_to_allow: [\"https://app.example.com/\"]
",
    );
    let server = start(&yaml, None).await;
    let http = client();
    let start_with = |target: &str| {
        http.get(format!("{}/v1/auth/gh/start", server.base))
            .query(&[("return_to", target)])
            .header("x-user-id", "alice")
            .send()
    };
    let refused = start_with("https://evil.example.com/steal")
        .await
        .expect("start");
    assert_eq!(refused.status(), 400);
    let started = start_with("https://app.example.com/done")
        .await
        .expect("start");
    assert_eq!(started.status(), 303);
    let auth_url = started.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let callback = follow_to_callback(&http, &auth_url).await;
    // A return_to smuggled into the callback itself is ignored.
    let response = http
        .get(format!("{callback}&return_to=https://evil.example.com/"))
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "https://app.example.com/done"
    );
}

/// Issue 10: a JWT without the configured `iss` or `aud`, or whose `nbf` or
/// `iat` lies in the future, or whose time claims are not numbers, was
/// accepted. Each is refused, for HS256 and RS256, before any upstream call.
#[tokio::test(flavor = "multi_thread")]
async fn tokens_missing_configured_claims_or_from_the_future_are_refused() {
    let echo = echo::start();
    let inbound = format!(
        "    type: jwt\n    algorithms: [HS256]\n    secret: \"{HS_SECRET}\"\n    issuer: https://idp.test\n    audience: authhost\n"
    );
    let hs_server = start(&jwt_workflow(&echo, &inbound), None).await;
    let rs_server = start(
        &jwt_workflow(
            &echo,
            "    type: jwt\n    algorithms: [RS256]\n    public_key_file: {keys}/rsa-public.pem\n    issuer: https://idp.test\n    audience: authhost\n",
        ),
        None,
    )
    .await;
    let rsa_key =
        EncodingKey::from_rsa_pem(&std::fs::read(keys_dir().join("rsa-private.pem")).expect("key"))
            .expect("rsa");
    let later = now() + 3600;
    let cases = [
        serde_json::json!({"sub": "alice", "aud": "authhost"}),
        serde_json::json!({"sub": "alice", "iss": "https://idp.test"}),
        serde_json::json!({"sub": "alice", "iss": "https://idp.test", "aud": "authhost", "nbf": later}),
        serde_json::json!({"sub": "alice", "iss": "https://idp.test", "aud": "authhost", "iat": later}),
        serde_json::json!({"sub": "alice", "iss": "https://idp.test", "aud": "authhost", "nbf": later.to_string()}),
        serde_json::json!({"sub": "alice", "iss": ["https://idp.test"], "aud": "authhost"}),
        serde_json::json!({"sub": "alice", "iss": "https://idp.test/", "aud": "authhost"}),
        serde_json::json!({"sub": "alice", "iss": "https://idp.test", "aud": ["other"]}),
    ];
    for claims in &cases {
        let hs_token = signed(
            Algorithm::HS256,
            &EncodingKey::from_secret(HS_SECRET.as_bytes()),
            claims.clone(),
        );
        let rs_token = signed(Algorithm::RS256, &rsa_key, claims.clone());
        for (base, token) in [(&hs_server.base, hs_token), (&rs_server.base, rs_token)] {
            let (status, body) = echo_with(base, &token).await;
            assert_eq!(status, 401, "{claims}: {body}");
            assert_eq!(body["error"], "invalid_token", "{body}");
        }
    }
    let mut exp_string =
        serde_json::json!({"sub": "alice", "iss": "https://idp.test", "aud": "authhost"});
    exp_string["exp"] = (now() + 300).to_string().into();
    let token = encode(
        &Header::new(Algorithm::HS256),
        &exp_string,
        &EncodingKey::from_secret(HS_SECRET.as_bytes()),
    )
    .expect("jwt");
    assert_eq!(echo_with(&hs_server.base, &token).await.0, 401);
    assert!(
        echo.hits().is_empty(),
        "a refused caller reached the upstream"
    );
    let good = serde_json::json!({"sub": "alice", "iss": "https://idp.test", "aud": ["x", "authhost"], "iat": now(), "nbf": now()});
    let token = signed(Algorithm::RS256, &rsa_key, good);
    assert_eq!(echo_with(&rs_server.base, &token).await.0, 200);
}

/// Issue 10: serving without inbound authentication on a non-loopback
/// address started silently. `validate` and `serve` refuse it (with the
/// place), unless `allow_unauthenticated: true` says it is meant.
#[test]
fn unauthenticated_serving_off_loopback_is_refused_unless_explicit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let absent = dir.path().join("absent.yaml");
    std::fs::write(
        &absent,
        indoc!(
            r#"
        general:
          server:
            bind: 0.0.0.0:8080
    "#
        ),
    )
    .expect("write");
    let none = dir.path().join("none.yaml");
    std::fs::write(
        &none,
        indoc!(
            r#"
            general:
              server:
                bind: 0.0.0.0:8080
              inbound_auth:
                type: none
        "#
        ),
    )
    .expect("write");
    for (file, place) in [
        (&absent, ":3:11: error: general.inbound_auth: "),
        (&none, ":5:11: error: general.inbound_auth.type: "),
    ] {
        let out = crate::support::run(
            crate::support::authhost(),
            &["validate", file.to_str().expect("utf-8")],
        );
        assert_ne!(out.code, 0, "{}", out.all());
        assert!(out.all().contains(place), "{place}: {}", out.all());
        assert!(out.all().contains("allow_unauthenticated"), "{}", out.all());
        let out = crate::support::run(
            crate::support::authhost(),
            &["serve", "--config", file.to_str().expect("utf-8")],
        );
        assert_ne!(out.code, 0, "{}", out.all());
        assert!(!out.stderr.contains("listening"), "{}", out.stderr);
    }
    let allowed = dir.path().join("allowed.yaml");
    std::fs::write(
        &allowed,
        indoc!(
            r#"
            general:
              server:
                bind: 0.0.0.0:8080
              inbound_auth:
                type: none
                allow_unauthenticated: true
        "#
        ),
    )
    .expect("write");
    let out = crate::support::run(
        crate::support::authhost(),
        &["validate", allowed.to_str().expect("utf-8")],
    );
    assert_eq!(out.code, 0, "{}", out.all());
}

/// Issue 10: user-supplied `headers` replaced the tool's `X-User:
/// {user.id}`, and `Host`, `X-Forwarded-For`, `Cookie`, `Authorization`
/// passed the same way. Users may set only allowed headers; no credential
/// sets a reserved header or replaces one the tool sets.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_never_set_reserved_headers_or_replace_the_tools() {
    let echo = echo::start();
    let yaml = formatdoc!(
        r#"
            general:
              inbound_auth:
                type: none
                trust_user_header: X-User-Id
            authentication:
              mine:
                _type: user_supplied
                kinds: [headers, api_key]
                allowed_headers: [X-Team, X-User]
            tools:
              t:
                _type: http
                url: {e}/t
                headers:
                  X-User: "{{user.id}}"
                auth_provider: mine
        "#,
        e = echo.base
    );
    let server = start(&yaml, None).await;
    for headers in [
        r#"{"X-Forwarded-For": "10.0.0.1"}"#,
        r#"{"Host": "evil.test"}"#,
        r#"{"Cookie": "session=stolen"}"#,
        r#"{"Authorization": "Bearer other"}"#,
    ] {
        let (status, body) = put_credentials(
            &server.base,
            "mine",
            "alice",
            &format!(r#"{{"kind": "headers", "headers": {headers}}}"#),
        )
        .await;
        assert_eq!(status, 400, "{headers}: {body}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("does not let users set header")),
            "{body}"
        );
    }
    // Allowed by the provider, but the tool sets it: refused at call time,
    // and nothing reaches the upstream.
    let (status, body) = put_credentials(
        &server.base,
        "mine",
        "alice",
        r#"{"kind": "headers", "headers": {"X-User": "bob"}}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = invoke_as(&server.base, "t", "alice").await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("may not replace header `x-user`")),
        "{body}"
    );
    assert!(echo.hits().is_empty());
    let (status, _) = put_credentials(
        &server.base,
        "mine",
        "alice",
        r#"{"kind": "headers", "headers": {"X-Team": "blue"}}"#,
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = invoke_as(&server.base, "t", "alice").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["body"]["headers"]["x-user"], "alice");
    assert_eq!(body["body"]["headers"]["x-team"], "blue");
}

/// Issue 10: `{"id": ".."}` made `…/echo/{id}` reach `/`; a response of
/// 400 MB was buffered whole; `/start` of a static provider answered 502.
#[tokio::test(flavor = "multi_thread")]
async fn paths_stay_in_their_prefix_and_responses_are_capped() {
    let echo = echo::start();
    let yaml = formatdoc!(
        r#"
            general:
              limits:
                max_response_bytes: 1048576
            authentication:
              key:
                _type: api_key
                api_key: k
            tools:
              echo:
                _type: http
                url: {e}/api/echo/{{id}}
                auth_provider: key
              big:
                _type: http
                url: {e}/big/{{n}}
        "#,
        e = echo.base
    );
    let server = start(&yaml, None).await;
    for id in ["..", ".", "%2e%2e"] {
        let (status, _, body) =
            invoke(&server.base, "echo", None, serde_json::json!({"id": id})).await;
        if id == "%2e%2e" {
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["body"]["path"], "/api/echo/%252e%252e");
        } else {
            assert_eq!(status, 400, "{id}: {body}");
            assert!(
                body["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("path segment")),
                "{body}"
            );
        }
    }
    assert!(echo.hits().iter().all(|h| h["path"]
        .as_str()
        .is_some_and(|p| p.starts_with("/api/echo/"))));

    let (status, _, body) =
        invoke(&server.base, "big", None, serde_json::json!({"n": "1000"})).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = invoke(
        &server.base,
        "big",
        None,
        serde_json::json!({"n": "52428800"}),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("larger than 1048576 bytes")),
        "{body}"
    );

    let response = client()
        .get(format!("{}/v1/auth/key/start", server.base))
        .send()
        .await
        .expect("start");
    assert_eq!(response.status(), 400);
}

/// Issue 10: 800 connections sending a partial request line were all kept
/// open. Connections that do not finish their headers in time are closed,
/// the number served at once is capped, and real requests keep being
/// answered meanwhile. Bounded: 300 connections, a few seconds.
#[test]
fn slow_clients_are_cut_off_and_capped() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_workflow(
        dir.path(),
        indoc!(
            r#"
            general:
              server:
                header_read_timeout: 1s
                max_connections: 100
        "#
        ),
    );
    let (child, base) = spawn_serve(crate::support::authhost(), &path, Some("127.0.0.1:0"));
    let addr = base.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
        stream.write_all(b"GET /healthz HT").expect("partial");
        slow.push(stream);
    }
    // Within the first connections' header timeout, a real request gets in
    // once slots free up, and is answered.
    let started = std::time::Instant::now();
    let mut real = std::net::TcpStream::connect(&addr).expect("connect");
    real.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .expect("write");
    real.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut answer = String::new();
    let _ = real.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    // Every slow connection is closed by the server.
    std::thread::sleep(Duration::from_millis(1500));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    for stream in &mut slow {
        stream
            .set_read_timeout(Some(
                deadline
                    .saturating_duration_since(std::time::Instant::now())
                    .max(Duration::from_millis(10)),
            ))
            .expect("timeout");
        let mut buf = [0u8; 256];
        let closed = match stream.read(&mut buf) {
            Ok(_) => true, // EOF, or a 408/400 answer before closing
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        };
        assert!(closed, "a slow connection was kept open");
    }
    let exit = terminate(child);
    assert!(exit.success(), "{exit:?}");
}

/// Issue 8: a callback whose state names a provider this replica's workflow
/// lacks (another replica's workflow, or an edit within the state's TTL)
/// panicked the handler. It is a 400 page that says so.
#[tokio::test(flavor = "multi_thread")]
async fn a_state_for_a_provider_this_workflow_lacks_is_a_clear_400() {
    let auth = oauth_server::start();
    let server = start(&oauth_workflow(&auth.base, ""), None).await;
    let dir = server._dir.path();
    let other = dir.join("other.yaml");
    std::fs::write(
        &other,
        oauth_workflow(&auth.base, "")
            .replace("  gh:\n", "  gh2:\n")
            .replace("auth_provider: gh\n", "auth_provider: gh2\n")
            .replace("{dir}", &dir.display().to_string())
            .replace("{port}", "9"),
    )
    .expect("write");
    let loaded = load(
        &other,
        &LoadOptions {
            plugin_paths: vec![target_dir()],
            ..LoadOptions::default()
        },
    );
    let workflow = loaded.workflow.expect("valid");
    let store = workflow.open_store().await.expect("store").0;
    let handle = workflow.provider("gh2").expect("gh2");
    let flows = authhost::authorize::Authorizations::new(Arc::new(authhost::broker::Broker::new(
        Some(Arc::new(store)),
    )))
    .expect("a store");
    let started = flows
        .start(&handle, "alice", authhost::authorize::STATE_TTL, None)
        .await
        .expect("start");
    let response = client()
        .get(format!("{}/auth/callback", server.base))
        .query(&[("state", started.state.expose()), ("code", "c")])
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), 400);
    let page = response.text().await.expect("page");
    assert!(
        page.contains("provider `gh2` is not in this workflow"),
        "{page}"
    );
    assert_eq!(
        client()
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .expect("health")
            .status(),
        200
    );
}

/// The connect-flow test setup: the test authorization server, a server
/// whose callers are HS256 JWTs (header, or the `app_session` cookie in a
/// browser) with `connect` settings `connect` (YAML under
/// `general.server.connect`, indented six spaces).
async fn connect_setup(connect: &str) -> (oauth_server::AuthServer, Running) {
    let auth = oauth_server::start();
    let yaml = formatdoc!(
        r#"
            general:
              server:
                connect:
            {connect}  store:
                url: sqlite://{{dir}}/tokens.db
              inbound_auth:
                type: jwt
                algorithms: [HS256]
                secret: "{HS_SECRET}"
                cookie: app_session
            authentication:
              gh:
                _type: oauth2_auth_code_flow
                client_id: authhost-test
                client_secret: test-secret
                issuer: {base}
                redirect_uri: http://127.0.0.1:{{port}}/auth/callback
                scopes: [repo]
            tools:
              me:
                _type: http
                url: {base}/api/me
                auth_provider: gh
        "#,
        base = auth.base
    );
    let server = start(&yaml, None).await;
    (auth, server)
}

fn jwt_for(user: &str) -> String {
    hs(&serde_json::json!({"sub": user, "exp": now() + 600}))
}

/// `invoke` of `me` as `user`: (status, body).
async fn me_as(base: &str, user: &str) -> (u16, serde_json::Value) {
    let (status, _, body) = invoke(
        base,
        "me",
        Some(&format!("Bearer {}", jwt_for(user))),
        serde_json::json!({}),
    )
    .await;
    (status, body)
}

/// One browser request: status, `Location`, `Set-Cookie` pairs, body.
async fn browse(url: &str, cookies: &[&str]) -> (u16, String, Vec<String>, String) {
    let mut request = client().get(url);
    if !cookies.is_empty() {
        request = request.header("cookie", cookies.join("; "));
    }
    let response = request.send().await.expect("browser");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let set = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect();
    (
        status,
        location,
        set,
        response.text().await.unwrap_or_default(),
    )
}

async fn flow_status(link: &str, user: &str, wait: u64) -> serde_json::Value {
    let response = client()
        .get(link)
        .query(&[("wait", wait.to_string())])
        .header("authorization", format!("Bearer {}", jwt_for(user)))
        .send()
        .await
        .expect("status");
    assert_eq!(response.status(), 200);
    json(response).await
}

async fn rows(dir: &std::path::Path, table: &str) -> i64 {
    use sqlx::Row as _;
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}/tokens.db", dir.display());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .expect("sqlite");
    let query = match table {
        "authhost_states" => "SELECT COUNT(*) AS n FROM authhost_states",
        "authhost_flows" => "SELECT COUNT(*) AS n FROM authhost_flows",
        _ => "SELECT COUNT(*) AS n FROM authhost_tokens",
    };
    sqlx::query(query)
        .fetch_one(&mut conn)
        .await
        .expect("count")
        .try_get::<i64, _>("n")
        .expect("n")
}

/// Issue 9, hole 1 (`session` verification): a connect link issued to dave,
/// whose authorization-server step was completed in carol's browser, stored
/// carol's tokens under dave. Now the link opens only in dave's signed-in
/// browser, which gets a flow cookie; a callback without it is refused and
/// nothing is stored. A flood of 401s writes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn session_mode_refuses_a_flow_finished_in_another_browser() {
    let (_auth, server) = connect_setup("      verify: session\n").await;
    let dave_session = format!("app_session={}", jwt_for("dave"));
    let carol_session = format!("app_session={}", jwt_for("carol"));

    let (status, body) = me_as(&server.base, "dave").await;
    assert_eq!(status, 401, "{body}");
    let link = body["auth_url"].as_str().expect("link").to_owned();
    assert!(
        link.starts_with(&format!("{}/v1/auth/flows/", server.base)),
        "{link}"
    );
    for _ in 0..50 {
        assert_eq!(me_as(&server.base, "dave").await.0, 401);
    }
    assert_eq!(
        rows(server._dir.path(), "authhost_states").await,
        0,
        "a 401 wrote a state"
    );
    assert_eq!(
        rows(server._dir.path(), "authhost_flows").await,
        0,
        "a 401 wrote a flow"
    );
    assert_eq!(flow_status(&link, "dave", 0).await["status"], "pending");

    // Opened without the user's sign-in, or by another user: refused.
    assert_eq!(browse(&link, &[]).await.0, 401);
    assert_eq!(browse(&link, &[&carol_session]).await.0, 403);

    // Dave opens his link, then has carol finish at the authorization server.
    let (status, to_idp, set, _) = browse(&link, &[&dave_session]).await;
    assert_eq!(status, 303);
    assert!(
        set.iter().any(|c| c.starts_with("authhost_flow_")),
        "{set:?}"
    );
    let (status, callback, _, _) = browse(&to_idp, &[]).await;
    assert_eq!(status, 303);
    let (status, _, _, page) = browse(&callback, &[&carol_session]).await;
    assert_eq!(status, 400, "{page}");
    assert!(
        page.contains("finished in a browser that did not start it"),
        "{page}"
    );
    assert_eq!(
        me_as(&server.base, "dave").await.0,
        401,
        "carol's grant was stored for dave"
    );
    assert_eq!(rows(server._dir.path(), "authhost_tokens").await, 0);
    let status = flow_status(&link, "dave", 0).await;
    assert_eq!(status["status"], "refused", "{status}");
    // The link was used.
    assert_eq!(browse(&link, &[&dave_session]).await.0, 410);

    // The normal flow, in dave's own browser, with the agent waiting.
    let (_, body) = me_as(&server.base, "dave").await;
    let link = body["auth_url"].as_str().expect("link").to_owned();
    let waiter = tokio::spawn({
        let link = link.clone();
        async move { flow_status(&link, "dave", 20).await }
    });
    let (_, to_idp, flow_cookie, _) = browse(&link, &[&dave_session]).await;
    let (_, callback, _, _) = browse(&to_idp, &[]).await;
    let cookies = [dave_session.as_str(), flow_cookie[0].as_str()];
    let (status, _, _, page) = browse(&callback, &cookies).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("User <b>dave</b> is now authorized"),
        "{page}"
    );
    let waited = waiter.await.expect("waiter");
    assert_eq!(waited["status"], "completed", "{waited}");
    assert_eq!(me_as(&server.base, "dave").await.0, 200);
    assert_eq!(me_as(&server.base, "carol").await.0, 401);
}

/// Issue 9, hole 1 (`app` verification): the grant is held after the
/// callback, the browser goes to the application's verify_url with a
/// one-time id, and only the confirmation of the user who started the flow
/// stores it; another user's confirmation discards it.
#[tokio::test(flavor = "multi_thread")]
async fn app_mode_stores_a_grant_only_for_the_confirming_starter() {
    let (_auth, server) = connect_setup(
        "      verify: app\n      verify_url: https://app.example.com/connect/verify\n",
    )
    .await;
    let through_idp = |link: String| async move {
        let (status, to_idp, _, _) = browse(&link, &[]).await;
        assert_eq!(status, 303);
        let (_, callback, _, _) = browse(&to_idp, &[]).await;
        let (status, verify, _, _) = browse(&callback, &[]).await;
        assert_eq!(status, 303);
        assert!(
            verify.starts_with("https://app.example.com/connect/verify?flow="),
            "{verify}"
        );
        let flow = verify.rsplit_once("flow=").expect("flow").1.to_owned();
        (link, flow)
    };
    let confirm = |flow: String, user: &'static str| {
        let base = server.base.clone();
        async move {
            let response = client()
                .post(format!("{base}/v1/auth/flows/{flow}/confirm"))
                .header("authorization", format!("Bearer {}", jwt_for(user)))
                .send()
                .await
                .expect("confirm");
            let status = response.status().as_u16();
            (status, json(response).await)
        }
    };

    // Dave's link, completed in carol's browser; the application, where
    // carol is signed in, confirms: refused, discarded.
    let (_, body) = me_as(&server.base, "dave").await;
    let (link, flow) = through_idp(body["auth_url"].as_str().expect("link").to_owned()).await;
    assert_eq!(
        flow_status(&link, "dave", 0).await["status"],
        "awaiting_confirmation"
    );
    assert_eq!(
        rows(server._dir.path(), "authhost_tokens").await,
        0,
        "stored before confirmation"
    );
    let (status, body) = confirm(flow.clone(), "carol").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    assert_eq!(
        confirm(flow.clone(), "dave").await.0,
        404,
        "the discarded grant came back"
    );
    assert_eq!(me_as(&server.base, "dave").await.0, 401);
    assert_eq!(me_as(&server.base, "carol").await.0, 401);
    let status = flow_status(&link, "dave", 0).await;
    assert_eq!(status["status"], "refused", "{status}");
    assert!(
        status["reason"]
            .as_str()
            .is_some_and(|r| r.contains("another user")),
        "{status}"
    );

    // Dave's own: confirmed by dave, stored, usable; the id works once.
    let (_, body) = me_as(&server.base, "dave").await;
    let (link, flow) = through_idp(body["auth_url"].as_str().expect("link").to_owned()).await;
    let (status, body) = confirm(flow.clone(), "dave").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("completed")),
        "{body}"
    );
    assert_eq!(confirm(flow, "dave").await.0, 404);
    assert_eq!(flow_status(&link, "dave", 0).await["status"], "completed");
    assert_eq!(me_as(&server.base, "dave").await.0, 200);
}

/// Issue 9, hole 2: `return_to_allow: ["https://app.example.com"]` accepted
/// `https://app.example.com.evil.net/x`. Targets are matched as parsed URLs.
#[tokio::test(flavor = "multi_thread")]
async fn return_to_tricks_are_refused() {
    let auth = oauth_server::start();
    let yaml = oauth_workflow(
        &auth.base,
        "    return_to_allow: [\"https://app.example.com/connected\"]\n",
    );
    let server = start(&yaml, None).await;
    for target in [
        "https://app.example.com.evil.net/connected",
        "https://app.example.com@evil.net/connected",
        "https://evil.net\\@app.example.com/connected",
        "https://app.example.com\\@evil.net/connected",
        "http://app.example.com/connected",
        "https://app.example.com:444/connected",
        "//evil.net/connected",
        "https://app.example.com/connected/%2e%2e/admin",
        "https://app.example.com/connected/../admin",
        "https://app.example.com/connectedx",
        "javascript:alert(1)//app.example.com/connected",
    ] {
        let response = client()
            .get(format!("{}/v1/auth/gh/start", server.base))
            .query(&[("return_to", target)])
            .header("x-user-id", "alice")
            .send()
            .await
            .expect("start");
        assert_eq!(response.status(), 400, "{target}");
    }
    let response = client()
        .get(format!("{}/v1/auth/gh/start", server.base))
        .query(&[("return_to", "https://app.example.com/connected/done")])
        .header("x-user-id", "alice")
        .send()
        .await
        .expect("start");
    assert_eq!(response.status(), 303);
}

/// `verify: app` needs a verify_url; `verify: none` is refused off loopback
/// unless `allow_unverified: true`.
#[test]
fn connect_verification_settings_are_validated() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (yaml, expect) in [
        (
            indoc!(
                r#"
                general:
                  server:
                    connect:
                      verify: app
            "#
            ),
            Some("general.server.connect.verify_url"),
        ),
        (
            indoc!(
                r#"
                general:
                  server:
                    bind: 0.0.0.0:8080
                    connect:
                      verify: none
                  inbound_auth:
                    type: none
                    allow_unauthenticated: true
            "#
            ),
            Some("general.server.connect.verify: `none` on a non-loopback address"),
        ),
        (
            indoc!(
                r#"
                general:
                  server:
                    bind: 0.0.0.0:8080
                    connect:
                      verify: none
                      allow_unverified: true
                  inbound_auth:
                    type: none
                    allow_unauthenticated: true
            "#
            ),
            None,
        ),
    ] {
        let path = write_workflow(dir.path(), yaml);
        let out = crate::support::run(
            crate::support::authhost(),
            &["validate", path.to_str().expect("utf-8")],
        );
        match expect {
            Some(fragment) => {
                assert_ne!(out.code, 0, "{yaml}");
                assert!(out.all().contains(fragment), "{}", out.all());
            }
            None => assert_eq!(out.code, 0, "{}", out.all()),
        }
    }
}

/// Issue 11, finding 5: after a failed refresh, invokes kept sending the
/// token for 15 s whatever its expiry (the cache entry was set from the time
/// before the round trip). A token is never served past its `expires_at`.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_refresh_never_serves_an_expired_token() {
    let auth = oauth_server::start();
    auth.set(|s| s.lifetime = Some(6));
    let server = start(&oauth_workflow(&auth.base, ""), None).await;
    let http = client();
    let me = || invoke_as(&server.base, "me", "erin");
    connect_through_link(&http, me().await).await;
    let logged_in = std::time::Instant::now();
    // Past the refresh point (half of 6 s), the server fails every refresh.
    auth.set(|s| s.refresh_status = Some(500));
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let (status, body) = me().await;
    assert_eq!(
        (status, body["status"].as_u64()),
        (200, Some(200)),
        "{body}"
    );
    assert!(auth.calls("refresh_token") >= 1);
    // Past the expiry, within the 15 s backoff.
    tokio::time::sleep(Duration::from_secs(7).saturating_sub(logged_in.elapsed())).await;
    let (status, body) = me().await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("the grant is kept")),
        "{body}"
    );
    assert_eq!(
        auth.get(|s| s.expired_presented),
        0,
        "an expired token went upstream"
    );
    let metrics = metrics_text(&server.base).await;
    assert!(
        metrics.lines().any(|l| l.starts_with(
            "authhost_provider_refreshes_total{provider=\"gh\",outcome=\"transient\"}"
        )),
        "{metrics}"
    );
}

/// Issue 11, finding 6: SQLite held its write lock across each refresh's
/// round trip: five due users with a slow token endpoint were refreshed one
/// after another, and an unrelated user waited for them. Refresh locks are
/// now lease rows: the five refresh side by side and the other user is
/// served at once. (Loose bounds: serialized, this takes over 10 s.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_refreshes_on_sqlite_neither_serialize_nor_block_other_users() {
    let auth = oauth_server::start();
    let server = start(&oauth_workflow(&auth.base, ""), None).await;
    let http = client();
    let invoke_me = |user: String| {
        let base = server.base.clone();
        async move { invoke_as(&base, "me", &user).await }
    };
    let log_in = |user: String| {
        let http = http.clone();
        async move { connect_through_link(&http, invoke_me(user).await).await }
    };
    auth.set(|s| s.lifetime = Some(1));
    for i in 0..5 {
        log_in(format!("due{i}")).await;
    }
    auth.set(|s| s.lifetime = Some(3600));
    log_in("steady".to_owned()).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    auth.set(|s| s.refresh_respond_delay = Duration::from_secs(2));

    let started = std::time::Instant::now();
    let due: Vec<_> = (0..5)
        .map(|i| tokio::spawn(invoke_me(format!("due{i}"))))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let steady_started = std::time::Instant::now();
    let (status, body) = invoke_me("steady".to_owned()).await;
    let steady = steady_started.elapsed();
    assert_eq!(
        (status, body["status"].as_u64()),
        (200, Some(200)),
        "{body}"
    );
    for task in due {
        let (status, body) = task.await.expect("task");
        assert_eq!(
            (status, body["status"].as_u64()),
            (200, Some(200)),
            "{body}"
        );
    }
    let all = started.elapsed();
    assert_eq!(auth.calls("refresh_token"), 5);
    assert!(
        all < Duration::from_secs(6),
        "refreshes took {all:?}: serialized?"
    );
    assert!(
        steady < Duration::from_secs(1),
        "an unrelated user waited {steady:?}"
    );
}

/// Issue 11, finding 3: after `DELETE /v1/credentials/idp` on replica B,
/// replica A kept sending its cached, revoked token. B's delete is announced
/// over Postgres `LISTEN/NOTIFY`: A's next call needs authorization and the
/// upstream never sees the revoked token. (SQLite processes: the row-version
/// check, below.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoke_on_one_replica_is_seen_by_the_others() {
    let Some(postgres) = crate::support::postgres_url() else {
        return;
    };
    let auth = oauth_server::start();
    let shared = tempfile::tempdir().expect("tempdir");
    let provider = crate::support::unique("idp").replace('-', "_");
    let yaml = postgres_workflow(
        &postgres,
        &shared.path().join("store.key"),
        &provider,
        &auth.base,
        "{port}",
    );
    let a = start(&yaml, None).await;
    let b = start(&yaml, None).await;
    let http = client();
    let me = |base: String| async move { invoke_as(&base, "me", "hana").await };
    connect_through_link(&http, me(a.base.clone()).await).await;
    for base in [&a.base, &b.base] {
        let (status, body) = me(base.clone()).await;
        assert_eq!(
            (status, body["status"].as_u64()),
            (200, Some(200)),
            "{body}"
        );
    }
    let revoked = http
        .delete(format!("{}/v1/credentials/{provider}", b.base))
        .header("x-user-id", "hana")
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 204);
    assert_eq!(auth.get(|s| s.revocations), 1);
    // Propagation is a notification away; the target is a second at most.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, body) = me(a.base.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("authorization_required")),
        "{body}"
    );
    assert_eq!(
        auth.get(|s| s.revoked_presented),
        0,
        "the revoked token went upstream"
    );
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&postgres)
        .await
        .expect("pg");
    sqlx::query("DELETE FROM authhost_flows WHERE provider = $1")
        .bind(&provider)
        .execute(&mut conn)
        .await
        .expect("cleanup");
}

/// The fallback when a notification is lost (and the mechanism on SQLite):
/// cached credentials of a stored grant are checked against the row's
/// version every `revalidate_after`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_grants_are_rechecked_against_the_row() {
    let auth = oauth_server::start();
    let yaml = oauth_workflow(&auth.base, "")
        .replace("  store:\n", "  store:\n    revalidate_after: 1s\n");
    let server = start(&yaml, None).await;
    let http = client();
    let me = || invoke_as(&server.base, "me", "ivan");
    connect_through_link(&http, me().await).await;
    assert_eq!(me().await.0, 200);
    // Another process (a CLI `tokens revoke`, say) deletes the row.
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}/tokens.db", server._dir.path().display());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .expect("sqlite");
    sqlx::query("DELETE FROM authhost_tokens")
        .execute(&mut conn)
        .await
        .expect("delete");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = me().await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("authorization_required")),
        "{body}"
    );
}

/// Issue 9: preflight tells an agent, before a session, which providers
/// need the user and where to connect them.
#[tokio::test(flavor = "multi_thread")]
async fn preflight_lists_what_needs_connecting() {
    let auth = oauth_server::start();
    let yaml = oauth_workflow(&auth.base, "")
        .replace("    _type: oauth2_auth_code_flow\n", "    _type: oauth2_auth_code_flow\n    _preflight: true\n")
        .replace(
            "tools:\n",
            "  key:\n    _type: api_key\n    api_key: k\ntools:\n  keyed:\n    _type: http\n    url: http://127.0.0.1:9/x\n    auth_provider: key\n",
        );
    let server = start(&yaml, None).await;
    let preflight = |body: &'static str| {
        let base = server.base.clone();
        async move {
            let response = client()
                .post(format!("{base}/v1/auth/preflight"))
                .header("x-user-id", "judy")
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("preflight");
            let status = response.status().as_u16();
            (status, json(response).await)
        }
    };
    let (status, body) = preflight("").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ready"], false);
    let providers = body["providers"].as_array().expect("providers");
    assert_eq!(providers.len(), 1, "{body}");
    assert_eq!(providers[0]["provider"], "gh");
    assert!(providers[0]["connect_url"]
        .as_str()
        .is_some_and(|u| u.starts_with(&format!("{}/v1/auth/flows/", server.base))));
    let (_, body) = preflight(r#"{"tools": ["me", "keyed"]}"#).await;
    let names: Vec<&str> = body["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .filter_map(|p| p["provider"].as_str())
        .collect();
    assert_eq!(names, ["gh", "key"]);
    let (_, body) = preflight(r#"{"providers": ["key"]}"#).await;
    assert_eq!(body["ready"], true, "{body}");
    assert_eq!(preflight(r#"{"tools": ["nope"]}"#).await.0, 404);
    assert_eq!(preflight(r#"{"tool": ["me"]}"#).await.0, 400);

    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_workflow(
        dir.path(),
        indoc!(
            r#"
            authentication:
              key:
                _type: api_key
                _preflight: yes please
                api_key: k
        "#
        ),
    );
    let out = crate::support::run(
        crate::support::authhost(),
        &["validate", path.to_str().expect("utf-8")],
    );
    assert!(
        out.all()
            .contains(":4:17: error: authentication.key._preflight: expected true or false"),
        "{}",
        out.all()
    );
}

/// Issue 9: an upstream 401 to a token authhost believed valid gets one
/// refresh and exactly one retry; when the refresh finds the grant revoked
/// (`invalid_grant`), the caller gets `authorization_required`.
#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_401_refreshes_once_and_retries_once() {
    let auth = oauth_server::start();
    let server = start(&oauth_workflow(&auth.base, ""), None).await;
    let http = client();
    let me = || invoke_as(&server.base, "me", "kim");
    connect_through_link(&http, me().await).await;
    let (status, body) = me().await;
    assert_eq!(
        (status, body["status"].as_u64()),
        (200, Some(200)),
        "{body}"
    );
    let upstream = auth.get(|s| s.me_calls);

    auth.forget_access_tokens();
    let (status, body) = me().await;
    assert_eq!(
        (status, body["status"].as_u64()),
        (200, Some(200)),
        "{body}"
    );
    assert_eq!(auth.get(|s| s.me_calls), upstream + 2, "exactly one retry");
    assert_eq!(auth.calls("refresh_token"), 1);

    auth.forget_access_tokens();
    auth.revoke_all();
    let (status, body) = me().await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("authorization_required")),
        "{body}"
    );
    assert_eq!(
        auth.get(|s| s.me_calls),
        upstream + 3,
        "no retry without a grant"
    );
    assert_eq!(auth.calls("refresh_token"), 2);
}

/// Issue 9: the connect page in a real headless Chromium: signed in (the
/// session cookie), the user connects a provider through the test
/// authorization server, sees it connected, and disconnects it (revoked at
/// the server). The page carries a strict CSP and refuses a forged form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connect_page_in_a_real_browser() {
    let Some(browser) = crate::support::browser::Browser::start().await else {
        return;
    };
    let (auth, server) = connect_setup("      verify: session\n").await;
    let session = jwt_for("lee");

    // Not signed in: a page that says so.
    let response = client()
        .get(format!("{}/connect", server.base))
        .send()
        .await
        .expect("page");
    assert_eq!(response.status(), 401);
    let response = client()
        .get(format!("{}/connect", server.base))
        .header("cookie", format!("app_session={session}"))
        .send()
        .await
        .expect("page");
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");

    browser.goto(&format!("{}/healthz", server.base)).await;
    browser.add_cookie("app_session", &session).await;
    browser.goto(&format!("{}/connect", server.base)).await;
    browser
        .wait_for("data-provider=\"gh\" data-status=\"not-connected\"")
        .await;
    browser
        .click("a[data-provider='gh'][data-action='connect']")
        .await;
    browser.wait_for("is now authorized for <b>gh</b>").await;
    browser.goto(&format!("{}/connect", server.base)).await;
    let page = browser
        .wait_for("data-provider=\"gh\" data-status=\"connected\"")
        .await;
    assert!(page.contains("repo"), "scopes shown: {page}");
    assert_eq!(me_as(&server.base, "lee").await.0, 200);

    // A form from elsewhere (no valid token) disconnects nothing.
    let forged = client()
        .post(format!("{}/connect/gh/disconnect", server.base))
        .header("cookie", format!("app_session={session}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=forged")
        .send()
        .await
        .expect("forged");
    assert_eq!(forged.status(), 403);
    assert_eq!(me_as(&server.base, "lee").await.0, 200);

    browser
        .click("button[data-provider='gh'][data-action='disconnect']")
        .await;
    browser
        .wait_for("data-provider=\"gh\" data-status=\"not-connected\"")
        .await;
    assert_eq!(auth.get(|s| s.revocations), 1);
    assert_eq!(me_as(&server.base, "lee").await.0, 401);
    browser.close().await;
}

/// Issue 9: when a flow finishes, a signed POST tells the application
/// (retried after a failure), and never carries a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_flows_are_announced_by_a_signed_webhook() {
    use axum::{body::Bytes, http::HeaderMap, routing::post, Router};
    type Received = Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;
    let received: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let record = received.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let record = record.clone();
            async move {
                let mut seen = record.lock().expect("lock");
                let signature = headers
                    .get("x-authhost-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                seen.push((signature, body.to_vec()));
                // The first delivery fails: authhost must retry.
                if seen.len() == 1 {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::NO_CONTENT
                }
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    const SECRET: &str = "webhook-secret-of-at-least-32-bytes";
    let (auth, server) = connect_setup(&format!(
        "      verify: none\n      webhook:\n        url: {hook}\n        secret: \"{SECRET}\"\n"
    ))
    .await;
    let (_, body) = me_as(&server.base, "mia").await;
    let callback = follow_to_callback(&client(), body["auth_url"].as_str().expect("link")).await;
    assert_eq!(
        client()
            .get(&callback)
            .send()
            .await
            .expect("callback")
            .status(),
        200
    );
    for _ in 0..50 {
        if received.lock().expect("lock").len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = received.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2, "one failure, one retry");
    assert_eq!(seen[0].1, seen[1].1, "the same event again");
    let (signature, body) = &seen[1];
    let timestamp: i64 = signature
        .strip_prefix("t=")
        .and_then(|s| s.split(',').next())
        .and_then(|t| t.parse().ok())
        .expect("timestamp");
    assert_eq!(
        signature,
        &authhost::server::webhook::signature(SECRET, timestamp, body)
    );
    let event: serde_json::Value = serde_json::from_slice(body).expect("json");
    assert_eq!(event["event"], "flow.completed");
    assert_eq!(
        (event["provider"].as_str(), event["user"].as_str()),
        (Some("gh"), Some("mia"))
    );
    let text = String::from_utf8_lossy(body);
    for token in auth.get(|s| s.issued_tokens()) {
        assert!(!text.contains(&token), "a token in the webhook");
    }
}

/// Issue 9: a tool may declare the scopes it needs; when the grant lacks
/// one, the caller gets `authorization_required` with a link that asks for
/// the grant's scopes plus the tool's (incremental authorization), and the
/// granted scopes are stored and shown.
#[tokio::test(flavor = "multi_thread")]
async fn tools_needing_more_scopes_step_up_the_grant() {
    let auth = oauth_server::start();
    let yaml = formatdoc!(
        r#"
            {}  admin_me:
                _type: http
                url: {}/api/me
                auth_provider: gh
                scopes: [admin]
        "#,
        oauth_workflow(&auth.base, ""),
        auth.base
    );
    let server = start(&yaml, None).await;
    let http = client();
    let invoke_tool = |tool: &'static str| invoke_as(&server.base, tool, "noa");
    connect_through_link(&http, invoke_tool("me").await).await;
    assert_eq!(invoke_tool("me").await.0, 200);

    let (status, body) = invoke_tool("admin_me").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("authorization_required")),
        "{body}"
    );
    let link = body["auth_url"].as_str().expect("link").to_owned();
    let to_idp = http.get(&link).send().await.expect("link").headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let asked = url::Url::parse(&to_idp)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
        .expect("scope");
    assert_eq!(asked, "repo admin");
    let callback = follow_to_callback(&http, &to_idp).await;
    assert_eq!(
        http.get(&callback).send().await.expect("callback").status(),
        200
    );
    assert_eq!(invoke_tool("admin_me").await.0, 200);
    let status = client()
        .get(format!("{}/v1/credentials/gh", server.base))
        .header("x-user-id", "noa")
        .send()
        .await
        .expect("status");
    let status = json(status).await;
    let scopes: Vec<&str> = status["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert!(
        scopes.contains(&"repo") && scopes.contains(&"admin"),
        "{status}"
    );
}

/// Issue 9: nothing a browser or an agent sees after the callback carries
/// the authorization code, a token or the PKCE verifier (the verifier is
/// found by hashing every verifier-shaped string against the challenge the
/// authorization server was sent).
#[tokio::test(flavor = "multi_thread")]
async fn the_connect_flow_shows_no_code_token_or_verifier() {
    use sha2::Digest as _;
    let (auth, server) = connect_setup(
        "      verify: app\n      verify_url: https://app.example.com/connect/verify\n",
    )
    .await;
    let http = client();
    let mut seen = String::new();
    let record = |response: reqwest::Response, seen: &mut String| {
        for (name, value) in response.headers() {
            seen.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or_default()));
        }
        response
    };
    let (_, body) = me_as(&server.base, "olga").await;
    seen.push_str(&body.to_string());
    let link = body["auth_url"].as_str().expect("link").to_owned();
    let to_idp = record(http.get(&link).send().await.expect("link"), &mut seen).headers()
        ["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let challenge = url::Url::parse(&to_idp)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "code_challenge")
        .map(|(_, v)| v.into_owned())
        .expect("challenge");
    let callback = http.get(&to_idp).send().await.expect("idp").headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let code = url::Url::parse(&callback)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let response = record(
        http.get(&callback).send().await.expect("callback"),
        &mut seen,
    );
    let verify = response.headers()["location"]
        .to_str()
        .expect("verify")
        .to_owned();
    seen.push_str(&response.text().await.expect("page"));
    let flow = verify.rsplit_once("flow=").expect("flow").1.to_owned();
    let confirmed = client()
        .post(format!("{}/v1/auth/flows/{flow}/confirm", server.base))
        .header("authorization", format!("Bearer {}", jwt_for("olga")))
        .send()
        .await
        .expect("confirm");
    seen.push_str(&confirmed.text().await.expect("confirm body"));
    seen.push_str(&flow_status(&link, "olga", 0).await.to_string());
    seen.push_str(&me_as(&server.base, "olga").await.1.to_string());

    assert!(
        !seen.contains(&code),
        "the code after the callback:\n{seen}"
    );
    for token in auth.get(|s| s.issued_tokens()) {
        assert!(!seen.contains(&token), "a token:\n{seen}");
    }
    let verifier_shaped = seen
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .filter(|w| w.len() == 43);
    for candidate in verifier_shaped {
        let hashed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(candidate.as_bytes()));
        assert_ne!(hashed, challenge, "the PKCE verifier is shown:\n{seen}");
    }
}

/// Issue 11, keep-alive: with `_keep_alive`, one replica — the holder of
/// the leader lease in the store — refreshes grants nobody used for that
/// long, without any call; the other replica does nothing, the grant stays
/// usable everywhere, and the rotating, reuse-detecting server never sees a
/// refresh token twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_replica_keeps_idle_grants_alive() {
    let Some(postgres) = crate::support::postgres_url() else {
        return;
    };
    let auth = oauth_server::start();
    auth.set(|s| s.lifetime = Some(3600));
    let shared = tempfile::tempdir().expect("tempdir");
    let provider = crate::support::unique("kept").replace('-', "_");
    let yaml = postgres_workflow(
        &postgres,
        &shared.path().join("store.key"),
        &provider,
        &auth.base,
        "{port}",
    )
    .replace(
        "    _type: oauth2_auth_code_flow\n",
        "    _type: oauth2_auth_code_flow\n    _keep_alive: 2s\n",
    )
    .replace("  store:\n", "  store:\n    keep_alive_every: 1s\n");
    let a = start(&yaml, None).await;
    let b = start(&yaml, None).await;
    let http = client();
    connect_through_link(&http, invoke_as(&a.base, "me", "ines").await).await;
    let before = auth.calls("refresh_token");
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let refreshed = auth.calls("refresh_token") - before;
    assert!(refreshed >= 1, "no keep-alive refresh in 5.5 s");

    let metric = |text: &str, name: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    let mut leaders = 0;
    let mut by_replicas = 0;
    for server in [&a, &b] {
        let text = metrics_text(&server.base).await;
        leaders += metric(&text, "authhost_keep_alive_leader ");
        by_replicas += metric(&text, "authhost_keep_alive_refreshes_total{");
    }
    assert_eq!(leaders, 1, "exactly one replica leads");
    assert!(
        by_replicas >= refreshed as u64 - 1 && by_replicas <= refreshed as u64,
        "the server saw {refreshed} refreshes, the replicas report {by_replicas}"
    );
    assert_eq!(
        auth.get(|s| s.reuse_detected),
        0,
        "a refresh token was used twice"
    );
    for server in [&a, &b] {
        let (status, body) = invoke_as(&server.base, "me", "ines").await;
        assert_eq!(
            (status, body["status"].as_u64()),
            (200, Some(200)),
            "{body}"
        );
    }

    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&postgres)
        .await
        .expect("pg");
    for cleanup in [
        "DELETE FROM authhost_flows WHERE provider = $1",
        "DELETE FROM authhost_tokens WHERE provider = $1",
    ] {
        sqlx::query(cleanup)
            .bind(&provider)
            .execute(&mut conn)
            .await
            .expect("cleanup");
    }
    sqlx::query("DELETE FROM authhost_leader_leases WHERE name = 'keep_alive'")
        .execute(&mut conn)
        .await
        .expect("cleanup");
}

/// Issue 11, online key rotation across processes: three `authhost serve`
/// replicas on Postgres under continuous load while `authhost keys rotate`
/// runs ten times, each time with a login started before the rotation and
/// finished after it. Every login completes, every grant stays readable on
/// every replica, and no call fails during the rotations.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_survive_ten_key_rotations_with_logins_in_flight() {
    let Some(postgres) = crate::support::postgres_url() else {
        return;
    };
    let auth = oauth_server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let provider = crate::support::unique("rot").replace('-', "_");
    let (children, bases) = postgres_replicas(&postgres, dir.path(), &provider, &auth.base);
    let path = dir.path().join("workflow.yaml");
    let http = client();
    // A first user, so the load has something to call from the start.
    connect_through_link(&http, invoke_as(&bases[1], "me", "user0").await).await;

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let connected = Arc::new(std::sync::Mutex::new(vec!["user0".to_owned()]));
    let load = {
        let (stop, failures, connected, bases) = (
            stop.clone(),
            failures.clone(),
            connected.clone(),
            bases.clone(),
        );
        tokio::spawn(async move {
            let mut i = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let users = connected.lock().expect("lock").clone();
                for user in &users {
                    let base = &bases[i % 3];
                    i += 1;
                    let (status, body) = invoke_as(base, "me", user).await;
                    if (status, body["status"].as_u64()) != (200, Some(200)) {
                        failures
                            .lock()
                            .expect("lock")
                            .push(format!("{user} on {base}: {status} {body}"));
                    }
                }
            }
            i
        })
    };

    for round in 1..=10 {
        let user = format!("user{round}");
        // The login starts (connect link issued, state stored) ...
        let (status, body) = invoke_as(&bases[round % 3], "me", &user).await;
        assert_eq!(status, 401, "{body}");
        let link = body["auth_url"].as_str().expect("link").to_owned();
        // ... the key rotates ...
        let rotated = crate::support::run(
            crate::support::authhost(),
            &["keys", "rotate", "--config", &path.display().to_string()],
        );
        assert_eq!(rotated.code, 0, "round {round}: {}", rotated.all());
        // ... and the login finishes.
        let callback = follow_to_callback(&http, &link).await;
        let finished = http.get(&callback).send().await.expect("callback");
        assert_eq!(
            finished.status(),
            200,
            "round {round}: the login did not complete"
        );
        connected.lock().expect("lock").push(user);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let calls = load.await.expect("load");
    let failures = failures.lock().expect("lock").clone();
    assert!(
        failures.is_empty(),
        "{} of {calls} calls failed: {failures:?}",
        failures.len()
    );
    assert!(calls > 30, "only {calls} calls under load");
    let users = connected.lock().expect("lock").clone();
    for user in &users {
        for base in &bases {
            let (status, body) = invoke_as(base, "me", user).await;
            assert_eq!(
                (status, body["status"].as_u64()),
                (200, Some(200)),
                "{user} on {base}: {body}"
            );
        }
    }

    drop(children);
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&postgres)
        .await
        .expect("pg");
    for cleanup in [
        "DELETE FROM authhost_flows WHERE provider = $1",
        "DELETE FROM authhost_tokens WHERE provider = $1",
        "DELETE FROM authhost_states WHERE provider = $1",
    ] {
        sqlx::query(cleanup)
            .bind(&provider)
            .execute(&mut conn)
            .await
            .expect("cleanup");
    }
}

/// A stand-in OTLP/HTTP collector: records the body of every POST to
/// `/v1/traces` and answers an empty (valid) protobuf response.
fn otlp_collector() -> (String, Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = bodies.clone();
    let addr = crate::support::background::serve_in_background(1, move |_| {
        axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let recorded = recorded.clone();
                async move {
                    recorded.lock().expect("lock").push(body.to_vec());
                    (
                        [("content-type", "application/x-protobuf")],
                        Vec::<u8>::new(),
                    )
                }
            }),
        )
    });
    let base = format!("http://{addr}");
    (base, bodies)
}

/// Issue 11, operations: with `general.telemetry`, `serve` exports its spans
/// over OTLP/HTTP — `invoke` and `upstream` of a tool call, under the
/// configured service name — and sends the last batch when it stops. The
/// provider's secret is in no exported byte.
#[test]
fn serve_exports_traces_over_otlp() {
    let echo = echo::start();
    let (collector, bodies) = otlp_collector();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_workflow(
        dir.path(),
        formatdoc!(
            r#"
            general:
              telemetry:
                otlp_endpoint: {collector}/v1/traces
                service_name: authhost-under-test
            authentication:
              key:
                _type: api_key
                api_key: otlp-secret-5ec7e7
            tools:
              items:
                _type: http
                url: {base}/items/{{id}}
                auth_provider: key
        "#,
            base = echo.base
        ),
    );
    let (child, base) = spawn_serve(crate::support::authhost(), &path, Some("127.0.0.1:0"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    runtime.block_on(async {
        let response = client()
            .post(format!("{base}/v1/tools/items/invoke"))
            .header("content-type", "application/json")
            .body(r#"{"id": "7"}"#)
            .send()
            .await
            .expect("invoke");
        assert_eq!(response.status(), 200);
    });
    assert!(terminate(child).success());
    let bodies = bodies.lock().expect("lock").concat();
    let has = |needle: &[u8]| bodies.windows(needle.len()).any(|w| w == needle);
    assert!(!bodies.is_empty(), "nothing exported");
    for name in [
        &b"invoke"[..],
        b"upstream",
        b"credentials",
        b"authhost-under-test",
    ] {
        assert!(
            has(name),
            "no `{}` in the export",
            String::from_utf8_lossy(name)
        );
    }
    assert!(
        !has(b"otlp-secret-5ec7e7"),
        "the provider's secret was exported"
    );
}
