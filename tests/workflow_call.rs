//! `authhost call` through the built binary against a real HTTP API on
//! 127.0.0.1: each static credential kind arrives as it should.

use indoc::formatdoc;
use std::path::PathBuf;

use crate::support::{authhost, echo, run, write_workflow};

/// Writes a workflow into a temporary folder and returns its path.
fn workflow(yaml: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_workflow(dir.path(), yaml);
    (dir, path)
}

/// Calls `tool` and returns what the echo server received.
fn call_echo(yaml: &str, tool: &str, extra: &[&str]) -> serde_json::Value {
    let (_dir, path) = workflow(yaml);
    let path = path.display().to_string();
    let mut args = vec!["call", tool, "--config", &path, "--format", "json"];
    args.extend_from_slice(extra);
    let out = run(authhost(), &args);
    assert_eq!(out.code, 0, "{}", out.all());
    let response: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(response["status"], 200, "{response}");
    response["body"].clone()
}

fn one_tool(server: &echo::EchoServer, provider: &str, path: &str) -> String {
    formatdoc!(
        r#"
            authentication:
              p:
            {provider}
            tools:
              t:
                _type: http
                url: {}{path}
                auth_provider: p
        "#,
        server.base
    )
}

#[test]
fn api_key_in_a_header_with_the_configured_name() {
    let server = echo::start();
    let got = call_echo(
        &one_tool(
            &server,
            "    _type: api_key\n    api_key: key-1\n    header: X-API-Key",
            "/h",
        ),
        "t",
        &[],
    );
    assert_eq!(got["headers"]["x-api-key"], "key-1");
}

#[test]
fn api_key_with_a_scheme_query_and_cookie() {
    let server = echo::start();
    let got = call_echo(
        &one_tool(
            &server,
            "    _type: api_key\n    api_key: key-2\n    header: Authorization\n    prefix: Token",
            "/h",
        ),
        "t",
        &[],
    );
    assert_eq!(got["headers"]["authorization"], "Token key-2");

    let got = call_echo(
        &one_tool(
            &server,
            "    _type: api_key\n    api_key: k&3\n    query: appid",
            "/q?x=1",
        ),
        "t",
        &[],
    );
    assert_eq!(got["query"], "x=1&appid=k%263");

    let got = call_echo(
        &one_tool(
            &server,
            "    _type: api_key\n    api_key: key-4\n    cookie: sid",
            "/c",
        ),
        "t",
        &[],
    );
    assert_eq!(got["headers"]["cookie"], "sid=key-4");
}

#[test]
fn http_basic() {
    let server = echo::start();
    let got = call_echo(
        &one_tool(
            &server,
            "    _type: http_basic\n    username: alice\n    password: s3cret",
            "/b",
        ),
        "t",
        &[],
    );
    // base64("alice:s3cret")
    assert_eq!(got["headers"]["authorization"], "Basic YWxpY2U6czNjcmV0");
}

#[test]
fn bearer_token_default_and_custom() {
    let server = echo::start();
    let got = call_echo(
        &one_tool(&server, "    _type: bearer_token\n    token: tok-5", "/t"),
        "t",
        &[],
    );
    assert_eq!(got["headers"]["authorization"], "Bearer tok-5");
    let got = call_echo(
        &one_tool(&server, "    _type: bearer_token\n    token: tok-6\n    scheme: ''\n    header_name: X-Auth-Token", "/t"),
        "t",
        &[],
    );
    assert_eq!(got["headers"]["x-auth-token"], "tok-6");
}

#[test]
fn custom_headers() {
    let server = echo::start();
    let got = call_echo(
        &one_tool(
            &server,
            "    _type: custom_headers\n    headers:\n      X-Tenant: acme\n      X-Key: k7",
            "/x",
        ),
        "t",
        &[],
    );
    assert_eq!(got["headers"]["x-tenant"], "acme");
    assert_eq!(got["headers"]["x-key"], "k7");
}

