//! Checking a part of the workflow against a JSON Schema, with diagnostics
//! that point at the line and key and never quote a value.

use jsonschema::error::{TypeKind, ValidationErrorKind};

use super::{
    diagnostic::{Diagnostics, Location},
    node::{dotted, Node},
};
use crate::json_pointer::segment as pointer_segment;

/// Follows a local `$ref` (`#/$defs/X`) to the schema it names.
pub(super) fn resolve<'a>(
    schema: &'a serde_json::Value,
    root: &'a serde_json::Value,
) -> &'a serde_json::Value {
    match schema
        .get("$ref")
        .and_then(|r| r.as_str())
        .and_then(|r| r.strip_prefix('#'))
    {
        Some(pointer) => root.pointer(pointer).unwrap_or(schema),
        None => schema,
    }
}

/// The sub-schema that applies at an instance pointer, following
/// `properties`, `additionalProperties` and `items`.
fn schema_at<'a>(root: &'a serde_json::Value, pointer: &str) -> Option<&'a serde_json::Value> {
    let mut schema = resolve(root, root);
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        let next = schema
            .get("properties")
            .and_then(|p| p.get(&segment))
            .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()))
            .or_else(|| {
                schema
                    .get("items")
                    .filter(|_| segment.parse::<usize>().is_ok())
            })?;
        schema = resolve(next, root);
    }
    Some(schema)
}

fn property_names(schema: Option<&serde_json::Value>) -> Vec<String> {
    schema
        .and_then(|s| s.get("properties"))
        .and_then(|p| p.as_object())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// The allowed values when a schema is a `oneOf`/`anyOf` of constants (as
/// schemars writes documented enums).
fn constants(schema: Option<&serde_json::Value>, root: &serde_json::Value) -> Option<Vec<String>> {
    let schema = schema?;
    let variants = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))?
        .as_array()?;
    let mut out = Vec::new();
    for variant in variants {
        let variant = resolve(variant, root);
        if let Some(c) = variant.get("const") {
            out.push(short_json(c));
        } else if let Some(e) = variant.get("enum").and_then(|e| e.as_array()) {
            out.extend(e.iter().map(short_json));
        } else {
            return None;
        }
    }
    Some(out)
}

fn expected_types(kind: &TypeKind) -> String {
    let names: Vec<String> = match kind {
        TypeKind::Single(t) => vec![t.to_string()],
        TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect(),
    };
    let article = |t: &str| match t {
        "integer" | "object" | "array" => format!(
            "an {}",
            if t == "object" {
                "mapping"
            } else if t == "array" {
                "list"
            } else {
                t
            }
        ),
        "null" => "null".to_owned(),
        other => format!("a {other}"),
    };
    let names: Vec<String> = names.iter().map(|t| article(t)).collect();
    match names.as_slice() {
        [one] => one.clone(),
        many => format!(
            "{} or {}",
            many[..many.len() - 1].join(", "),
            many[many.len() - 1]
        ),
    }
}

fn short_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

