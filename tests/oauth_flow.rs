//! Per-user OAuth end to end: `authhost login` against a real authorization
//! server on 127.0.0.1, tokens stored encrypted, refreshed exactly once by
//! many concurrent calls and by two processes sharing one store, kept on
//! transient failures, revoked on request; and the callback refusing every
//! malformed redirect.

use indoc::{formatdoc, indoc};
use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use crate::support::{authhost, free_port, oauth_server, postgres_url, run, write_workflow};

struct Setup {
    _dir: tempfile::TempDir,
    workflow: PathBuf,
    server: oauth_server::AuthServer,
}

fn setup_with_store(store_url: Option<String>) -> Setup {
    let server = oauth_server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let store_url =
        store_url.unwrap_or_else(|| format!("sqlite://{}/tokens.db", dir.path().display()));
    let key_file = dir.path().join("store.key");
    let yaml = formatdoc!(
        r#"
            general:
              store:
                url: {store_url}
                key_file: {key}
            authentication:
              gh:
                _type: oauth2_auth_code_flow
                client_id: authhost-test
                client_secret: ${{GH_SECRET}}
                issuer: {base}
                redirect_uri: http://127.0.0.1:{port}/callback
                scopes: [repo]
              svc:
                _type: oauth2_client_credentials
                client_id: authhost-test
                client_secret: test-secret
                token_url: {base}/token
                scopes: [reports]
                audience: https://api.test
            tools:
              me:
                _type: http
                url: {base}/api/me
                auth_provider: gh
              svc_me:
                _type: http
                url: {base}/api/me
                auth_provider: svc
        "#,
        key = key_file.display(),
        base = server.base,
        port = free_port()
    );
    let workflow = write_workflow(dir.path(), yaml);
    Setup {
        _dir: dir,
        workflow,
        server,
    }
}

fn cmd() -> Command {
    let mut c = authhost();
    c.env("GH_SECRET", "test-secret");
    c
}

fn args<'a>(setup: &'a Setup, rest: &[&'a str]) -> Vec<String> {
    let mut v: Vec<String> = rest.iter().map(|s| (*s).to_owned()).collect();
    v.push("--config".into());
    v.push(setup.workflow.display().to_string());
    v
}