#[test]
fn arguments_fill_placeholders_and_errors_name_them() {
    let server = echo::start();
    let yaml = formatdoc!(
        r#"
            tools:
              t:
                _type: http
                method: POST
                url: {}/repos/{{owner}}/issues
                query:
                  label: "{{label}}"
                body:
                  title: "{{title}}"
        "#,
        server.base
    );
    let got = call_echo(
        &yaml,
        "t",
        &[
            "--arg",
            "owner=a b/c",
            "--arg",
            "label=x&y",
            "--arg",
            "title=Hello",
        ],
    );
    assert_eq!(got["method"], "POST");
    assert_eq!(got["path"], "/repos/a%20b%2Fc/issues");
    assert_eq!(got["query"], "label=x%26y");
    assert_eq!(got["body"], "{\"title\":\"Hello\"}");

    let (_dir, path) = workflow(&yaml);
    let out = run(
        authhost(),
        &[
            "call",
            "t",
            "--config",
            &path.display().to_string(),
            "--arg",
            "owner=o",
        ],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("calling `t`: tool `t`: missing argument `label`"),
        "{}",
        out.stderr
    );
    let out = run(
        authhost(),
        &["call", "tt", "--config", &path.display().to_string()],
    );
    assert!(
        out.stderr.contains("no tool named `tt`; did you mean `t`?"),
        "{}",
        out.stderr
    );
}

#[test]
fn environment_override_stays_a_string() {
    let server = echo::start();
    let yaml = one_tool(
        &server,
        "    _type: bearer_token\n    token: from-file",
        "/o",
    );
    let (_dir, path) = workflow(&yaml);
    let mut cmd = authhost();
    cmd.env("AUTHHOST_AUTHENTICATION__P__TOKEN", "123456");
    let out = run(
        cmd,
        &[
            "call",
            "t",
            "--config",
            &path.display().to_string(),
            "--format",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let response: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(
        response["body"]["headers"]["authorization"],
        "Bearer 123456"
    );
}

#[test]
fn redirects_keep_credentials_on_the_same_origin_only() {
    let server = echo::start();
    let got = call_echo(
        &one_tool(
            &server,
            "    _type: api_key\n    api_key: k8",
            "/redirect/same",
        ),
        "t",
        &[],
    );
    assert_eq!(got["path"], "/after-same");
    assert_eq!(got["headers"]["x-api-key"], "k8");

    let (_dir, path) = workflow(&one_tool(
        &server,
        "    _type: api_key\n    api_key: k9",
        "/redirect/cross",
    ));
    let out = run(
        authhost(),
        &["call", "t", "--config", &path.display().to_string()],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stderr.starts_with("302 Found"), "{}", out.stderr);
    assert!(
        server.hits().iter().all(|h| h["path"] != "/after-cross"),
        "credentials followed a cross-origin redirect"
    );
}

#[test]
fn egress_policy_checks_resolved_addresses() {
    let server = echo::start();
    let yaml = formatdoc!(
        r#"
            general:
              egress:
                block: [127.0.0.0/8]
            tools:
              t:
                _type: http
                url: http://localhost:{}/x
        "#,
        server.port
    );
    let (_dir, path) = workflow(&yaml);
    let out = run(
        authhost(),
        &["call", "t", "--config", &path.display().to_string()],
    );
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .contains("is blocked by the egress policy (matches blocked 127.0.0.0/8)"),
        "{}",
        out.stderr
    );
    assert!(server.hits().is_empty());
}

#[test]
fn upstream_errors_set_the_exit_code_and_show_the_body() {
    let server = echo::start();
    let (_dir, path) = workflow(&one_tool(
        &server,
        "    _type: api_key\n    api_key: k",
        "/status/500",
    ));
    let out = run(
        authhost(),
        &["-v", "call", "t", "--config", &path.display().to_string()],
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with("500 Internal Server Error"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("content-type: application/json"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("\"path\":\"/status/500\""));
}

#[test]
fn the_static_example_calls_every_tool() {
    let server = echo::start();
    let example =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/static-providers.yaml");
    let example = example.display().to_string();
    let cases = [
        (
            "current_weather",
            vec!["--arg", "city=Paris"],
            "query",
            "q=Paris&units=metric&appid=w-key",
        ),
        ("list_repos", vec![], "authorization", "Bearer gh-token"),
        (
            "monthly_report",
            vec!["--arg", "month=2026-10"],
            "authorization",
            "Basic c3ZjLXJlcG9ydHM6cmVwb3J0cy1wdw==",
        ),
        (
            "create_ticket",
            vec!["--arg", "title=Printer"],
            "authorization",
            "Bearer internal-token",
        ),
        ("tenant_usage", vec![], "x-tenant-key", "tenant-key"),
    ];
    for (tool, extra, field, expected) in cases {
        let mut cmd = authhost();
        for (k, v) in [
            ("WEATHER_API_KEY", "w-key"),
            ("GITHUB_TOKEN", "gh-token"),
            ("REPORTS_PASSWORD", "reports-pw"),
            ("INTERNAL_API_TOKEN", "internal-token"),
            ("TENANT_KEY", "tenant-key"),
        ] {
            cmd.env(k, v);
        }
        for base in [
            "WEATHER_API_BASE",
            "GITHUB_API_BASE",
            "REPORTS_BASE",
            "INTERNAL_API_BASE",
            "TENANT_API_BASE",
        ] {
            cmd.env(base, &server.base);
        }
        let mut args = vec![
            "call",
            tool,
            "--config",
            example.as_str(),
            "--format",
            "json",
        ];
        args.extend(extra.iter().copied());
        let out = run(cmd, &args);
        assert_eq!(out.code, 0, "{tool}: {}", out.all());
        let body: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
        let got = if field == "query" {
            body["body"]["query"].clone()
        } else {
            body["body"]["headers"][field].clone()
        };
        assert_eq!(got, expected, "{tool}");
    }
}

/// A forward proxy on 127.0.0.1 that records each request line and answers
/// 200; returns its URL and the record.
fn recording_proxy() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(16) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            record.lock().expect("lock").push(first.trim().to_owned());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}");
        }
    });
    (url, seen)
}