/// Validates `node` against `schema` (compiled as `validator`). Each problem
/// becomes a diagnostic whose path starts at `base` (a JSON pointer).
/// Returns whether the node is valid.
pub fn check(
    node: &Node,
    base: &str,
    validator: &jsonschema::Validator,
    schema: &serde_json::Value,
    diags: &mut Diagnostics,
) -> bool {
    let instance = node.to_json();
    let mut valid = true;
    for error in validator.iter_errors(&instance) {
        valid = false;
        let pointer = error.instance_path().as_str().to_owned();
        let (_, located) = node.locate(&pointer);
        let location = Location::of(located);
        let path = dotted(&format!("{base}{pointer}"));
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected }
            | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
                let known = property_names(schema_at(schema, &pointer));
                for key in unexpected {
                    let key_location = located
                        .key_pos(key)
                        .map(Location::at)
                        .unwrap_or_else(|| location.clone());
                    let key_path = dotted(&format!("{base}{pointer}/{}", pointer_segment(key)));
                    let d = diags.error(key_location, &key_path, format!("unknown key `{key}`"));
                    d.did_you_mean(key, known.iter().map(String::as_str));
                    if d.hint.is_none() && !known.is_empty() {
                        d.hint(format!("known keys: {}", known.join(", ")));
                    }
                }
            }
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                let description =
                    schema_at(schema, &format!("{pointer}/{}", pointer_segment(name)))
                        .and_then(|s| s.get("description"))
                        .and_then(|d| d.as_str())
                        .map(|d| d.lines().next().unwrap_or_default().to_owned());
                let d = diags.error(location, &path, format!("missing required key `{name}`"));
                if let Some(description) = description {
                    d.hint(format!("`{name}`: {description}"));
                }
            }
            ValidationErrorKind::Type { kind } => {
                let mut message = format!(
                    "expected {}, found {}",
                    expected_types(kind),
                    located.kind()
                );
                if located.origin.is_from_env() && located.as_str().is_some() {
                    message.push_str(" (set from the environment)");
                }
                let d = diags.error(location, &path, message);
                if matches!(kind, TypeKind::Single(t) if t.to_string() == "string")
                    && matches!(
                        located.value,
                        super::node::Value::Int(_)
                            | super::node::Value::Float(_)
                            | super::node::Value::Bool(_)
                    )
                {
                    d.hint("quote the value to make it a string: key: \"…\"");
                }
            }
            ValidationErrorKind::Enum { options } => {
                let options: Vec<String> = options
                    .as_array()
                    .map(|o| o.iter().map(short_json).collect())
                    .unwrap_or_default();
                diags.error(
                    location,
                    &path,
                    format!("expected one of {}", options.join(", ")),
                );
            }
            ValidationErrorKind::Constant { expected_value } => {
                diags.error(
                    location,
                    &path,
                    format!("expected {}", short_json(expected_value)),
                );
            }
            ValidationErrorKind::Format { format } => {
                diags.error(location, &path, format!("is not a valid {format}"));
            }
            ValidationErrorKind::Pattern { pattern } => {
                let what = schema_at(schema, &pointer)
                    .and_then(|s| s.get("description"))
                    .and_then(|d| d.as_str())
                    .map(|d| format!(" ({})", d.lines().next().unwrap_or_default()))
                    .unwrap_or_default();
                diags.error(
                    location,
                    &path,
                    format!("does not match the pattern `{pattern}`{what}"),
                );
            }
            ValidationErrorKind::MinLength { limit } => {
                let message = if *limit == 1 {
                    "must not be empty".to_owned()
                } else {
                    format!("must be at least {limit} characters long")
                };
                diags.error(location, &path, message);
            }
            ValidationErrorKind::MaxLength { limit } => {
                diags.error(
                    location,
                    &path,
                    format!("must be at most {limit} characters long"),
                );
            }
            ValidationErrorKind::MinItems { limit }
            | ValidationErrorKind::MinProperties { limit } => {
                diags.error(
                    location,
                    &path,
                    format!(
                        "needs at least {limit} entr{}",
                        if *limit == 1 { "y" } else { "ies" }
                    ),
                );
            }
            ValidationErrorKind::MaxItems { limit }
            | ValidationErrorKind::MaxProperties { limit } => {
                diags.error(location, &path, format!("takes at most {limit} entries"));
            }
            ValidationErrorKind::Minimum { limit }
            | ValidationErrorKind::ExclusiveMinimum { limit } => {
                diags.error(location, &path, format!("must be at least {limit}"));
            }
            ValidationErrorKind::Maximum { limit }
            | ValidationErrorKind::ExclusiveMaximum { limit } => {
                diags.error(location, &path, format!("must be at most {limit}"));
            }
            ValidationErrorKind::UniqueItems => {
                diags.error(location, &path, "has duplicate entries");
            }
            ValidationErrorKind::OneOfNotValid { .. } | ValidationErrorKind::AnyOf { .. } => {
                match constants(schema_at(schema, &pointer), schema) {
                    Some(options) => diags.error(
                        location,
                        &path,
                        format!("expected one of {}", options.join(", ")),
                    ),
                    None => diags.error(location, &path, "does not match any of the allowed forms"),
                };
            }
            ValidationErrorKind::OneOfMultipleValid { .. } => {
                diags.error(
                    location,
                    &path,
                    "matches more than one of the allowed forms",
                );
            }
            _ => {
                let keyword = error
                    .schema_path()
                    .as_str()
                    .rsplit('/')
                    .next()
                    .unwrap_or("schema")
                    .to_owned();
                diags.error(
                    location,
                    &path,
                    format!("is not valid here (schema keyword `{keyword}`)"),
                );
            }
        }
    }
    valid
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::workflow::yaml::parse;

    fn run(yaml: &str, schema: serde_json::Value) -> Vec<String> {
        let node = parse(yaml).expect("yaml");
        let validator = jsonschema::validator_for(&schema).expect("schema");
        let mut diags = Diagnostics::new(Path::new("w.yaml"));
        check(&node, "/authentication/gh", &validator, &schema, &mut diags);
        diags.sorted().into_iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn messages_name_place_and_expectation_but_never_the_value() {
        let schema = serde_json::json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["client_id", "client_secret"],
            "properties": {
                "client_id": {"type": "string", "description": "The OAuth client id."},
                "client_secret": {"type": "string", "writeOnly": true},
                "scopes": {"type": "array", "items": {"type": "string"}},
                "use_pkce": {"type": "boolean"}
            }
        });
        let out = run(
            "client_secret: 987654321\nscopes: [repo, 42]\nuse_pkec: true\n",
            schema,
        );
        assert_eq!(
            out,
            [
                "w.yaml:1:1: error: authentication.gh: missing required key `client_id`\n    = help: `client_id`: The OAuth client id.",
                "w.yaml:1:16: error: authentication.gh.client_secret: expected a string, found an integer\n    = help: quote the value to make it a string: key: \"…\"",
                "w.yaml:2:16: error: authentication.gh.scopes[1]: expected a string, found an integer\n    = help: quote the value to make it a string: key: \"…\"",
                "w.yaml:3:1: error: authentication.gh.use_pkec: unknown key `use_pkec`\n    = help: did you mean `use_pkce`?",
            ]
        );
        assert!(!out.join("\n").contains("987654321"));
    }
}
