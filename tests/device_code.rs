//! `oauth2_device_code` (RFC 8628) through `authhost login --device`
//! against the test authorization server, which answers polls as §3.5 says
//! and records them: the CLI waits `interval` between polls and five more
//! seconds after a `slow_down`, stores the grant, and says a refusal; in
//! `serve`, a connect link shows the code and the server finishes the flow.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Stdio},
    time::Duration,
};

use indoc::formatdoc;

use crate::support::{authhost, oauth_server, run, write_workflow};

fn workflow(dir: &std::path::Path, server: &oauth_server::AuthServer) -> String {
    let yaml = formatdoc!(
        r#"
            general:
              store:
                url: sqlite://{dir}/tokens.db
                key_file: {dir}/store.key
            authentication:
              tv:
                _type: oauth2_device_code
                client_id: public-app
                device_authorization_url: {base}/device_authorization
                token_url: {base}/token
                scopes: [repo]
              web:
                _type: oauth2_auth_code_flow
                client_id: authhost-test
                client_secret: test-secret
                authorization_url: {base}/authorize
                token_url: {base}/token
                redirect_uri: http://127.0.0.1:9/callback
            tools:
              me:
                _type: http
                url: {base}/api/me
                auth_provider: tv
        "#,
        dir = dir.display(),
        base = server.base,
    );
    write_workflow(dir, yaml).display().to_string()
}

