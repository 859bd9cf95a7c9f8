//! `authhost info` and `--version` through the built binary, with the
//! workspace's own plugins found beside the executable.

use crate::support::{authhost, run, PluginDir};

/// The `name` of each row of `info components --format json` output.
fn names(json: &str) -> Vec<String> {
    let rows: Vec<serde_json::Value> = serde_json::from_str(json).expect("json");
    rows.iter()
        .map(|r| r["name"].as_str().expect("name").to_owned())
        .collect()
}

const INSTALLED: [&str; 13] = [
    "api_key",
    "aws_sigv4",
    "bearer_token",
    "custom_headers",
    "http_basic",
    "mcp_oauth2",
    "mcp_oauth2_client_credentials",
    "oauth2_auth_code_flow",
    "oauth2_client_credentials",
    "oauth2_device_code",
    "oauth2_jwt_bearer",
    "oauth2_token_exchange",
    "user_supplied",
];

#[test]
fn components_table_lists_the_built_in_providers() {
    let out = run(authhost(), &["info", "components", "-t", "auth_provider"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("PLUGIN"), "{}", out.stdout);
    for column in ["VERSION", "TYPE", "NAME", "DESCRIPTION"] {
        assert!(lines[0].contains(column), "{column} missing: {}", lines[0]);
    }
    assert!(!lines[0].contains("FILE"));
    let names: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().nth(3).expect("name column"))
        .collect();
    assert_eq!(names, INSTALLED);
    assert!(lines[1].starts_with("authhost-static"));
    assert!(lines[2].starts_with("authhost-aws"));
    assert!(lines[6].starts_with("authhost-oauth2"));
}

#[test]
fn components_json_is_sorted_and_complete() {
    let out = run(authhost(), &["info", "components", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(names(&out.stdout), INSTALLED);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).expect("json");
    for row in &rows {
        let oauth = row["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("oauth2_") || n.starts_with("mcp_oauth2"));
        let (plugin, file) = if oauth {
            ("authhost-oauth2", "libauthhost_oauth2.so")
        } else if row["name"] == "aws_sigv4" {
            ("authhost-aws", "libauthhost_aws.so")
        } else {
            ("authhost-static", "libauthhost_static.so")
        };
        assert_eq!(row["plugin"], plugin);
        assert_eq!(row["component_type"], "auth_provider");
        assert!(row["description"].as_str().is_some_and(|d| !d.is_empty()));
        assert!(row["file"].as_str().is_some_and(|f| f.ends_with(file)));
    }
    let auth_code = rows
        .iter()
        .find(|r| r["name"] == "oauth2_auth_code_flow")
        .expect("installed");
    assert_eq!(
        auth_code["capabilities"],
        serde_json::json!(["interactive", "refreshable", "revocable"])
    );
}

#[test]
fn query_and_type_filters() {
    let out = run(
        authhost(),
        &["info", "components", "-q", "HTTP_B", "--format", "json"],
    );
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["name"], "http_basic");

    let out = run(authhost(), &["info", "components", "-t", "authenticator"]);
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains("no components found; searched:"),
        "{}",
        out.stderr
    );

    let out = run(authhost(), &["info", "components", "-t", "nope"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("auth_provider"), "{}", out.stderr);
}

#[test]
fn verbose_table_shows_the_file() {
    let out = run(authhost(), &["-v", "info", "components"]);
    assert!(out
        .stdout
        .lines()
        .next()
        .is_some_and(|h| h.ends_with("FILE")));
    assert!(out.stdout.contains("libauthhost_static.so"));
}

#[test]
fn schema_marks_secrets_and_carries_an_example() {
    let out = run(authhost(), &["info", "schema", "api_key"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let schema: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["properties"]["api_key"]["writeOnly"], true);
    assert_eq!(schema["properties"]["api_key"]["x-secret"], true);
    assert_eq!(schema["required"], serde_json::json!(["api_key"]));
    assert_eq!(schema["examples"][0]["header"], "X-API-Key");

    let yaml = run(
        authhost(),
        &["info", "schema", "api_key", "--format", "yaml"],
    );
    assert_eq!(yaml.code, 0);
    let from_yaml: serde_json::Value = serde_saphyr::from_str(&yaml.stdout).expect("yaml");
    assert_eq!(from_yaml, schema);
}

#[test]
fn unknown_schema_type_suggests_the_closest() {
    let out = run(authhost(), &["info", "schema", "api_kye"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.trim(),
        "error: no installed component type is named `api_kye`; did you mean `api_key`?"
    );
}

#[test]
fn version_names_the_plugin_api() {
    let out = run(authhost(), &["--version"]);
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stdout.trim(),
        format!(
            "authhost {} (plugin-api {})",
            env!("CARGO_PKG_VERSION"),
            authhost_plugin_api::abi::API_VERSION
        )
    );
}

#[test]
fn plugin_path_from_the_environment() {
    let dir = PluginDir::new();
    dir.install("provider_template", "template");
    let mut cmd = authhost();
    cmd.env(
        "AUTHHOST_PLUGIN_PATH",
        format!("/nonexistent:{}", dir.path().display()),
    );
    let out = run(
        cmd,
        &[
            "--no-default-plugins",
            "info",
            "components",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(names(&out.stdout), ["request_signature"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(rows[0]["capabilities"], serde_json::json!(["per_request"]));
}

/// Issue 11: logs can be one JSON object per line, for log collectors.
#[test]
fn logs_can_be_json_lines() {
    let out = run(
        authhost(),
        &["--log-format", "json", "-vv", "info", "components"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.is_empty()).collect();
    assert!(!lines.is_empty(), "no log lines at -vv");
    for line in lines {
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            event["level"].is_string() && event["fields"].is_object(),
            "{line}"
        );
    }
}
