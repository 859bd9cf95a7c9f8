//! A tool's parameters: the JSON Schema its call arguments must satisfy.
//! Declared in the workflow (`parameters:`), or, when not, one scalar per
//! placeholder. Every caller — `authhost call`, `POST
//! /v1/tools/{tool}/invoke`, MCP `tools/call` — is checked against it, and
//! MCP's `tools/list` publishes it.

use std::{fmt, sync::Arc};

use jsonschema::error::ValidationErrorKind;

use super::{Args, MissingArg, ToolError};

/// The compiled parameter schema of one tool.
#[derive(Clone)]
pub struct Parameters {
    schema: serde_json::Value,
    validator: Arc<jsonschema::Validator>,
}

impl fmt::Debug for Parameters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parameters")
            .field("schema", &self.schema)
            .finish()
    }
}

impl Parameters {
    /// A declared `parameters:` schema, checked against the placeholders the
    /// tool uses (`placeholders`, without the `user.…` ones authhost fills).
    ///
    /// # Errors
    ///
    /// Why the schema cannot serve: not an object schema, not valid JSON
    /// Schema, a placeholder it does not declare, or a property no
    /// placeholder uses.
    pub fn declared(schema: &serde_json::Value, placeholders: &[String]) -> Result<Self, String> {
        let object = schema
            .as_object()
            .ok_or("must be a JSON Schema object (`type: object` with `properties`)")?;
        if object.get("type").and_then(|t| t.as_str()) != Some("object") {
            return Err("must have `type: object`: a tool takes named arguments".to_owned());
        }
        let properties = object
            .get("properties")
            .and_then(|p| p.as_object())
            .cloned()
            .unwrap_or_default();
        if let Some(missing) = placeholders.iter().find(|p| !properties.contains_key(*p)) {
            return Err(format!(
                "the placeholder `{{{missing}}}` is not declared under `properties`"
            ));
        }
        if let Some(unused) = properties.keys().find(|k| !placeholders.contains(k)) {
            return Err(format!(
                "`properties.{unused}` is declared, but no placeholder `{{{unused}}}` uses it"
            ));
        }
        let mut schema = schema.clone();
        if schema.get("additionalProperties").is_none() {
            schema["additionalProperties"] = serde_json::Value::Bool(false);
        }
        Self::compile(schema)
    }

    /// A schema another server declared (a remote MCP tool's
    /// `inputSchema`), taken as it is.
    ///
    /// # Errors
    ///
    /// When it is not valid JSON Schema.
    pub fn foreign(schema: serde_json::Value) -> Result<Self, String> {
        Self::compile(schema)
    }

    /// Each placeholder a required scalar (string, number or boolean).
    pub fn from_placeholders(placeholders: &[String]) -> Self {
        let properties: serde_json::Map<String, serde_json::Value> = placeholders
            .iter()
            .map(|name| {
                (
                    name.clone(),
                    serde_json::json!({ "type": ["string", "number", "boolean"] }),
                )
            })
            .collect();
        let schema = serde_json::json!({
            "type": "object",
            "properties": properties,
            "required": placeholders,
            "additionalProperties": false,
        });
        Self::compile(schema).unwrap_or_else(|e| unreachable!("a fixed schema shape: {e}"))
    }

    fn compile(schema: serde_json::Value) -> Result<Self, String> {
        let validator = jsonschema::validator_for(&schema)
            .map_err(|e| format!("is not a valid JSON Schema: {e}"))?;
        Ok(Self {
            schema,
            validator: Arc::new(validator),
        })
    }

    /// The schema, as MCP's `tools/list` publishes it.
    pub fn schema(&self) -> &serde_json::Value {
        &self.schema
    }

