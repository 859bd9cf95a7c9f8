//! Every installed component's example config validates against its own
//! schema and builds an instance; providers' examples authenticate.

use std::time::Duration;

use crate::support::{library, registry_of, PluginDir};
use authhost::plugin::ComponentKind;
use authhost_plugin_api::{AuthContext, AuthOutcome, Capabilities, OutgoingRequest};
use serde_json::json;

#[tokio::test]
async fn every_example_validates_creates_and_authenticates() {
    let dir = PluginDir::new();
    let template = dir.install("provider_template", "template");
    let registry = registry_of(&[
        &library("authhost_static"),
        &library("authhost_oauth2"),
        &library("authhost_aws"),
        &template,
    ]);
    let mut checked = Vec::new();
    for component in registry.components() {
        let validator = jsonschema::validator_for(&component.config_schema)
            .unwrap_or_else(|e| panic!("{}: schema does not compile: {e}", component.type_name));
        let errors: Vec<String> = validator
            .iter_errors(&component.example_config)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{} example: {errors:?}",
            component.type_name
        );
        assert_eq!(component.component_type, ComponentKind::AuthProvider);

        let provider = registry
            .create_provider(
                &component.type_name,
                "example",
                &component.example_config,
                Duration::from_secs(5),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", component.type_name));
        let ctx = AuthContext {
            user_id: "alice".into(),
            tokens: None,
            request: Some(OutgoingRequest {
                headers: Vec::new(),
                method: "GET".into(),
                url: "https://api.example.com/v1/items".into(),
                body_sha256: None,
            }),
        };
        checked.push(component.type_name.clone());
        let fetches_tokens = component.config_schema["properties"]
            .get("token_url")
            .is_some();
        if component.capabilities.contains(Capabilities::SHARED) || fetches_tokens {
            // Its authenticate asks the example's (unreachable) token endpoint.
            continue;
        }
        let outcome = provider.authenticate(&ctx).await.expect("authenticates");
        if component.capabilities.contains(Capabilities::INTERACTIVE)
            || component.capabilities.contains(Capabilities::USER_SUPPLIED)
        {
            assert!(
                matches!(outcome, AuthOutcome::AuthorizationRequired { .. }),
                "{outcome:?}"
            );
            continue;
        }
        assert!(
            matches!(outcome, AuthOutcome::Credentials { ref credentials, .. } if !credentials.is_empty()),
            "{}: {outcome:?}",
            component.type_name
        );
    }
    assert_eq!(
        checked,
        [
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
            "request_signature",
            "user_supplied"
        ]
    );
}

#[test]
fn schemas_reject_wrong_configs() {
    let registry = registry_of(&[&library("authhost_static")]);
    let cases = [
        ("api_key", json!({"api_key": 123456})),
        ("api_key", json!({"api_key": "k", "heder": "X"})),
        ("http_basic", json!({"username": "u"})),
        ("bearer_token", json!({"token": ["t"]})),
        ("custom_headers", json!({"headers": {}})),
    ];
    for (type_name, config) in cases {
        let component = registry
            .component(ComponentKind::AuthProvider, type_name)
            .expect("installed");
        let validator = jsonschema::validator_for(&component.config_schema).expect("compiles");
        assert!(
            !validator.is_valid(&config),
            "{type_name} accepted {config}"
        );
    }
}