/// Issue 10: with HTTP_PROXY set, a tool whose name resolves into a
/// blocked range went to the proxy with its credentials. The environment's
/// proxy is ignored; a configured one gets only destinations the policy
/// allows, checked on every resolved address first.
#[test]
fn proxies_never_carry_requests_the_policy_refuses() {
    let (proxy, seen) = recording_proxy();
    let server = echo::start();
    let blocked = formatdoc!(
        r#"
            general:
              egress:
                block: [127.0.0.0/8, "::1"]
            authentication:
              key:
                _type: api_key
                api_key: secret-key-1
            tools:
              t:
                _type: http
                url: http://localhost:{}/x
                auth_provider: key
        "#,
        server.port
    );
    let (_dir, path) = workflow(&blocked);
    let path = path.display().to_string();
    let mut cmd = authhost();
    cmd.env("HTTP_PROXY", &proxy)
        .env("http_proxy", &proxy)
        .env("ALL_PROXY", &proxy);
    let out = run(cmd, &["call", "t", "--config", &path]);
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains("blocked by the egress policy"),
        "{}",
        out.stderr
    );

    let configured = blocked.replace(
        "  egress:\n",
        &format!("  egress:\n    proxy: {proxy}\n    allow: [api.proxied.test]\n"),
    );
    let (_dir2, path2) = workflow(&configured);
    let path2 = path2.display().to_string();
    let out = run(authhost(), &["call", "t", "--config", &path2]);
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains("blocked by the egress policy"),
        "{}",
        out.stderr
    );
    assert!(
        seen.lock().expect("lock").is_empty(),
        "the proxy saw {:?}",
        seen.lock()
    );
    assert!(server.hits().is_empty());

    // An allowed destination goes through the configured proxy.
    let allowed = configured.replace(
        &format!("http://localhost:{}/x", server.port),
        "http://api.proxied.test/x",
    );
    let (_dir3, path3) = workflow(&allowed);
    let out = run(
        authhost(),
        &["call", "t", "--config", &path3.display().to_string()],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        seen.lock().expect("lock").as_slice(),
        ["GET http://api.proxied.test/x HTTP/1.1"]
    );

    let bad = configured.replace(&format!("proxy: {proxy}"), "proxy: socks9://nowhere");
    let (_dir4, path4) = workflow(&bad);
    let out = run(authhost(), &["validate", &path4.display().to_string()]);
    assert_ne!(out.code, 0);
    assert!(
        out.stdout.contains("general.egress.proxy") || out.stderr.contains("general.egress.proxy"),
        "{}",
        out.all()
    );
}
