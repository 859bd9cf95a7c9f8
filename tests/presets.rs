//! Presets (`preset: github`): listed by `authhost info presets`, checked
//! by `validate`, and their quirks exercised end to end against the test
//! authorization server — a token nested in the answer with errors sent as
//! 200 (Slack), a token endpoint that accepts only HTTP Basic (Notion), and
//! tokens that never expire (GitHub OAuth apps).

use std::process::Command;

use indoc::formatdoc;

use crate::{
    oauth_flow::{drive_browser, spawn_login},
    support::{authhost, free_port, oauth_server, run, write_workflow},
};

#[test]
fn info_lists_the_catalogue_and_a_presets_effective_config() {
    let out = run(authhost(), &["info", "presets", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).expect("json");
    assert!(rows.len() >= 25, "{}", rows.len());
    let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    for expected in [
        "github",
        "google",
        "microsoft",
        "slack",
        "notion",
        "okta",
        "zendesk",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
    let out = run(authhost(), &["info", "presets", "-q", "goo"]);
    assert!(
        out.stdout.contains("google") && !out.stdout.contains("github"),
        "{}",
        out.stdout
    );

    let out = run(
        authhost(),
        &[
            "info",
            "schema",
            "oauth2_auth_code_flow",
            "--preset",
            "google",
            "--format",
            "yaml",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("access_type: offline"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("token_url: https://oauth2.googleapis.com/token"),
        "{}",
        out.stdout
    );
    let out = run(
        authhost(),
        &[
            "info",
            "schema",
            "oauth2_auth_code_flow",
            "--preset",
            "nope",
        ],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("has no preset `nope`"),
        "{}",
        out.stderr
    );
}

#[test]
fn validate_fills_presets_and_names_what_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let entry = |name: &str, extra: &str| {
        format!(
            "  {name}:\n    _type: oauth2_auth_code_flow\n{extra}    client_id: app\n    client_secret: s\n    redirect_uri: http://127.0.0.1:8765/auth/callback\n"
        )
    };
    let good = format!(
        "authentication:\n{}{}{}",
        entry("github", "    preset: github\n"),
        entry(
            "graph",
            "    preset: microsoft\n    tenant: contoso.onmicrosoft.com\n"
        ),
        entry("support", "    preset: zendesk\n    subdomain: acme\n"),
    );
    let path = write_workflow(dir.path(), good);
    let out = run(authhost(), &["validate", &path.display().to_string()]);
    assert_eq!(out.code, 0, "{}", out.all());

    for (extra, expected) in [
        (
            "    preset: zendesk\n",
            "subdomain: required: authorization_url names {subdomain} (from the `zendesk` preset)",
        ),
        (
            "    preset: githb\n",
            "authentication.svc.preset: expected one of `airtable`",
        ),
        (
            "    preset: okta\n    subdomain: evil.example/x\n",
            "subdomain: may hold only letters, digits",
        ),
    ] {
        let path = write_workflow(
            dir.path(),
            format!("authentication:\n{}", entry("svc", extra)),
        );
        let out = run(authhost(), &["validate", &path.display().to_string()]);
        assert_eq!(out.code, 2, "{extra}: {}", out.all());
        assert!(out.stdout.contains("authentication.svc"), "{}", out.stdout);
        assert!(out.stdout.contains(expected), "{extra}: {}", out.stdout);
    }
}

/// A workflow with provider `svc` from `preset`, its endpoints pointed at
/// the test server (the rest of the preset kept), and the tool `me`.
fn preset_workflow(
    dir: &std::path::Path,
    server: &oauth_server::AuthServer,
    preset: &str,
    extra: &str,
) -> String {
    let yaml = formatdoc!(
        r#"
            general:
              store:
                url: sqlite://{dir}/tokens.db
                key_file: {dir}/store.key
            authentication:
              svc:
                _type: oauth2_auth_code_flow
                preset: {preset}
                authorization_url: {base}/authorize
                token_url: {base}/token
                client_id: authhost-test
                client_secret: test-secret
                redirect_uri: http://127.0.0.1:{port}/callback
            {extra}
            tools:
              me:
                _type: http
                url: {base}/api/me
                auth_provider: svc
        "#,
        dir = dir.display(),
        base = server.base,
        port = free_port(),
        extra = extra,
    );
    write_workflow(dir, yaml).display().to_string()
}

/// `authhost login svc` driven through the test server; its exit status
/// and stderr.
fn login(config: &str) -> (i32, String) {
    let mut cmd: Command = authhost();
    cmd.args([
        "login",
        "svc",
        "--user",
        "alice",
        "--timeout",
        "30s",
        "--config",
        config,
    ]);
    let (child, mut stdout, url) = spawn_login(cmd);
    let _ = drive_browser(url.trim());
    let output = child.wait_with_output().expect("login");
    let _ = std::io::Read::read_to_string(&mut stdout, &mut String::new());
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A workflow on a fresh test server using `preset` (plus `extra`), a
/// login through it that must succeed, and one call of `me`, which must
/// too; `knob` sets the server's quirks first.
fn logged_in_and_called(
    preset: &str,
    extra: &str,
    knob: impl FnOnce(&mut oauth_server::Inner),
) -> (oauth_server::AuthServer, tempfile::TempDir, String, String) {
    let server = oauth_server::start();
    server.set(knob);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = preset_workflow(dir.path(), &server, preset, extra);
    let (code, stderr) = login(&config);
    assert_eq!(code, 0, "{stderr}");
    let out = run(
        authhost(),
        &["call", "me", "--user", "alice", "--config", &config],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    (server, dir, config, out.stdout)
}

fn stored_row(config: &str) -> serde_json::Value {
    let out = run(
        authhost(),
        &["tokens", "list", "--format", "json", "--config", config],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).expect("json");
    rows.into_iter().next().expect("one row")
}

#[test]
fn slacks_nested_user_token_comma_scopes_and_errors_sent_as_200() {
    let (server, _dir, config, called) =
        logged_in_and_called("slack", "", |inner| inner.slack_style = true);
    // The user's token, not the bot token beside it.
    assert!(called.contains("test-user"), "{called}");
    let row = stored_row(&config);
    assert_eq!(
        row["scopes"],
        serde_json::json!(["channels:read", "chat:write"]),
        "{row}"
    );
    assert!(
        row["expires_at"].is_null(),
        "Slack user tokens last until revoked: {row}"
    );

    // A refused code comes back as `{"ok": false}` with 200: read as the
    // refusal it is, not as a broken token answer.
    server.set(|inner| inner.refuse_codes = true);
    let (code, stderr) = login(&config);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("invalid_grant"), "{stderr}");
    assert!(!stderr.contains("not a valid token response"), "{stderr}");
}

#[test]
fn notions_basic_only_token_endpoint_and_an_override() {
    let (server, _dir, _, _) = logged_in_and_called("notion", "", |inner| inner.basic_only = true);
    // Every filled value can be overridden: the body method is refused here.
    let other = tempfile::tempdir().expect("tempdir");
    let config = preset_workflow(
        other.path(),
        &server,
        "notion",
        "    token_endpoint_auth_method: client_secret_post",
    );
    let (code, stderr) = login(&config);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("invalid_client"), "{stderr}");
}

#[test]
fn githubs_tokens_never_expire() {
    let (server, _dir, config, _) =
        logged_in_and_called("github", "", |inner| inner.lifetime = None);
    assert!(stored_row(&config)["expires_at"].is_null());

    // Without the preset, the same answer is assumed to expire.
    let other = tempfile::tempdir().expect("tempdir");
    let config = preset_workflow(other.path(), &server, "github", "    tokens_expire: true");
    let (code, stderr) = login(&config);
    assert_eq!(code, 0, "{stderr}");
    assert!(stored_row(&config)["expires_at"].is_i64());
}

#[test]
fn every_preset_in_the_catalogue_validates_through_the_binary() {
    let out = run(authhost(), &["info", "presets", "--format", "json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).expect("json");
    let mut yaml = String::from("authentication:\n");
    for row in &rows {
        let name = row["name"].as_str().expect("name");
        yaml.push_str(&format!(
            "  p_{name}:\n    _type: {}\n    preset: {name}\n    tenant: contoso\n    subdomain: acme\n    client_id: app\n    client_secret: s\n    redirect_uri: http://127.0.0.1:8765/auth/callback\n",
            row["provider_type"].as_str().expect("type"),
        ));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_workflow(dir.path(), yaml);
    let out = run(authhost(), &["validate", &path.display().to_string()]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout
            .contains(&format!("valid ({} providers", rows.len())),
        "{}",
        out.stdout
    );
}
