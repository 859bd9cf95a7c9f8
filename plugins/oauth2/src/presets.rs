//! Presets: the endpoints, scopes and quirks of common services
//! (`presets/catalogue.json`), so a workflow says `preset: github` instead
//! of looking them up. A preset fills only what the entry leaves out;
//! `{tenant}` and `{subdomain}` in its URLs come from the entry's `tenant`
//! and `subdomain` keys (or the preset's default). The catalogue is
//! published in the configuration schema (`preset`'s `x-presets`), where
//! `authhost info presets` and editors read it.

use std::{collections::BTreeMap, sync::OnceLock};

use authhost_plugin_api::Error;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

use crate::{auth_code::AuthCodeConfig, common::TokenEndpointAuthMethod};

/// One service of the catalogue.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Preset {
    /// The service's name for people.
    title: String,
    /// Where its OAuth documentation is.
    docs: String,
    /// Its API's base URL (for a provider entry's `_base_url`).
    base_url: Option<String>,
    /// Placeholder defaults (`tenant: common`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    placeholders: BTreeMap<String, String>,
    /// The configuration it fills.
    config: PresetConfig,
}

/// The keys a preset may fill.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PresetConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    authorization_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revocation_url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    authorization_kwargs: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope_separator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope_parameter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tokens_expire: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_response_pointer: Option<String>,
}

/// The placeholders a URL may name, and the entry key each comes from.
const PLACEHOLDERS: [&str; 2] = ["tenant", "subdomain"];

/// The catalogue, parsed once.
fn catalogue() -> Result<&'static BTreeMap<String, Preset>, Error> {
    static CATALOGUE: OnceLock<Result<BTreeMap<String, Preset>, String>> = OnceLock::new();
    CATALOGUE
        .get_or_init(|| {
            serde_json::from_str(include_str!("../presets/catalogue.json"))
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::internal(format!("the preset catalogue is unreadable ({e})")))
}

