//! One JSON Schema for a whole workflow file, composed from the host's own
//! section schemas and every installed plugin's and tool type's schema, with
//! `_type` choosing the variant. Editors use it through
//! `# yaml-language-server: $schema=…`.

use serde_json::{json, Map, Value};

use authhost_plugin_api::config_schema;

use crate::plugin::ComponentKind;

use super::general::{GeneralConfig, PluginsConfig};
use crate::{plugin::PluginRegistry, tools::ToolTypes};

/// Rewrites `#/$defs/X` references to `#/$defs/{prefix}X`.
fn rewrite_refs(value: &mut Value, prefix: &str) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref") {
                if let Some(name) = r.strip_prefix("#/$defs/") {
                    *r = format!("#/$defs/{prefix}{name}");
                }
            }
            for v in map.values_mut() {
                rewrite_refs(v, prefix);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, prefix)),
        _ => {}
    }
}

/// Moves a schema's `$defs` into `defs` under `prefix` and returns the
/// schema without `$schema` and `$defs`.
fn hoist(mut schema: Value, prefix: &str, defs: &mut Map<String, Value>) -> Value {
    rewrite_refs(&mut schema, prefix);
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
        if let Some(Value::Object(own)) = object.remove("$defs") {
            for (name, def) in own {
                defs.insert(format!("{prefix}{name}"), def);
            }
        }
    }
    schema
}

/// A variant keyed by `_type`: the type's schema with `_type` added.
fn variant(
    schema: Value,
    type_name: &str,
    description: &str,
    defs: &mut Map<String, Value>,
    kind: &str,
) -> (String, Value) {
    let mut schema = hoist(schema, &format!("{kind}.{type_name}."), defs);
    if let Some(object) = schema.as_object_mut() {
        let properties = object.entry("properties").or_insert_with(|| json!({}));
        if let Some(p) = properties.as_object_mut() {
            p.insert(
                "_type".to_owned(),
                json!({ "const": type_name, "description": description }),
            );
            if kind == "provider" {
                for (key, schema) in host_provider_keys() {
                    p.insert(key.to_owned(), schema);
                }
            }
        }
        let required = object.entry("required").or_insert_with(|| json!([]));
        if let Some(r) = required.as_array_mut() {
            r.insert(0, json!("_type"));
        }
        object.insert("title".to_owned(), json!(type_name));
        object
            .entry("description")
            .or_insert_with(|| json!(description));
    }
    let key = format!("{kind}.{type_name}");
    let reference = json!({ "$ref": format!("#/$defs/{key}") });
    defs.insert(key.clone(), schema);
    (key, reference)
}

/// The host-owned keys of a provider entry besides `_type` (every name in
/// `HOST_PROVIDER_KEYS`), as the host reads them.
fn host_provider_keys() -> [(&'static str, Value); 4] {
    [
        (
            "_preflight",
            json!({ "type": "boolean", "description": "Include this provider in `POST /v1/auth/preflight` when the request names none (host-owned)." }),
        ),
        (
            "_keep_alive",
            json!({ "type": "string", "description": "Refresh grants not refreshed for this long (`30d`), so idle users stay connected (host-owned)." }),
        ),
        (
            "_handout",
            json!({ "type": "boolean", "description": "Let callers that `general.server.handout` allows take the access token itself (host-owned)." }),
        ),
        (
            "_base_url",
            json!({
                "description": "Where `/v1/proxy/{provider}/…` and `authhost curl` send requests; a list allows more origins (host-owned).",
                "anyOf": [
                    { "type": "string", "format": "uri" },
                    { "type": "array", "items": { "type": "string", "format": "uri" }, "minItems": 1 }
                ]
            }),
        ),
    ]
}

/// `_type` picks one of `variants`: an enum of the names, then one
/// `if`/`then` per name so an editor reports the chosen type's errors.
fn dispatch(variants: Vec<(String, Value)>, names: Vec<String>, what: &str) -> Value {
    let all_of: Vec<Value> = names
        .iter()
        .zip(variants)
        .map(|(name, (_, reference))| {
            json!({
                "if": { "properties": { "_type": { "const": name } }, "required": ["_type"] },
                "then": reference
            })
        })
        .collect();
    json!({
        "type": "object",
        "description": format!("{what} by name"),
        "additionalProperties": {
            "type": "object",
            "required": ["_type"],
            "properties": { "_type": { "enum": names } },
            "allOf": all_of
        }
    })
}

/// The workflow file's JSON Schema for the installed plugins.
pub fn workflow_schema(registry: &PluginRegistry, tool_types: &ToolTypes) -> Value {
    let mut defs = Map::new();
    let general = hoist(config_schema::<GeneralConfig>(), "general.", &mut defs);
    let plugins = hoist(config_schema::<PluginsConfig>(), "plugins.", &mut defs);

    let mut provider_variants = Vec::new();
    let mut provider_names = Vec::new();
    for c in registry
        .components()
        .filter(|c| c.component_type == ComponentKind::AuthProvider)
    {
        provider_variants.push(variant(
            c.config_schema.clone(),
            &c.type_name,
            &c.description,
            &mut defs,
            "provider",
        ));
        provider_names.push(c.type_name.clone());
    }
    let mut tool_variants = Vec::new();
    let mut tool_names = Vec::new();
    for t in tool_types.iter() {
        tool_variants.push(variant(
            t.config_schema(),
            t.name(),
            t.description(),
            &mut defs,
            "tool",
        ));
        tool_names.push(t.name().to_owned());
    }

    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://authhost.invalid/workflow.schema.json",
        "title": "authhost workflow",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "general": general,
            "plugins": plugins,
            "authentication": dispatch(provider_variants, provider_names, "Auth provider instances"),
            "tools": dispatch(tool_variants, tool_names, "Tools")
        },
        "$defs": defs
    })
}

#[cfg(test)]
mod tests {
    /// The editor schema knows every key the host takes from a provider
    /// entry, so a valid workflow is valid in an editor too.
    #[test]
    fn every_host_provider_key_is_in_the_schema() {
        let described: Vec<&str> = super::host_provider_keys()
            .iter()
            .map(|(k, _)| *k)
            .collect();
        for key in super::super::HOST_PROVIDER_KEYS
            .iter()
            .filter(|k| **k != "_type")
        {
            assert!(described.contains(key), "{key}");
        }
    }
}