    /// `args` with the schema's `default`s filled in, checked.
    ///
    /// # Errors
    ///
    /// The first violation: a missing or unknown argument, or an invalid
    /// one with the schema's reason.
    pub fn apply(&self, args: &Args) -> Result<Args, ToolError> {
        let mut args = args.clone();
        if let Some(properties) = self.schema.get("properties").and_then(|p| p.as_object()) {
            for (name, property) in properties {
                if let Some(default) = property.get("default") {
                    args.entry(name.clone()).or_insert_with(|| default.clone());
                }
            }
        }
        let instance = serde_json::Value::Object(args.clone().into_iter().collect());
        let Some(error) = self.validator.iter_errors(&instance).next() else {
            return Ok(args);
        };
        Err(match error.kind() {
            ValidationErrorKind::Required { property } => {
                ToolError::Missing(MissingArg(property.as_str().unwrap_or_default().to_owned()))
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => ToolError::Unknown {
                name: unexpected.first().cloned().unwrap_or_default(),
                expected: self
                    .schema
                    .get("properties")
                    .and_then(|p| p.as_object())
                    .map(|p| p.keys().cloned().collect())
                    .unwrap_or_default(),
            },
            _ => {
                let path = error.instance_path().as_str().trim_start_matches('/');
                let name = path.split('/').next().unwrap_or_default();
                let reason = match path.split_once('/') {
                    Some((_, inner)) => format!("at `{inner}`: {error}"),
                    None => format!("is invalid: {error}"),
                };
                ToolError::Invalid {
                    name: name.to_owned(),
                    reason,
                }
            }
        })
    }

    /// A command-line value (`--arg name=text`) as the schema types it: a
    /// parameter declared as a number, boolean, array or object is read as
    /// JSON, anything else stays text.
    pub fn typed(&self, name: &str, text: &str) -> serde_json::Value {
        let declared = self
            .schema
            .pointer(&format!(
                "/properties/{}/type",
                crate::json_pointer::segment(name)
            ))
            .and_then(|t| t.as_str());
        match declared {
            Some("integer" | "number" | "boolean" | "array" | "object" | "null") => {
                serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::from(text))
            }
            _ => serde_json::Value::from(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(value: serde_json::Value) -> Args {
        serde_json::from_value(value).expect("object")
    }

    #[test]
    fn declared_parameters_type_default_and_refuse() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "q": {"type": "string"},
                "limit": {"type": "integer", "minimum": 1, "default": 10},
                "state": {"enum": ["open", "closed"]}
            },
            "required": ["q"]
        });
        let names = ["q", "limit", "state"].map(str::to_owned);
        let p = Parameters::declared(&schema, &names).expect("valid");
        let filled = p.apply(&args(serde_json::json!({"q": "x"}))).expect("ok");
        assert_eq!(filled["limit"], 10);
        let err = p
            .apply(&args(
                serde_json::json!({"q": "x", "limit": 0, "state": "gone"}),
            ))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("argument `limit` is invalid: 0 is less than"),
            "{err}"
        );
        let err = p.apply(&args(serde_json::json!({"limit": 2}))).unwrap_err();
        assert_eq!(err.to_string(), "missing argument `q`");
        assert_eq!(p.typed("limit", "5"), serde_json::json!(5));
        assert_eq!(p.typed("q", "5"), serde_json::json!("5"));
    }

    #[test]
    fn declared_parameters_must_match_the_placeholders() {
        let schema = serde_json::json!({"type": "object", "properties": {"a": {}}});
        let err = Parameters::declared(&schema, &["b".to_owned()]).unwrap_err();
        assert!(err.contains("`{b}` is not declared"), "{err}");
        let err = Parameters::declared(&schema, &[]).unwrap_err();
        assert!(err.contains("no placeholder `{a}` uses it"), "{err}");
        let err = Parameters::declared(&serde_json::json!({"type": "string"}), &[]).unwrap_err();
        assert!(err.contains("type: object"), "{err}");
    }

    #[test]
    fn undeclared_parameters_are_required_scalars() {
        let p = Parameters::from_placeholders(&["id".to_owned()]);
        assert!(p.apply(&args(serde_json::json!({"id": 7}))).is_ok());
        assert!(p.apply(&args(serde_json::json!({"id": [1]}))).is_err());
        assert!(p.apply(&args(serde_json::json!({}))).is_err());
        assert!(p
            .apply(&args(serde_json::json!({"id": "1", "x": "2"})))
            .is_err());
    }
}