/// Fills what `config`'s preset provides and `config` leaves out, then
/// the `{tenant}` / `{subdomain}` placeholders of its URLs.
///
/// # Errors
///
/// An unknown preset, a placeholder with no value, or a placeholder value
/// that could change more than a host name.
pub(crate) fn apply(config: &mut AuthCodeConfig) -> Result<(), Error> {
    let mut defaults = BTreeMap::new();
    if let Some(name) = &config.preset {
        let catalogue = catalogue()?;
        let preset = catalogue.get(name).ok_or_else(|| {
            Error::config(format!(
                "preset: no preset is named `{name}` (`authhost info presets` lists them)"
            ))
        })?;
        let from = &preset.config;
        let fill = |mine: &mut Option<String>, theirs: &Option<String>| {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        };
        fill(&mut config.authorization_url, &from.authorization_url);
        fill(&mut config.token_url, &from.token_url);
        fill(&mut config.revocation_url, &from.revocation_url);
        fill(&mut config.scope_separator, &from.scope_separator);
        fill(&mut config.scope_parameter, &from.scope_parameter);
        fill(
            &mut config.token_response_pointer,
            &from.token_response_pointer,
        );
        if config.scopes.is_empty() {
            config.scopes.clone_from(&from.scopes);
        }
        for (name, value) in &from.authorization_kwargs {
            config
                .authorization_kwargs
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
        config.token_endpoint_auth_method = config
            .token_endpoint_auth_method
            .or(from.token_endpoint_auth_method);
        config.tokens_expire = config.tokens_expire.or(from.tokens_expire);
        defaults.clone_from(&preset.placeholders);
    }
    for placeholder in PLACEHOLDERS {
        let given = match placeholder {
            "tenant" => config.tenant.as_deref(),
            _ => config.subdomain.as_deref(),
        };
        let value = given.or(defaults.get(placeholder).map(String::as_str));
        if let Some(value) = value {
            let host_safe = !value.is_empty()
                && value.len() <= 253
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                && !value.starts_with(['.', '-']);
            if !host_safe {
                return Err(Error::config(format!(
                    "{placeholder}: may hold only letters, digits, `-` and `.` (it becomes part of a host name or path)"
                )));
            }
        }
        let marker = format!("{{{placeholder}}}");
        for (key, url) in [
            ("authorization_url", &mut config.authorization_url),
            ("token_url", &mut config.token_url),
            ("revocation_url", &mut config.revocation_url),
            ("issuer", &mut config.issuer),
            ("discovery_url", &mut config.discovery_url),
        ] {
            let Some(text) = url.as_mut().filter(|u| u.contains(&marker)) else {
                continue;
            };
            let value = value.ok_or_else(|| {
                Error::config(format!(
                    "{placeholder}: required: {key} names {marker}{}",
                    config
                        .preset
                        .as_deref()
                        .map(|p| format!(" (from the `{p}` preset)"))
                        .unwrap_or_default()
                ))
            })?;
            *text = text.replace(&marker, value);
        }
    }
    Ok(())
}

/// The schema of the `preset` key: one of the catalogue's names, with the
/// catalogue itself under `x-presets`.
pub(crate) fn schema(_: &mut SchemaGenerator) -> Schema {
    let catalogue = catalogue().ok();
    let names: Vec<&String> = catalogue.map(|c| c.keys().collect()).unwrap_or_default();
    let mut schema = serde_json::Map::new();
    schema.insert("type".into(), serde_json::json!(["string", "null"]));
    schema.insert("enum".into(), serde_json::json!(names));
    schema.insert(
        "description".into(),
        "A common service whose endpoints, scopes and quirks fill every key this entry leaves out (`authhost info presets` lists them)."
            .into(),
    );
    if let Some(catalogue) = catalogue {
        schema.insert(
            "x-presets".into(),
            serde_json::to_value(catalogue).unwrap_or_default(),
        );
    }
    Schema::from(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_parses_and_covers_the_common_services() {
        let catalogue = catalogue().expect("catalogue");
        assert!(catalogue.len() >= 25, "{}", catalogue.len());
        for (name, preset) in catalogue {
            assert!(preset.docs.starts_with("https://"), "{name}");
            for url in [&preset.config.authorization_url, &preset.config.token_url] {
                let url = url
                    .as_deref()
                    .unwrap_or_else(|| panic!("{name}: endpoints"));
                assert!(url.starts_with("https://"), "{name}: {url}");
            }
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name}"
            );
        }
    }

    /// Every preset creates with only a client and a redirect (plus its
    /// placeholders) and renders an authorization URL at its endpoint,
    /// its scopes joined as the service wants.
    #[test]
    fn every_preset_renders_an_authorization_url() {
        use authhost_plugin_api::{testing::FakeHost, AuthProvider, AuthorizationRequest, Secret};

        let host = FakeHost::new();
        for (name, preset) in catalogue().expect("catalogue") {
            let provider: crate::AuthCodeFlow = host
                .create(serde_json::json!({
                    "preset": name,
                    "tenant": "contoso",
                    "subdomain": "acme",
                    "client_id": "app",
                    "client_secret": "s3cret",
                    "redirect_uri": "http://127.0.0.1:8080/auth/callback",
                }))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let url = host
                .block_on(provider.authorization_url(AuthorizationRequest {
                    user_id: "alice".into(),
                    state: Secret::new("the-state"),
                    pkce_challenge: Some("challenge".into()),
                }))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let url = url::Url::parse(&url).expect("url");
            let expected = preset
                .config
                .authorization_url
                .as_deref()
                .expect("endpoint");
            let expected = expected
                .replace("{tenant}", "contoso")
                .replace("{subdomain}", "acme");
            assert!(url.as_str().starts_with(&expected), "{name}: {url}");
            let query: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
            assert_eq!(query["state"], "the-state", "{name}");
            assert_eq!(query["code_challenge_method"], "S256", "{name}");
            let parameter = preset.config.scope_parameter.as_deref().unwrap_or("scope");
            let separator = preset.config.scope_separator.as_deref().unwrap_or(" ");
            if !preset.config.scopes.is_empty() {
                assert_eq!(
                    query[parameter],
                    preset.config.scopes.join(separator),
                    "{name}"
                );
            }
            for (key, value) in &preset.config.authorization_kwargs {
                assert_eq!(&query[key], value, "{name}");
            }
        }
    }

    #[test]
    fn entries_override_and_placeholders_are_checked() {
        use authhost_plugin_api::testing::FakeHost;

        let host = FakeHost::new();
        let create = |extra: serde_json::Value| {
            let mut config = serde_json::json!({
                "client_id": "app",
                "client_secret": "s3cret",
                "redirect_uri": "http://127.0.0.1:8080/auth/callback",
            });
            if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
                config.extend(extra.clone());
            }
            host.create::<crate::AuthCodeFlow>(config)
        };
        let err = create(serde_json::json!({"preset": "zendesk"})).expect_err("no subdomain");
        assert!(
            err.message().contains("subdomain: required: authorization_url names {subdomain} (from the `zendesk` preset)"),
            "{err}"
        );
        let err = create(serde_json::json!({"preset": "okta", "subdomain": "evil.com/x?"}))
            .expect_err("not a host label");
        assert!(
            err.message().starts_with("subdomain: may hold only"),
            "{err}"
        );
        let err = create(serde_json::json!({"preset": "gthub"})).expect_err("unknown");
        assert!(
            err.message().contains("no preset is named `gthub`"),
            "{err}"
        );
        // Entra's tenant defaults to `common`.
        assert!(create(serde_json::json!({"preset": "microsoft"})).is_ok());
        // What the entry says wins.
        let mut config: AuthCodeConfig = serde_json::from_value(serde_json::json!({
            "preset": "google",
            "client_id": "app",
            "redirect_uri": "http://127.0.0.1:8080/auth/callback",
            "scopes": ["https://www.googleapis.com/auth/gmail.readonly"],
            "authorization_kwargs": {"prompt": "select_account"},
            "token_url": "https://proxy.example.com/token",
        }))
        .expect("config");
        apply(&mut config).expect("applied");
        assert_eq!(
            config.scopes,
            ["https://www.googleapis.com/auth/gmail.readonly"]
        );
        assert_eq!(config.authorization_kwargs["prompt"], "select_account");
        assert_eq!(config.authorization_kwargs["access_type"], "offline");
        assert_eq!(
            config.token_url.as_deref(),
            Some("https://proxy.example.com/token")
        );
        assert_eq!(
            config.authorization_url.as_deref(),
            Some("https://accounts.google.com/o/oauth2/v2/auth")
        );
    }

    #[test]
    fn the_schema_lists_every_preset() {
        let schema = serde_json::Value::from(schema(&mut SchemaGenerator::default()));
        assert_eq!(
            schema["enum"].as_array().map(Vec::len),
            Some(catalogue().expect("catalogue").len())
        );
        assert_eq!(
            schema["x-presets"]["google"]["config"]["authorization_kwargs"]["access_type"],
            "offline"
        );
    }
}