fn authhost_run(setup: &Setup, rest: &[&str]) -> crate::support::Run {
    let a = args(setup, rest);
    run(cmd(), &a.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Follows the authorization URL over plain HTTP (no browser): the test
/// server answers with a redirect to the CLI's loopback listener.
pub(crate) fn drive_browser(url: &str) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let response = client.get(url).send().await.expect("authorize");
        assert_eq!(response.status(), 303, "authorize should redirect");
        let location = response.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        // The CLI may still be binding: retry briefly.
        for _ in 0..50 {
            if let Ok(response) = client.get(&location).send().await {
                let status = response.status().as_u16();
                return (status, response.text().await.unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the login listener never answered at {location}");
    })
}

/// Spawns `authhost login …` (`cmd` with its arguments set) with piped
/// stdio and reads the first stdout line: the authorization URL.
pub(crate) fn spawn_login(
    mut cmd: Command,
) -> (Child, BufReader<std::process::ChildStdout>, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn login");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut url = String::new();
    stdout.read_line(&mut url).expect("url line");
    (child, stdout, url)
}

/// Runs `authhost login gh --user USER` and drives the browser part.
fn login(setup: &Setup, user: &str) -> (crate::support::Run, String) {
    let mut login = cmd();
    login.args(args(
        setup,
        &["login", "gh", "--user", user, "--timeout", "30s"],
    ));
    let (child, mut stdout, url) = spawn_login(login);
    let (_, page) = drive_browser(url.trim());
    let output = child.wait_with_output().expect("wait");
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stdout, &mut rest);
    (
        crate::support::Run {
            code: output.status.code().unwrap_or(-1),
            stdout: format!("{url}{rest}"),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        },
        page,
    )
}

fn expire_tokens_soon(setup: &Setup) {
    setup.server.set(|s| s.lifetime = Some(1));
}

#[test]
fn login_then_calls_refresh_exactly_once() {
    let setup = setup_with_store(None);
    expire_tokens_soon(&setup);
    let (out, page) = login(&setup, "alice");
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout
            .contains("user `alice` is logged in to `gh` until"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("(scopes: repo)"));
    assert!(
        page.contains("User <b>alice</b> is now authorized for <b>gh</b>"),
        "{page}"
    );
    assert!(
        out.stderr
            .contains("note: created the token store key file"),
        "{}",
        out.stderr
    );
    assert_eq!(setup.server.calls("authorization_code"), 1);

    // The token has expired: 200 concurrent calls, one refresh.
    std::thread::sleep(Duration::from_millis(1100));
    setup.server.set(|s| s.lifetime = Some(3600));
    let out = authhost_run(
        &setup,
        &["call", "me", "--user", "alice", "--concurrency", "200"],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(out.stdout.trim(), "200 200");
    assert_eq!(setup.server.calls("refresh_token"), 1, "{}", out.stderr);
    assert_eq!(setup.server.get(|s| s.reuse_detected), 0);

    // Later calls use the stored, refreshed token without refreshing.
    let out = authhost_run(
        &setup,
        &["call", "me", "--user", "alice", "--format", "json"],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("\"user\": \"test-user\""),
        "{}",
        out.stdout
    );
    assert_eq!(setup.server.calls("refresh_token"), 1);

    // Someone who never logged in.
    let out = authhost_run(&setup, &["call", "me", "--user", "bob"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("provider `gh` needs user `bob` to authorize first"),
        "{}",
        out.stderr
    );

    // tokens list/show print no secret.
    let list = authhost_run(&setup, &["tokens", "list", "--format", "json"]);
    assert_eq!(list.code, 0, "{}", list.all());
    let rows: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).expect("json");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0]["provider"].as_str(), rows[0]["user"].as_str()),
        (Some("gh"), Some("alice"))
    );
    let show = authhost_run(&setup, &["tokens", "show", "gh", "--user", "alice"]);
    assert!(
        show.stdout.contains("decrypts      yes") && show.stdout.contains("refresh token yes"),
        "{}",
        show.stdout
    );
    for out in [&list, &show] {
        assert!(
            !out.all().contains("access-") && !out.all().contains("refresh-"),
            "{}",
            out.all()
        );
    }

    // Revoke at the server, then delete; the next call needs a login.
    let revoke = authhost_run(&setup, &["tokens", "revoke", "gh", "--user", "alice"]);
    assert_eq!(revoke.code, 0, "{}", revoke.all());
    assert!(
        revoke
            .stdout
            .contains("revoked at the authorization server"),
        "{}",
        revoke.all()
    );
    assert_eq!(setup.server.get(|s| s.revocations), 1);
    let out = authhost_run(&setup, &["call", "me", "--user", "alice"]);
    assert!(
        out.stderr.contains("needs user `alice` to authorize first"),
        "{}",
        out.stderr
    );
}

fn two_processes_refresh_once(setup: &Setup) {
    expire_tokens_soon(setup);
    let (out, _) = login(setup, "carol");
    assert_eq!(out.code, 0, "{}", out.all());
    std::thread::sleep(Duration::from_millis(1100));
    setup.server.set(|s| {
        s.lifetime = Some(3600);
        s.refresh_delay = Duration::from_millis(200);
    });
    let spawn = || {
        let a = args(
            setup,
            &["call", "me", "--user", "carol", "--concurrency", "100"],
        );
        cmd()
            .args(&a)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let output = child.wait_with_output().expect("wait");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(stdout.trim(), "100 200");
    }
    assert_eq!(setup.server.calls("refresh_token"), 1);
    assert_eq!(setup.server.get(|s| s.reuse_detected), 0);
}

#[test]
fn two_processes_on_one_sqlite_file_refresh_once() {
    two_processes_refresh_once(&setup_with_store(None));
}

