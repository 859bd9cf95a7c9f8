//! `/v1/proxy/{provider}/…` against a real `authhost serve` and real
//! upstreams: credentials applied as for a tool call, the caller's own
//! credentials and hop-by-hop headers dropped, paths held below the base
//! URL, redirects handed back, a 401 answered by one refresh and one retry,
//! a connect link when the user has not connected, and 1 GiB streamed each
//! way in bounded memory.

use futures_util::StreamExt as _;

use crate::{
    server::{client, connect_through_link, spawn_serve, terminate},
    support::{authhost, echo, free_port, oauth_server},
};

/// The server's resident set and its peak so far, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("field")
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A GET of `target` exactly as written (no client normalizing its dot
/// segments), as alice: the status and the body.
async fn raw_get(addr: &str, target: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nX-User-Id: alice\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, answer)
}

async fn json(answer: reqwest::Response) -> serde_json::Value {
    serde_json::from_slice(&answer.bytes().await.expect("body")).expect("json")
}

const GIB: u64 = 1024 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread")]
async fn requests_pass_through_with_the_users_credentials() {
    let (api, auth) = (echo::start(), oauth_server::start());
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let yaml = format!(
        r#"general:
  server:
    connect:
      verify: none
  store:
    url: sqlite://{dir}/tokens.db
    key_file: {dir}/store.key
  inbound_auth:
    type: none
    trust_user_header: X-User-Id
authentication:
  key:
    _type: api_key
    _base_url: {api}/api
    api_key: upstream-secret-key
  mirror:
    _type: api_key
    _base_url: [{api}/, {api}/alt]
    api_key: mirror-key
  gh:
    _type: oauth2_auth_code_flow
    _base_url: {auth}
    client_id: authhost-test
    client_secret: test-secret
    issuer: {auth}
    redirect_uri: http://127.0.0.1:{port}/auth/callback
    scopes: [repo]
  unproxied:
    _type: api_key
    api_key: k
"#,
        dir = dir.path().display(),
        api = api.base,
        auth = auth.base,
    );
    let config = dir.path().join("workflow.yaml");
    std::fs::write(&config, yaml).expect("write");
    let (server, base) = tokio::task::spawn_blocking(move || {
        spawn_serve(authhost(), &config, Some(&format!("127.0.0.1:{port}")))
    })
    .await
    .expect("serve");
    let http = client();

    // Method, path, query, body and the caller's own headers pass; the
    // provider's key is added; the caller's credentials, cookies, the user
    // header and hop-by-hop headers do not pass.
    let answer = http
        .put(format!(
            "{base}/v1/proxy/key/repos/a%2Fb/items?page=2&q=x%20y"
        ))
        .header("x-user-id", "alice")
        .header("authorization", "Bearer the-callers-own-token")
        .header("cookie", "session=the-callers-cookie")
        .header("x-api-key", "caller-chosen-key")
        .header("connection", "x-hop")
        .header("x-hop", "1")
        .header("x-github-api-version", "2022-11-28")
        .header("content-type", "application/json")
        .body(r#"{"title": "hello"}"#)
        .send()
        .await
        .expect("proxy");
    assert_eq!(answer.status(), 200);
    let seen: serde_json::Value = json(answer).await;
    assert_eq!(seen["method"], "PUT");
    assert_eq!(seen["path"], "/api/repos/a%2Fb/items");
    assert_eq!(seen["query"], "page=2&q=x%20y");
    assert_eq!(seen["body"], r#"{"title": "hello"}"#);
    let headers = &seen["headers"];
    assert_eq!(headers["x-api-key"], "upstream-secret-key", "{seen}");
    assert_eq!(headers["x-github-api-version"], "2022-11-28");
    assert_eq!(headers["content-type"], "application/json");
    for gone in ["authorization", "cookie", "x-user-id", "x-hop"] {
        assert!(headers.get(gone).is_none(), "{gone} passed: {seen}");
    }

    // Another listed base URL, on request; an unlisted one is refused.
    let answer = http
        .get(format!("{base}/v1/proxy/mirror/x"))
        .header("x-user-id", "alice")
        .header("x-authhost-base-url", format!("{}/alt", api.base))
        .send()
        .await
        .expect("proxy");
    assert_eq!(answer.status(), 200);
    let seen: serde_json::Value = json(answer).await;
    assert_eq!(seen["path"], "/alt/x");
    let refused = |url: String, header: Option<String>| {
        let http = http.clone();
        async move {
            let mut request = http.get(url).header("x-user-id", "alice");
            if let Some(h) = header {
                request = request.header("x-authhost-base-url", h);
            }
            let answer = request.send().await.expect("proxy");
            let status = answer.status().as_u16();
            (status, answer.text().await.expect("text"))
        }
    };
    let hits = api.hits().len();
    let (status, body) = refused(
        format!("{base}/v1/proxy/mirror/x"),
        Some("http://169.254.169.254/".to_owned()),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("not one of authentication.mirror._base_url"),
        "{body}"
    );
    // Dot segments, raw or encoded, cannot climb above the base path (sent
    // raw: an HTTP client would resolve them before sending).
    let addr = base.trim_start_matches("http://").to_owned();
    for escape in [
        "../secret",
        "%2e%2e/secret",
        "a/%2E%2E/%2e%2e/secret",
        ".%2e/secret",
    ] {
        let (status, body) = raw_get(&addr, &format!("/v1/proxy/key/{escape}")).await;
        assert_eq!(status, 400, "{escape}: {body}");
        assert!(body.contains("leaves the provider's base URL"), "{body}");
    }
    let (status, body) = refused(format!("{base}/v1/proxy/unproxied/x"), None).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("has no `_base_url`"), "{body}");
    let (status, _) = refused(format!("{base}/v1/proxy/nope/x"), None).await;
    assert_eq!(status, 404);
    assert!(
        api.hits()[hits..].iter().all(|h| h["path"] != "/secret"),
        "a path left its base"
    );

    // Redirects come back to the caller; none is followed.
    let answer = http
        .get(format!("{base}/v1/proxy/mirror/redirect/cross"))
        .header("x-user-id", "alice")
        .send()
        .await
        .expect("proxy");
    assert_eq!(answer.status(), 302);
    assert!(api.hits().iter().all(|h| h["path"] != "/after-cross"));

    // Per-user OAuth: a connect link first; then the user's token; an
    // upstream 401 to it is answered by one refresh and one retry.
    let me = || {
        http.get(format!("{base}/v1/proxy/gh/api/me"))
            .header("x-user-id", "carol")
            .send()
    };
    let answer = me().await.expect("proxy");
    let first = (answer.status().as_u16(), json(answer).await);
    assert_eq!(first.1["error"], "authorization_required", "{}", first.1);
    connect_through_link(&http, first).await;
    let answer = me().await.expect("proxy");
    assert_eq!(answer.status(), 200);
    auth.forget_access_tokens();
    let answer = me().await.expect("proxy");
    assert_eq!(answer.status(), 200, "refreshed and retried");
    assert_eq!(auth.calls("refresh_token"), 1);

    let metrics = crate::server::metrics_text(&base).await;
    for line in [
        "authhost_proxy_requests_total{provider=\"gh\",outcome=\"upstream\"} 2",
        "authhost_proxy_requests_total{provider=\"gh\",outcome=\"authorization_required\"} 1",
        "authhost_proxy_requests_total{provider=\"key\",outcome=\"client_error\"} 4",
    ] {
        assert!(metrics.contains(line), "{line}\n{metrics}");
    }
    assert!(terminate(server).success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gibibyte_streams_each_way_in_bounded_memory() {
    let api = echo::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = format!(
        "general:\n  inbound_auth:\n    type: none\nauthentication:\n  key:\n    _type: api_key\n    _base_url: {}\n    api_key: k\n",
        api.base
    );
    let config = dir.path().join("workflow.yaml");
    std::fs::write(&config, yaml).expect("write");
    let (server, base) =
        tokio::task::spawn_blocking(move || spawn_serve(authhost(), &config, Some("127.0.0.1:0")))
            .await
            .expect("serve");
    let pid = server.id();
    let http = client();
    // Warm up the paths once, then take the resident set as the baseline.
    let answer = http
        .get(format!("{base}/v1/proxy/key/big/1048576"))
        .send()
        .await
        .expect("warm-up");
    assert_eq!(answer.bytes().await.expect("body").len(), 1 << 20);
    let (baseline, _) = memory_kib(pid);

    let chunk = bytes::Bytes::from(vec![b'u'; 256 * 1024]);
    let chunks = (GIB / chunk.len() as u64) as usize;
    let upload = futures_util::stream::iter(
        (0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
    );
    let answer = http
        .post(format!("{base}/v1/proxy/key/sink"))
        .header("content-length", GIB.to_string())
        .body(reqwest::Body::wrap_stream(upload))
        .send()
        .await
        .expect("upload");
    assert_eq!(answer.status(), 200);
    let received: serde_json::Value = json(answer).await;
    assert_eq!(received["received"], GIB);

    let answer = http
        .get(format!("{base}/v1/proxy/key/big/{GIB}"))
        .send()
        .await
        .expect("download");
    assert_eq!(answer.status(), 200);
    let mut downloaded = 0_u64;
    let mut stream = answer.bytes_stream();
    while let Some(chunk) = stream.next().await {
        downloaded += chunk.expect("chunk").len() as u64;
    }
    assert_eq!(downloaded, GIB);

    let (_, peak) = memory_kib(pid);
    let growth_mib = peak.saturating_sub(baseline) / 1024;
    eprintln!(
        "serve's peak RSS grew {growth_mib} MiB over {} MiB while 2 GiB streamed",
        baseline / 1024
    );
    assert!(
        growth_mib < 64,
        "RSS grew {growth_mib} MiB: the body was held in memory"
    );
    assert!(terminate(server).success());
}

#[test]
fn authhost_curl_calls_a_providers_api_from_scripts() {
    let api = echo::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = crate::support::write_workflow(
        dir.path(),
        format!(
            "authentication:\n  key:\n    _type: api_key\n    _base_url: {}/api\n    api_key: curl-secret-key\n  bare:\n    _type: api_key\n    api_key: k\n",
            api.base
        ),
    );
    let config = path.to_str().expect("utf-8");
    let out = crate::support::run(
        authhost(),
        &[
            "curl",
            "key",
            "items?page=2",
            "--config",
            config,
            "-X",
            "post",
            "-d",
            r#"{"a": 1}"#,
            "-H",
            "Content-Type: application/json",
            "-i",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.starts_with("HTTP/1.1 200 OK\n"),
        "{}",
        out.stdout
    );
    let body = out.stdout.split("\n\n").nth(1).expect("body");
    let seen: serde_json::Value = serde_json::from_str(body).expect("json");
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/api/items");
    assert_eq!(seen["query"], "page=2");
    assert_eq!(seen["body"], r#"{"a": 1}"#);
    assert_eq!(seen["headers"]["x-api-key"], "curl-secret-key");
    assert_eq!(seen["headers"]["content-type"], "application/json");
    assert!(!out.stderr.contains("curl-secret-key"));

    let out = crate::support::run(authhost(), &["curl", "bare", "x", "--config", config]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("provider `bare` has no `_base_url`"),
        "{}",
        out.stderr
    );
    let out = crate::support::run(authhost(), &["curl", "key", "../x", "--config", config]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("leaves the provider's base URL"),
        "{}",
        out.stderr
    );
}

#[test]
fn validate_names_base_url_mistakes_with_positions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = crate::support::write_workflow(
        dir.path(),
        "authentication:\n  a:\n    _type: api_key\n    _base_url: not a url\n    api_key: k\n  b:\n    _type: api_key\n    _base_url: [https://ok.example.com, ftp://files.example.com, \"https://q.example.com/?x=1\"]\n    api_key: k\n  c:\n    _type: api_key\n    _base_url: 5\n    api_key: k\n",
    );
    let out = crate::support::run(authhost(), &["validate", path.to_str().expect("utf-8")]);
    let all = out.all();
    for expected in [
        ":4:16: error: authentication.a._base_url: expected an absolute URL",
        ":8:41: error: authentication.b._base_url[1]: expected an http(s) URL with a host",
        ":8:66: error: authentication.b._base_url[2]: a base URL takes no query or fragment",
        ":12:16: error: authentication.c._base_url: expected a URL such as https://api.example.com or a list of them, found",
    ] {
        assert!(all.contains(expected), "{expected}\n{all}");
    }
}
