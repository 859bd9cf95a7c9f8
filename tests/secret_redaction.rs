//! Secrets from provider configs never appear in `Debug` output, error
//! messages or logs (at TRACE, plugin logs included), nor in `info` output.

use std::time::Duration;

use crate::support::{authhost, capture_logs, library, registry_of, run, PluginDir};
use authhost_plugin_api::AuthContext;
use serde_json::json;

const SENTINEL: &str = "SENTINEL-5ec7e7-do-not-print";

#[tokio::test]
async fn secrets_stay_out_of_debug_errors_and_logs() {
    let logs = capture_logs();
    let dir = PluginDir::new();
    let faulty = dir.install("fixture_faulty", "faulty");
    let registry = registry_of(&[&library("authhost_static"), &faulty]);
    let timeout = Duration::from_secs(5);

    let good = [
        ("api_key", json!({"api_key": SENTINEL})),
        ("api_key", json!({"api_key": SENTINEL, "query": "key"})),
        ("http_basic", json!({"username": "u", "password": SENTINEL})),
        ("bearer_token", json!({"token": SENTINEL})),
        ("custom_headers", json!({"headers": {"X-Key": SENTINEL}})),
        ("chatty", json!({"token": SENTINEL})),
    ];
    let mut printed = String::new();
    for (type_name, config) in good {
        let provider = registry
            .create_provider(type_name, "leaky", &config, timeout)
            .expect("valid config");
        let outcome = provider
            .authenticate(&AuthContext::for_user("alice"))
            .await
            .expect("authenticates");
        printed += &format!("{provider:?} {outcome:?} {outcome:#?}\n");
    }

    // Errors about the secret value itself.
    let bad = [
        (
            "api_key",
            json!({"api_key": format!("{SENTINEL}\r\nX-Injected: 1")}),
        ),
        (
            "api_key",
            json!({"api_key": SENTINEL, "header": "bad header"}),
        ),
        ("api_key", json!({"api_key": [SENTINEL]})),
        ("bearer_token", json!({"token": {"nested": SENTINEL}})),
        (
            "http_basic",
            json!({"username": "u", "password": format!("{SENTINEL}\n")}),
        ),
        (
            "custom_headers",
            json!({"headers": {"X-Key": format!("\t{SENTINEL}")}}),
        ),
    ];
    for (type_name, config) in bad {
        let err = registry
            .create_provider(type_name, "leaky", &config, timeout)
            .expect_err("invalid config");
        printed += &format!("{err} {err:?}\n");
    }

    assert!(!printed.contains(SENTINEL), "secret printed:\n{printed}");
    let logged = logs.contents();
    assert!(
        logged.contains("chatty created"),
        "the plugin's debug line should be logged"
    );
    assert!(!logged.contains(SENTINEL), "secret logged:\n{logged}");
}

#[test]
fn info_output_carries_no_secret_values() {
    // The examples use ${VAR} placeholders; a sentinel in the environment
    // must not be substituted into anything `info` prints.
    let mut cmd = authhost();
    cmd.env("WEATHER_API_KEY", SENTINEL);
    let out = run(cmd, &["-vv", "info", "components", "--format", "json"]);
    assert_eq!(out.code, 0);
    assert!(!out.all().contains(SENTINEL));
    let mut cmd = authhost();
    cmd.env("WEATHER_API_KEY", SENTINEL);
    let out = run(cmd, &["info", "schema", "api_key"]);
    assert!(out.stdout.contains("${WEATHER_API_KEY}"));
    assert!(!out.all().contains(SENTINEL));
}