#[test]
fn two_processes_on_one_postgres_refresh_once() {
    let Some(url) = postgres_url() else { return };
    two_processes_refresh_once(&setup_with_store(Some(url)));
}

#[test]
fn client_credentials_token_is_shared_and_cached() {
    let setup = setup_with_store(None);
    let out = authhost_run(
        &setup,
        &["call", "svc_me", "--user", "anyone", "--concurrency", "50"],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(out.stdout.trim(), "50 200");
    assert_eq!(setup.server.calls("client_credentials"), 1);
}

#[test]
fn transient_refresh_failures_keep_the_grant() {
    let setup = setup_with_store(None);
    expire_tokens_soon(&setup);
    assert_eq!(login(&setup, "dave").0.code, 0);
    std::thread::sleep(Duration::from_millis(1100));
    setup.server.set(|s| s.refresh_status = Some(503));
    let out = authhost_run(&setup, &["call", "me", "--user", "dave"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("the grant is kept and will be retried"),
        "{}",
        out.stderr
    );
    let show = authhost_run(&setup, &["tokens", "show", "gh", "--user", "dave"]);
    assert!(
        show.stdout
            .contains("last error    the refresh failed: the authorization server answered 503"),
        "{}",
        show.stdout
    );
    setup.server.set(|s| {
        s.refresh_status = None;
        s.lifetime = Some(3600);
    });
    let out = authhost_run(&setup, &["call", "me", "--user", "dave"]);
    assert_eq!(out.code, 0, "{}", out.all());
}

#[test]
fn a_process_killed_during_a_refresh_leaves_a_usable_store() {
    let setup = setup_with_store(None);
    expire_tokens_soon(&setup);
    assert_eq!(login(&setup, "erin").0.code, 0);
    std::thread::sleep(Duration::from_millis(1100));
    setup.server.set(|s| {
        s.refresh_delay = Duration::from_secs(3);
        s.lifetime = Some(3600);
    });
    let a = args(&setup, &["call", "me", "--user", "erin"]);
    let mut child = cmd()
        .args(&a)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(800));
    child.kill().expect("kill -9");
    let _ = child.wait();
    setup.server.set(|s| s.refresh_delay = Duration::ZERO);
    let out = authhost_run(&setup, &["call", "me", "--user", "erin"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(setup.server.get(|s| s.reuse_detected), 0);
}

#[test]
fn key_rotation_keeps_users_logged_in() {
    let setup = setup_with_store(None);
    assert_eq!(login(&setup, "frank").0.code, 0);
    let out = authhost_run(&setup, &["keys", "rotate"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("1 token row(s) re-encrypted"),
        "{}",
        out.stdout
    );
    // The key current until now is kept one more rotation (issue 11).
    assert!(out.stdout.contains("no key retired"), "{}", out.stdout);
    let out = authhost_run(&setup, &["keys", "rotate"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("retired key(s):"), "{}", out.stdout);
    let out = authhost_run(&setup, &["call", "me", "--user", "frank"]);
    assert_eq!(out.code, 0, "{}", out.all());
}

#[test]
fn login_with_a_pasted_url() {
    let setup = setup_with_store(None);
    let mut login = cmd();
    login.args(args(
        &setup,
        &["login", "gh", "--user", "gina", "--no-listen"],
    ));
    let (mut child, mut stdout, url) = spawn_login(login);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let location = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let response = client.get(url.trim()).send().await.expect("authorize");
        response.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned()
    });
    use std::io::Write;
    writeln!(child.stdin.take().expect("stdin"), "{location}").expect("paste");
    let output = child.wait_with_output().expect("wait");
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stdout, &mut rest);
    assert!(
        output.status.success(),
        "{rest}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(rest.contains("user `gina` is logged in to `gh`"), "{rest}");
}

#[test]
fn the_oauth_example_logs_in_and_calls_both_tools() {
    let server = oauth_server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/oauth.yaml");
    let env = |c: &mut Command| {
        c.env("GITHUB_CLIENT_ID", "authhost-test")
            .env("GITHUB_CLIENT_SECRET", "test-secret")
            .env("GITHUB_OAUTH_BASE", &server.base)
            .env("GITHUB_API_BASE", &server.base)
            .env("LOGIN_PORT", free_port().to_string())
            .env("REPORTING_CLIENT_ID", "authhost-test")
            .env("REPORTING_CLIENT_SECRET", "test-secret")
            .env("REPORTING_TOKEN_URL", format!("{}/token", server.base))
            .env("REPORTS_API_BASE", &server.base)
            .env(
                "AUTHHOST_EXAMPLE_STORE",
                format!("sqlite://{}/example.db", dir.path().display()),
            );
    };
    let config = example.display().to_string();
    let mut login = authhost();
    env(&mut login);
    login.args([
        "login",
        "github",
        "--config",
        &config,
        "--user",
        "alice",
        "--timeout",
        "30s",
    ]);
    let (mut child, _stdout, url) = spawn_login(login);
    let (status, _) = drive_browser(url.trim());
    assert_eq!(status, 200);
    assert!(child.wait().expect("wait").success());
    for tool in ["list_repos", "report_status"] {
        let mut call = authhost();
        env(&mut call);
        let out = run(
            call,
            &["call", tool, "--config", &config, "--user", "alice"],
        );
        assert_eq!(out.code, 0, "{tool}: {}", out.all());
        assert!(out.stdout.contains("\"user\""), "{}", out.stdout);
    }
}

/// The callback, in-process, against every malformed redirect.
mod callback {
    use super::*;
    use authhost::{
        authorize::{self, CallbackParams, FlowError},
        store::{StoreOptions, TokenStore},
        workflow::{load, LoadOptions},
    };

    async fn fixture() -> (
        Setup,
        authhost::workflow::Workflow,
        std::sync::Arc<TokenStore>,
    ) {
        let setup = setup_with_store(None);
        let loaded = load(
            &setup.workflow,
            &LoadOptions {
                env: vec![("GH_SECRET".into(), "test-secret".into())],
                plugin_paths: vec![crate::support::target_dir()],
                ..LoadOptions::default()
            },
        );
        let workflow = loaded
            .workflow
            .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
        let (store, _) = TokenStore::open(&StoreOptions {
            url: workflow.store_options.url.clone(),
            key_file: workflow.store_options.key_file.clone(),
            master_key: None,
            ..StoreOptions::default()
        })
        .await
        .expect("store");
        (setup, workflow, std::sync::Arc::new(store))
    }

    /// Starts a flow for `user` and follows the authorization URL; returns
    /// the redirect's query.
    async fn redirect_query(
        workflow: &authhost::workflow::Workflow,
        store: &std::sync::Arc<TokenStore>,
        user: &str,
        ttl: Duration,
    ) -> String {
        let handle = workflow.provider("gh").expect("provider");
        let started = flows(store)
            .start(&handle, user, ttl, None)
            .await
            .expect("start");
        assert!(
            started.url.contains("code_challenge_method=S256"),
            "{}",
            started.url
        );
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let response = client.get(&started.url).send().await.expect("authorize");
        let location = url::Url::parse(response.headers()["location"].to_str().expect("location"))
            .expect("url");
        location.query().unwrap_or_default().to_owned()
    }

    /// Authorizations over `store`.
    fn flows(store: &std::sync::Arc<TokenStore>) -> authorize::Authorizations {
        authorize::Authorizations::new(std::sync::Arc::new(authhost::broker::Broker::new(Some(
            store.clone(),
        ))))
        .expect("a store")
    }

    async fn complete(
        workflow: &authhost::workflow::Workflow,
        store: &std::sync::Arc<TokenStore>,
        query: &str,
        user: &str,
    ) -> Result<authhost::authorize::Completed, FlowError> {
        let handle = workflow.provider("gh").expect("provider");
        flows(store)
            .complete(
                &CallbackParams::from_query(query),
                Some(("gh", user)),
                move |_| Some(handle.clone()),
            )
            .await
    }

    async fn nothing_stored(store: &TokenStore) {
        assert!(
            store.list(Some("gh"), None).await.expect("list").is_empty(),
            "tokens were stored"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn every_bad_redirect_is_refused_and_nothing_stored() {
        let (setup, workflow, store) = fixture().await;

        // Forged state.
        let query = redirect_query(&workflow, &store, "alice", Duration::from_secs(600)).await;
        let forged = query.replace("state=", "state=AAAA");
        assert!(matches!(
            complete(&workflow, &store, &forged, "alice").await,
            Err(FlowError::ForgedState)
        ));
        nothing_stored(&store).await;

        // Another user's state: refused, and the state is spent.
        assert!(matches!(
            complete(&workflow, &store, &query, "mallory").await,
            Err(FlowError::Mismatch)
        ));
        assert!(matches!(
            complete(&workflow, &store, &query, "alice").await,
            Err(FlowError::UnknownState)
        ));
        nothing_stored(&store).await;

        // Missing code.
        let query = redirect_query(&workflow, &store, "alice", Duration::from_secs(600)).await;
        let no_code: String = query
            .split('&')
            .filter(|p| !p.starts_with("code="))
            .collect::<Vec<_>>()
            .join("&");
        assert!(matches!(
            complete(&workflow, &store, &no_code, "alice").await,
            Err(FlowError::MissingCode)
        ));

        // Expired state.
        let query = redirect_query(&workflow, &store, "alice", Duration::ZERO).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(matches!(
            complete(&workflow, &store, &query, "alice").await,
            Err(FlowError::ExpiredState)
        ));
        nothing_stored(&store).await;

        // access_denied with a hostile description: never rendered.
        setup.server.set(|s| s.deny = true);
        let query = redirect_query(&workflow, &store, "alice", Duration::from_secs(600)).await;
        let result = complete(&workflow, &store, &query, "alice").await;
        assert!(matches!(&result, Err(FlowError::Denied(code)) if code == "access_denied"));
        let page = authorize::result_page(&result);
        assert!(
            !page.contains("<script>") && !page.contains("xss"),
            "{page}"
        );
        setup.server.set(|s| s.deny = false);
        nothing_stored(&store).await;

        // Wrong iss (RFC 9207 mix-up).
        setup
            .server
            .set(|s| s.wrong_iss = Some("https://evil.example".into()));
        let query = redirect_query(&workflow, &store, "alice", Duration::from_secs(600)).await;
        let err = complete(&workflow, &store, &query, "alice")
            .await
            .expect_err("wrong iss");
        assert!(
            err.to_string()
                .contains("does not match the configured issuer"),
            "{err}"
        );
        nothing_stored(&store).await;

        // And the good path stores exactly one row, once.
        setup.server.set(|s| s.wrong_iss = None);
        let query = redirect_query(&workflow, &store, "alice", Duration::from_secs(600)).await;
        let done = complete(&workflow, &store, &query, "alice")
            .await
            .expect("valid redirect");
        assert_eq!(
            (done.provider.as_str(), done.user.as_str()),
            ("gh", "alice")
        );
        assert!(
            matches!(
                complete(&workflow, &store, &query, "alice").await,
                Err(FlowError::UnknownState)
            ),
            "replay accepted"
        );
        assert_eq!(store.list(Some("gh"), None).await.expect("list").len(), 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_missing_iss_is_refused_when_the_server_sends_it() {
        let (setup, workflow, store) = fixture().await;
        setup.server.set(|s| s.send_iss = true);
        let query = redirect_query(&workflow, &store, "alice", Duration::from_secs(600)).await;
        assert!(query.contains("iss="), "{query}");
        let without_iss: String = query
            .split('&')
            .filter(|p| !p.starts_with("iss="))
            .collect::<Vec<_>>()
            .join("&");
        let err = complete(&workflow, &store, &without_iss, "alice")
            .await
            .expect_err("no iss");
        assert!(err.to_string().contains("has none (RFC 9207)"), "{err}");
        nothing_stored(&store).await;
    }
}

#[test]
fn private_key_jwt_client_authentication() {
    let server = oauth_server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = formatdoc!(
        r#"
            authentication:
              svc:
                _type: oauth2_client_credentials
                client_id: jwt-client
                token_url: {base}/token
                token_endpoint_auth_method: private_key_jwt
                private_key: ${{JWT_CLIENT_KEY}}
                private_key_algorithm: RS256
            tools:
              svc_me:
                _type: http
                url: {base}/api/me
                auth_provider: svc
        "#,
        base = server.base
    );
    let path = write_workflow(dir.path(), yaml);
    let keys = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/keys");
    let mut call = authhost();
    call.env(
        "JWT_CLIENT_KEY",
        std::fs::read_to_string(keys.join("rsa-private.pem")).expect("key"),
    );
    let out = run(
        call,
        &["call", "svc_me", "--config", &path.display().to_string()],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("client:jwt-client"), "{}", out.stdout);
    assert_eq!(server.calls("client_credentials"), 1);

    // An EC key where RS256 is configured: refused at validation, key not shown.
    let mut validate = authhost();
    validate.env(
        "JWT_CLIENT_KEY",
        std::fs::read_to_string(keys.join("ec-private.pem")).expect("key"),
    );
    let out = run(validate, &["validate", &path.display().to_string()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stdout
            .contains("private_key: not a PEM private key for private_key_algorithm"),
        "{}",
        out.stdout
    );
    assert!(!out.all().contains("PRIVATE KEY"));
}

/// The redirect URI's `host:port` in an authorization URL.
fn redirect_addr(auth_url: &str) -> String {
    let url = url::Url::parse(auth_url.trim()).expect("url");
    let redirect = url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| url::Url::parse(&v).expect("redirect uri"))
        .expect("redirect_uri");
    format!(
        "{}:{}",
        redirect.host_str().expect("host"),
        redirect.port().expect("port")
    )
}

/// A raw HTTP/1.1 GET of `target` on `addr`; the status code.
fn raw_get(addr: &str, target: &str) -> u16 {
    use std::io::{Read, Write};
    for _ in 0..50 {
        let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        stream
            .write_all(
                format!("GET {target} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .expect("write");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        return answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
    }
    panic!("nothing listens at {addr}");
}

/// Issue 10: a forged callback used to end `login` with exit 1, and one idle
/// connection delayed the real callback. Both are now only refused.
#[test]
fn login_ignores_forged_callbacks_and_idle_connections() {
    let setup = setup_with_store(None);
    let mut login = cmd();
    login.args(args(
        &setup,
        &["login", "gh", "--user", "alice", "--timeout", "30s"],
    ));
    let (mut child, mut stdout, url) = spawn_login(login);
    let addr = redirect_addr(&url);
    assert_eq!(raw_get(&addr, "/callback?state=forged.sig&code=x"), 400);
    assert_eq!(raw_get(&addr, "/callback?code=x"), 400);
    assert_eq!(raw_get(&addr, "/elsewhere"), 404);
    assert!(child.try_wait().expect("wait").is_none(), "login gave up");
    let _idle = std::net::TcpStream::connect(&addr).expect("idle connection");
    let started = std::time::Instant::now();
    let (status, _) = drive_browser(url.trim());
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the idle connection delayed the callback"
    );
    let status = child.wait().expect("wait");
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stdout, &mut rest);
    assert!(status.success(), "{rest}");
    assert!(rest.contains("user `alice` is logged in"), "{rest}");
}

/// Issue 10: `expires_in` of 2^63-1 wrapped the expiry into the past and the
/// CLI refreshed on every call. Lifetimes are clamped where they enter.
/// Also: the SQLite store is created readable by its owner only, and user
/// ids are printed without their terminal escape sequences.
#[test]
fn hostile_lifetimes_are_clamped_and_store_files_private() {
    use std::os::unix::fs::PermissionsExt;
    let setup = setup_with_store(None);
    setup
        .server
        .set(|s| s.lifetime = Some(9_223_372_036_854_775_807));
    let (out, _) = login(&setup, "alice");
    assert_eq!(out.code, 0, "{}", out.all());
    for _ in 0..3 {
        let out = authhost_run(&setup, &["call", "me", "--user", "alice"]);
        assert_eq!(out.code, 0, "{}", out.all());
    }
    assert_eq!(
        setup.server.calls("refresh_token"),
        0,
        "refreshed a valid token"
    );
    let list = authhost_run(&setup, &["tokens", "list", "--format", "json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).expect("json");
    let expires_at = rows[0]["expires_at"].as_i64().expect("expiry");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    assert!(
        expires_at > now && expires_at <= now + authhost_plugin_api::MAX_LIFETIME_SECS + 5,
        "{expires_at}"
    );

    let db = setup.workflow.with_file_name("tokens.db");
    let mode = std::fs::metadata(&db).expect("db").permissions().mode();
    assert_eq!(mode & 0o077, 0, "tokens.db is {mode:o}");

    setup.server.set(|s| s.lifetime = Some(3600));
    let evil = "mallory\u{1b}]0;owned\u{7}\u{1b}[2J";
    let (out, _) = login(&setup, evil);
    assert_eq!(out.code, 0, "{}", out.all());
    let list = authhost_run(&setup, &["tokens", "list"]);
    assert_eq!(list.code, 0, "{}", list.all());
    assert!(
        !list.stdout.contains('\u{1b}') && !list.stdout.contains('\u{7}'),
        "{:?}",
        list.stdout
    );
    assert!(
        list.stdout.contains("mallory\\u{1b}]0;owned"),
        "{}",
        list.stdout
    );
    let show = authhost_run(&setup, &["tokens", "show", "gh", "--user", evil]);
    assert!(!show.stdout.contains('\u{1b}'), "{:?}", show.stdout);
}

/// Issue 11, finding 4: a token endpoint slower than the plugin call
/// timeout rotated the refresh token, the call was cut off, and the next
/// refresh replayed the old token: the server detected reuse and revoked the
/// grant. A token-endpoint call now outlives the plugin call timeout (its
/// deadline follows the HTTP timeout) and its result is stored.
#[test]
fn a_slow_token_endpoint_does_not_cost_the_grant() {
    let setup = setup_with_store(None);
    let yaml = std::fs::read_to_string(&setup.workflow).expect("read");
    std::fs::write(
        &setup.workflow,
        yaml.replacen(
            "general:\n",
            indoc!(
                r#"
                general:
                  timeouts:
                    plugin_call: 1s
            "#
            ),
            1,
        ),
    )
    .expect("write");
    expire_tokens_soon(&setup);
    assert_eq!(login(&setup, "gina").0.code, 0);
    std::thread::sleep(Duration::from_millis(1100));
    setup.server.set(|s| {
        s.lifetime = Some(3600);
        s.refresh_respond_delay = Duration::from_secs(3);
    });
    let out = authhost_run(&setup, &["call", "me", "--user", "gina"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(setup.server.calls("refresh_token"), 1);
    setup
        .server
        .set(|s| s.refresh_respond_delay = Duration::ZERO);
    let out = authhost_run(&setup, &["call", "me", "--user", "gina"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(setup.server.calls("refresh_token"), 1, "refreshed again");
    assert_eq!(setup.server.get(|s| s.reuse_detected), 0);
}

/// `timeouts.http: 1s` in the workflow: a token endpoint slower than that
/// leaves a refresh sent but never answered.
fn short_http_timeout(setup: &Setup) {
    let yaml = std::fs::read_to_string(&setup.workflow).expect("read");
    std::fs::write(
        &setup.workflow,
        yaml.replacen("general:\n", "general:\n  timeouts:\n    http: 1s\n", 1),
    )
    .expect("write");
}

/// Issue 11: a refresh that was sent but never answered may have used the
/// refresh token up. Against a server that rotates refresh tokens (and
/// revokes the grant when one comes back), authhost does not send it again:
/// the grant is marked, and once the access token has expired the user is
/// asked to authorize again — the server never sees the token twice.
#[test]
fn a_refresh_never_answered_is_not_replayed_to_a_rotating_server() {
    let setup = setup_with_store(None);
    short_http_timeout(&setup);
    expire_tokens_soon(&setup);
    assert_eq!(login(&setup, "hugo").0.code, 0);
    std::thread::sleep(Duration::from_millis(1100));
    // The server rotates, then answers after the client gave up.
    setup
        .server
        .set(|s| s.refresh_respond_delay = Duration::from_secs(3));
    let out = authhost_run(&setup, &["call", "me", "--user", "hugo"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert_eq!(setup.server.calls("refresh_token"), 1);
    setup
        .server
        .set(|s| s.refresh_respond_delay = Duration::ZERO);
    let out = authhost_run(&setup, &["call", "me", "--user", "hugo"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("never answered"), "{}", out.all());
    assert!(out.stderr.contains("authhost login gh"), "{}", out.all());
    assert_eq!(
        setup.server.calls("refresh_token"),
        1,
        "the refresh token was sent again"
    );
    assert_eq!(setup.server.get(|s| s.reuse_detected), 0);
    // Logging in again clears the mark.
    assert_eq!(login(&setup, "hugo").0.code, 0);
    let out = authhost_run(&setup, &["call", "me", "--user", "hugo"]);
    assert_eq!(out.code, 0, "{}", out.all());
}

/// The same lost answer from a server known to keep its refresh tokens (a
/// refresh answered without a new one): sending it again is safe, and the
/// next call does, and the grant lives on.
#[test]
fn a_refresh_never_answered_is_retried_when_the_server_keeps_refresh_tokens() {
    let setup = setup_with_store(None);
    short_http_timeout(&setup);
    setup.server.set(|s| s.keep_refresh_token = true);
    expire_tokens_soon(&setup);
    assert_eq!(login(&setup, "iris").0.code, 0);
    std::thread::sleep(Duration::from_millis(1100));
    // A first refresh shows that the server keeps refresh tokens.
    let out = authhost_run(&setup, &["call", "me", "--user", "iris"]);
    assert_eq!(out.code, 0, "{}", out.all());
    std::thread::sleep(Duration::from_millis(1100));
    setup
        .server
        .set(|s| s.refresh_respond_delay = Duration::from_secs(3));
    let out = authhost_run(&setup, &["call", "me", "--user", "iris"]);
    assert_eq!(out.code, 2, "{}", out.all());
    setup
        .server
        .set(|s| s.refresh_respond_delay = Duration::ZERO);
    let out = authhost_run(&setup, &["call", "me", "--user", "iris"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(setup.server.calls("refresh_token"), 3);
    assert_eq!(setup.server.get(|s| s.reuse_detected), 0);
}

/// Issue 11: `authhost doctor` checks a deployment: the store and its
/// schema, every row against the key ring, plugin pins, and the clock
/// against the authorization server's `Date`.
#[test]
fn doctor_checks_store_rows_pins_and_clock() {
    let setup = setup_with_store(None);
    assert_eq!(login(&setup, "quinn").0.code, 0);
    let out = authhost_run(&setup, &["doctor"]);
    assert_eq!(out.code, 0, "{}", out.all());
    for line in [
        "ok    store",
        "ok    rows       all 1 token row(s) open with the key ring",
        "is not pinned",
        "ok    clock",
    ] {
        assert!(
            out.stdout.contains(line),
            "missing {line:?} in\n{}",
            out.stdout
        );
    }
    // Another key in the key file: the row no longer opens.
    let key_file = setup.workflow.with_file_name("store.key");
    std::fs::write(
        &key_file,
        format!(
            "{}\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [3u8; 32])
        ),
    )
    .expect("write key");
    let out = authhost_run(&setup, &["doctor", "--format", "json"]);
    assert_eq!(out.code, 2, "{}", out.all());
    let checks: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).expect("json");
    let rows = checks
        .iter()
        .find(|c| c["check"] == "rows")
        .expect("rows check");
    assert_eq!(rows["verdict"], "fail", "{rows}");
}
