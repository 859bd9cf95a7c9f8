//! A misbehaving plugin (panics in create, in authenticate, inside its
//! future; a future that never completes) costs the call, never the host.

use std::time::Duration;

use crate::support::{capture_logs, registry_of, PluginDir};
use authhost::plugin::{CallError, CreateError, PluginRegistry};
use authhost_plugin_api::{
    AuthContext, AuthOutcome, Credential, ErrorKind, InboundCredential, Secret,
};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_millis(300);

fn faulty() -> (PluginDir, PluginRegistry) {
    capture_logs();
    let dir = PluginDir::new();
    let file = dir.install("fixture_faulty", "faulty");
    let registry = registry_of(&[&file]);
    (dir, registry)
}

fn expect_plugin_error(result: Result<AuthOutcome, CallError>, fragment: &str) {
    match result {
        Err(CallError::Plugin { error, plugin, .. }) => {
            assert_eq!(error.kind(), ErrorKind::Panicked);
            assert_eq!(plugin, "authhost-fixture-faulty");
            assert!(error.message().contains(fragment), "{}", error.message());
        }
        other => panic!("expected a plugin error, got {other:?}"),
    }
}

/// After any fault, the same plugin still serves other instances.
async fn still_serves(registry: &PluginRegistry) {
    let chatty = registry
        .create_provider("chatty", "chatty", &json!({"token": "t"}), TIMEOUT)
        .expect("create chatty");
    let outcome = chatty
        .authenticate(&AuthContext::for_user("alice"))
        .await
        .expect("works");
    assert!(
        matches!(outcome, AuthOutcome::Credentials { credentials, .. }
        if matches!(&credentials[..], [Credential::Bearer { token, .. }] if token.expose() == "t"))
    );
}

#[tokio::test]
async fn panic_in_create_is_an_error_naming_plugin_and_provider() {
    let (_dir, registry) = faulty();
    let err = registry
        .create_provider("panic_on_create", "broken", &json!({}), TIMEOUT)
        .expect_err("panics");
    let CreateError::Plugin { ref error, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(error.kind(), ErrorKind::Panicked);
    assert_eq!(
        err.to_string(),
        "`broken` (panic_on_create, plugin authhost-fixture-faulty): plugin authhost-fixture-faulty panicked in create of `panic_on_create`: deliberate panic in create"
    );
    still_serves(&registry).await;
}

#[tokio::test]
async fn panic_in_authenticate_is_an_error() {
    let (_dir, registry) = faulty();
    let p = registry
        .create_provider("panic_in_authenticate", "p", &json!({}), TIMEOUT)
        .expect("create");
    expect_plugin_error(
        p.authenticate(&AuthContext::for_user("u")).await,
        "panicked in authenticate of `panic_in_authenticate`: deliberate panic in authenticate",
    );
    // Again: the instance is still usable as an object, the call still fails cleanly.
    expect_plugin_error(
        p.authenticate(&AuthContext::for_user("u")).await,
        "deliberate",
    );
    still_serves(&registry).await;
}

#[tokio::test]
async fn panic_inside_the_future_is_an_error() {
    let (_dir, registry) = faulty();
    let p = registry
        .create_provider("panic_in_future", "p", &json!({}), TIMEOUT)
        .expect("create");
    expect_plugin_error(
        p.authenticate(&AuthContext::for_user("u")).await,
        "deliberate panic inside the future",
    );
    still_serves(&registry).await;
}

#[tokio::test]
async fn a_hang_is_bounded_by_the_timeout() {
    let (_dir, registry) = faulty();
    let p = registry
        .create_provider("never_completes", "slow", &json!({}), TIMEOUT)
        .expect("create");
    let started = std::time::Instant::now();
    let err = p
        .authenticate(&AuthContext::for_user("u"))
        .await
        .expect_err("times out");
    assert!(
        matches!(err, CallError::Timeout { after, .. } if after == TIMEOUT),
        "{err:?}"
    );
    assert!(started.elapsed() >= TIMEOUT);
    assert_eq!(
        err.to_string(),
        "authenticate of `slow` (never_completes, plugin authhost-fixture-faulty) did not complete within 300ms"
    );
    still_serves(&registry).await;
}

#[tokio::test]
async fn plugin_logs_reach_the_host_subscriber() {
    let (_dir, registry) = faulty();
    still_serves(&registry).await;
    let logs = capture_logs().contents();
    let line = logs
        .lines()
        .find(|l| l.contains("hello from inside the chatty plugin"))
        .unwrap_or_else(|| panic!("plugin log line missing from:\n{logs}"));
    assert!(line.contains("INFO"), "{line}");
    assert!(
        line.contains("plugin=\"authhost-fixture-faulty\""),
        "{line}"
    );
    assert!(line.contains("user=alice"), "{line}");
}

#[tokio::test]
async fn unknown_types_suggest_installed_ones() {
    let (_dir, registry) = faulty();
    let err = registry
        .create_provider("chaty", "x", &json!({}), TIMEOUT)
        .expect_err("unknown");
    assert_eq!(
        err.to_string(),
        "unknown auth_provider type `chaty`; did you mean `chatty`?"
    );
}

#[tokio::test]
async fn an_authenticator_plugin_checks_inbound_credentials() {
    let (_dir, registry) = faulty();
    let auth = registry
        .create_authenticator("fixed_user", "sso", &json!({}), TIMEOUT)
        .expect("create");
    let credential = |value: &str| InboundCredential {
        scheme: "Bearer".to_owned(),
        credential: Secret::new(value),
        headers: vec![],
        remote_addr: None,
    };
    let claims = auth
        .authenticate(credential("letmein"))
        .await
        .expect("accepted");
    assert_eq!(claims.user_id, "fixture-user");
    assert_eq!(claims.scopes, ["tools"]);
    let err = auth
        .authenticate(credential("wrong"))
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), Some(ErrorKind::Unauthenticated));
}

/// Regression: sorting the plugin list after loading made components point
/// at the wrong plugin when load order and name order differed ("this
/// plugin has no auth_provider named `api_key`"), found by tests/server.rs.
#[tokio::test]
async fn every_plugin_creates_its_own_types_whatever_the_load_order() {
    capture_logs();
    let dir = PluginDir::new();
    dir.install("fixture_faulty", "faulty");
    let mut search = authhost::plugin::SearchPath::new();
    // libauthhost_aws, _oauth2 and _static load first, the faulty
    // plugin (whose name sorts first) last.
    search.push(
        crate::support::target_dir(),
        authhost::plugin::SearchSource::CommandLine,
    );
    search.push(dir.path(), authhost::plugin::SearchSource::CommandLine);
    let registry = PluginRegistry::load(&search);
    assert!(registry.errors().is_empty(), "{:?}", registry.errors());
    let names: Vec<&str> = registry.plugins().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "authhost-aws",
            "authhost-fixture-faulty",
            "authhost-oauth2",
            "authhost-static"
        ]
    );
    registry
        .create_provider("api_key", "k", &json!({"api_key": "x"}), TIMEOUT)
        .expect("static type");
    registry
        .create_provider("chatty", "c", &json!({"token": "t"}), TIMEOUT)
        .expect("faulty type");
}