/// Starts `authhost login tv --device` for `user`; returns the process,
/// the verification URL and the user code it printed.
fn start_login(config: &str, user: &str) -> (Child, String, String) {
    let mut child = authhost()
        .args([
            "login",
            "tv",
            "--device",
            "--user",
            user,
            "--timeout",
            "60s",
            "--config",
            config,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("login");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let (mut url, mut code) = (String::new(), String::new());
    stdout.read_line(&mut url).expect("url");
    stdout.read_line(&mut code).expect("code");
    // Keep reading so the child never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let code = code
        .trim()
        .strip_prefix("code: ")
        .expect("code line")
        .to_owned();
    (child, url.trim().to_owned(), code)
}

fn approve(url: &str, query: &str) {
    approve_url(&format!("{url}&{query}"));
}

fn wait_for_polls(server: &oauth_server::AuthServer, n: usize) {
    for _ in 0..200 {
        if server.get(|inner| inner.device_polls.len()) >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("fewer than {n} polls arrived");
}

#[test]
fn the_cli_shows_the_code_polls_politely_and_stores_the_grant() {
    let server = oauth_server::start();
    server.set(|inner| {
        inner.device_interval = 1;
        inner.slow_down_once = true;
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let config = workflow(dir.path(), &server);

    let (child, url, code) = start_login(&config, "alice");
    assert!(url.contains(&format!("user_code={code}")), "{url}");
    wait_for_polls(&server, 1);
    approve(&url, "user=alice");
    let output = child.wait_with_output().expect("login");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let polls = server.get(|inner| inner.device_polls.clone());
    let answers: Vec<&str> = polls.iter().map(|p| p.answer.as_str()).collect();
    // Told to slow down, it waited the interval plus five seconds: the
    // next poll was not early (the server would have said slow_down again).
    assert_eq!(answers, ["slow_down", "token"], "{polls:?}");
    assert!(polls[1].at.duration_since(polls[0].at) >= Duration::from_secs(5));

    let out = run(
        authhost(),
        &["call", "me", "--user", "alice", "--config", &config],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("alice"), "{}", out.stdout);

    // Pending until approved, then the token at the next interval.
    let (child, url, _) = start_login(&config, "bob");
    wait_for_polls(&server, 3);
    approve(&url, "user=bob");
    let output = child.wait_with_output().expect("login");
    assert_eq!(output.status.code(), Some(0));
    let answers: Vec<String> = server.get(|inner| {
        inner.device_polls[2..]
            .iter()
            .map(|p| p.answer.clone())
            .collect()
    });
    assert_eq!(
        answers.first().map(String::as_str),
        Some("authorization_pending")
    );
    assert_eq!(answers.last().map(String::as_str), Some("token"));
    let list = run(
        authhost(),
        &["tokens", "list", "--format", "json", "--config", &config],
    );
    let rows: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).expect("json");
    assert_eq!(rows.len(), 2, "{}", list.stdout);
    assert!(!list.all().contains("access-") && !list.all().contains("device-"));
}

#[test]
fn a_refusal_is_said_and_a_redirect_provider_is_not_a_device_one() {
    let server = oauth_server::start();
    server.set(|inner| inner.device_interval = 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = workflow(dir.path(), &server);
    let (child, url, _) = start_login(&config, "carol");
    approve(&url, "user=carol&deny=1");
    let output = child.wait_with_output().expect("login");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the user refused the authorization (access_denied)"),
        "{stderr}"
    );

    let out = run(
        authhost(),
        &[
            "login", "web", "--device", "--user", "carol", "--config", &config,
        ],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("provider `web` does not authorize with the device flow"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connect_link_shows_the_code_and_the_server_finishes_the_flow() {
    let server = oauth_server::start();
    server.set(|inner| inner.device_interval = 1);
    let running = crate::server::start(
        &formatdoc!(
            r#"
                general:
                  server:
                    connect:
                      verify: none
                  store:
                    url: sqlite://{{dir}}/tokens.db
                  inbound_auth:
                    type: none
                    trust_user_header: X-User-Id
                authentication:
                  tv:
                    _type: oauth2_device_code
                    client_id: public-app
                    device_authorization_url: {base}/device_authorization
                    token_url: {base}/token
                tools:
                  me:
                    _type: http
                    url: {base}/api/me
                    auth_provider: tv
            "#,
            base = server.base,
        ),
        None,
    )
    .await;
    let (status, body) = crate::server::invoke_as(&running.base, "me", "dana").await;
    assert_eq!(status, 401, "{body}");
    let link = body["auth_url"].as_str().expect("connect link").to_owned();
    let http = reqwest::Client::new();
    let page = http.get(&link).send().await.expect("open the link");
    assert_eq!(page.status(), 200);
    let page = page.text().await.expect("page");
    let code = page
        .split("<strong id=\"user-code\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the page shows the code")
        .to_owned();
    assert!(page.contains(&format!("{}/device", server.base)), "{page}");
    let approve = format!("{}/device?user_code={code}&user=dana", server.base);
    tokio::task::spawn_blocking(move || approve_url(&approve))
        .await
        .expect("approve");
    let mut connected = false;
    for _ in 0..100 {
        let (status, body) = crate::server::invoke_as(&running.base, "me", "dana").await;
        if status == 200 {
            assert_eq!(body["body"]["user"], "dana", "{body}");
            connected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(connected, "the server never stored the grant");
}

fn approve_url(url: &str) {
    let status = reqwest::blocking::get(url).expect("approve").status();
    assert!(status.is_success(), "{status}");
}

#[test]
fn config_mistakes_are_named_with_their_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (entry, expected) in [
        (
            "client_id: app\n    token_url: https://auth.example.com/token",
            "device_authorization_url",
        ),
        (
            "client_id: app\n    client_secret: s\n    token_endpoint_auth_method: private_key_jwt\n    device_authorization_url: https://auth.example.com/device\n    token_url: https://auth.example.com/token",
            "token_endpoint_auth_method: only client_secret_basic or client_secret_post",
        ),
        (
            "client_id: app\n    device_authorization_url: ftp://auth.example.com/device\n    token_url: https://auth.example.com/token",
            "device_authorization_url: must be an http or https URL",
        ),
    ] {
        let path = write_workflow(
            dir.path(),
            format!("authentication:\n  tv:\n    _type: oauth2_device_code\n    {entry}\n"),
        );
        let out = run(authhost(), &["validate", &path.display().to_string()]);
        assert_eq!(out.code, 2, "{entry}: {}", out.all());
        assert!(out.stdout.contains("authentication.tv"), "{}", out.stdout);
        assert!(out.stdout.contains(expected), "{entry}: {}", out.stdout);
    }
}
