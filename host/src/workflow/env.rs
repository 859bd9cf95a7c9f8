//! Environment in a workflow: `${VAR}` / `${VAR:-default}` in string values,
//! and `AUTHHOST_<SECTION>__<KEY>…` variables that override keys.
//!
//! Values that came from the environment are marked on their node and never
//! printed back in a diagnostic.

use super::{
    diagnostic::{Diagnostics, Location},
    node::{dotted, Key, Node, Origin, Value},
};
use crate::json_pointer::segment as pointer_segment;

/// The top-level sections an override may target.
pub const SECTIONS: [&str; 4] = ["general", "plugins", "authentication", "tools"];

/// Prefix of override variables.
const PREFIX: &str = "AUTHHOST_";

enum Piece<'a> {
    Literal(&'a str),
    Var {
        name: &'a str,
        default: Option<&'a str>,
    },
}

/// Splits a string into literals and `${…}` references; `$${` is a literal
/// `${`.
fn pieces(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        if rest[..at].ends_with('$') {
            out.push(Piece::Literal(&rest[..at]));
            out.push(Piece::Literal("{"));
            rest = &rest[at + 2..];
            continue;
        }
        out.push(Piece::Literal(&rest[..at]));
        let body_start = at + 2;
        let Some(len) = rest[body_start..].find('}') else {
            return Err("has `${` without a closing `}`".to_owned());
        };
        let body = &rest[body_start..body_start + len];
        let (name, default) = match body.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (body, None),
        };
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "`${{{name}}}` is not a variable reference (names are letters, digits and `_`; write `$${{` for a literal `${{`)"
            ));
        }
        out.push(Piece::Var { name, default });
        rest = &rest[body_start + len + 1..];
    }
    out.push(Piece::Literal(rest));
    Ok(out)
}

/// Replaces `${VAR}` and `${VAR:-default}` in every string of `node`.
/// `lookup` reads a variable. Unset variables without a default are
/// reported with the variable's name and the key path.
pub fn interpolate(
    node: &mut Node,
    pointer: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    diags: &mut Diagnostics,
) {
    match &mut node.value {
        Value::String(text) if text.contains("${") => {
            let pieces = match pieces(text) {
                Ok(p) => p,
                Err(message) => {
                    diags.error(Location::at(node.pos), &dotted(pointer), message);
                    return;
                }
            };
            let mut out = String::new();
            let mut from_env = false;
            for piece in pieces {
                match piece {
                    Piece::Literal(l) => out.push_str(l),
                    Piece::Var { name, default } => match (
                        lookup(name).filter(|v| !v.is_empty() || default.is_none()),
                        default,
                    ) {
                        (Some(value), _) => {
                            from_env = true;
                            out.push_str(&value);
                        }
                        (None, Some(default)) => out.push_str(default),
                        (None, None) => {
                            diags
                                .error(
                                    Location::at(node.pos),
                                    &dotted(pointer),
                                    format!("environment variable `{name}` is not set"),
                                )
                                .hint(format!(
                                    "export {name}=…, or write `${{{name}:-default}}` to give a default"
                                ));
                        }
                    },
                }
            }
            *text = out;
            if from_env {
                node.origin = Origin::Interpolated;
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate(item, &format!("{pointer}/{i}"), lookup, diags);
            }
        }
        Value::Map(entries) => {
            for (key, value) in entries.iter_mut() {
                interpolate(
                    value,
                    &format!("{pointer}/{}", pointer_segment(&key.name)),
                    lookup,
                    diags,
                );
            }
        }
        _ => {}
    }
}

/// Applies `AUTHHOST_SECTION__KEY__…=value` overrides from `vars` to the
/// root mapping. Keys match existing ones case-insensitively; new keys are
/// lowercase. Values stay strings here: they are coerced against the
/// schema of the place they land in.
pub fn apply_overrides(root: &mut Node, vars: &[(String, String)], diags: &mut Diagnostics) {
    let mut vars: Vec<&(String, String)> = vars
        .iter()
        .filter(|(k, _)| k.starts_with(PREFIX) && k.contains("__"))
        .collect();
    vars.sort();
    for (var, value) in vars {
        let segments: Vec<String> = var[PREFIX.len()..]
            .split("__")
            .map(str::to_lowercase)
            .collect();
        let env = Location::Environment {
            variable: var.clone(),
        };
        if segments.iter().any(String::is_empty) {
            diags.error(
                env,
                "",
                "empty key in override (two `__` in a row, or a trailing `__`)",
            );
            continue;
        }
        if !SECTIONS.contains(&segments[0].as_str()) {
            diags
                .error(
                    env,
                    "",
                    format!("`{}` is not a workflow section", segments[0]),
                )
                .did_you_mean(&segments[0], SECTIONS)
                .hint_or(format!(
                    "override variables look like {PREFIX}<{}>__<key>…",
                    SECTIONS.join("|")
                ));
            continue;
        }
        if !matches!(root.value, Value::Map(_)) {
            root.value = Value::Map(Vec::new());
        }
        if let Err((pointer, kind)) = set_path(root, &segments, String::new(), value, var) {
            diags.error(
                env,
                &dotted(&pointer),
                format!("is {kind}, not a mapping: cannot override a key inside it"),
            );
        }
    }
}

/// Sets the value at `segments` below `node`, creating mappings on the way.
/// Fails with the pointer and kind of a non-mapping in the way.
fn set_path(
    node: &mut Node,
    segments: &[String],
    pointer: String,
    value: &str,
    var: &str,
) -> Result<(), (String, &'static str)> {
    let Some((segment, rest)) = segments.split_first() else {
        node.value = Value::String(value.to_owned());
        node.origin = Origin::Environment(var.to_owned());
        return Ok(());
    };
    if node.value == Value::Null {
        node.value = Value::Map(Vec::new());
    }
    let pos = node.pos;
    let kind = node.kind();
    let Value::Map(entries) = &mut node.value else {
        return Err((pointer, kind));
    };
    let index = match entries
        .iter()
        .position(|(k, _)| k.name.eq_ignore_ascii_case(segment))
    {
        Some(index) => index,
        None => {
            let empty = if rest.is_empty() {
                Value::Null
            } else {
                Value::Map(Vec::new())
            };
            entries.push((
                Key {
                    name: segment.clone(),
                    pos,
                },
                Node::new(empty, pos),
            ));
            entries.len() - 1
        }
    };
    let pointer = format!("{pointer}/{}", pointer_segment(&entries[index].0.name));
    set_path(&mut entries[index].1, rest, pointer, value, var)
}

/// Turns override strings into the type the schema expects at their place
/// (`"8080"` → `8080` where an integer is expected), and leaves them
/// strings where a string is expected (`client_secret: "123456"`).
pub fn coerce_overrides(
    node: &mut Node,
    schema: &serde_json::Value,
    root_schema: &serde_json::Value,
) {
    let schema = super::schema_check::resolve(schema, root_schema);
    match &mut node.value {
        Value::String(text) if matches!(node.origin, Origin::Environment(_)) => {
            let types = allowed_types(schema);
            if types.is_empty() || types.contains(&"string") {
                return;
            }
            let coerced = if types.contains(&"integer") {
                text.parse::<i64>().ok().map(Value::Int)
            } else {
                None
            }
            .or_else(|| {
                types
                    .contains(&"number")
                    .then(|| text.parse::<f64>().ok().map(Value::Float))
                    .flatten()
            })
            .or_else(|| {
                types
                    .contains(&"boolean")
                    .then(|| match text.to_lowercase().as_str() {
                        "true" => Some(Value::Bool(true)),
                        "false" => Some(Value::Bool(false)),
                        _ => None,
                    })
                    .flatten()
            })
            .or_else(|| (types.contains(&"null") && text.is_empty()).then_some(Value::Null));
            if let Some(value) = coerced {
                node.value = value;
            }
        }
        Value::Map(entries) => {
            for (key, value) in entries.iter_mut() {
                let sub = schema
                    .get("properties")
                    .and_then(|p| p.get(&key.name))
                    .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()));
                if let Some(sub) = sub {
                    coerce_overrides(value, sub, root_schema);
                }
            }
        }
        Value::Seq(items) => {
            if let Some(sub) = schema.get("items") {
                for item in items {
                    coerce_overrides(item, sub, root_schema);
                }
            }
        }
        _ => {}
    }
}

fn allowed_types(schema: &serde_json::Value) -> Vec<&str> {
    match schema.get("type") {
        Some(serde_json::Value::String(t)) => vec![t.as_str()],
        Some(serde_json::Value::Array(ts)) => ts.iter().filter_map(|t| t.as_str()).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::workflow::yaml::parse;

    fn vars(name: &str) -> Option<String> {
        match name {
            "SET" => Some("value".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_with_defaults_and_escapes() {
        let mut root =
            parse("a: x-${SET}-y\nb: ${UNSET:-dflt}\nc: $${SET}\nd: ${EMPTY:-d}\ne: plain\n")
                .expect("yaml");
        let mut diags = Diagnostics::new(Path::new("w.yaml"));
        interpolate(&mut root, "", &vars, &mut diags);
        assert!(!diags.has_errors());
        assert_eq!(
            root.to_json(),
            serde_json::json!({"a": "x-value-y", "b": "dflt", "c": "${SET}", "d": "d", "e": "plain"})
        );
        assert_eq!(root.get("a").expect("a").origin, Origin::Interpolated);
        assert_eq!(root.get("e").expect("e").origin, Origin::File);
    }

    #[test]
    fn unset_variables_are_named_with_their_key() {
        let mut root = parse("auth:\n  gh:\n    secret: ${GH_SECRET}\n").expect("yaml");
        let mut diags = Diagnostics::new(Path::new("w.yaml"));
        interpolate(&mut root, "", &vars, &mut diags);
        let out = diags.sorted();
        assert_eq!(
            out[0].to_string(),
            "w.yaml:3:13: error: auth.gh.secret: environment variable `GH_SECRET` is not set\n    = help: export GH_SECRET=…, or write `${GH_SECRET:-default}` to give a default"
        );
    }

    #[test]
    fn overrides_nest_and_stay_strings_until_coerced() {
        let mut root = parse("authentication:\n  GitHub:\n    _type: x\n").expect("yaml");
        let mut diags = Diagnostics::new(Path::new("w.yaml"));
        let env = vec![
            (
                "AUTHHOST_AUTHENTICATION__GITHUB__CLIENT_SECRET".to_owned(),
                "123456".to_owned(),
            ),
            (
                "AUTHHOST_GENERAL__SERVER__PORT".to_owned(),
                "8080".to_owned(),
            ),
            ("AUTHHOST_PLUGIN_PATH".to_owned(), "/ignored".to_owned()),
        ];
        apply_overrides(&mut root, &env, &mut diags);
        assert!(!diags.has_errors());
        let schema = serde_json::json!({"properties": {"client_secret": {"type": "string"}}});
        let gh = root
            .get("authentication")
            .and_then(|a| a.get("GitHub"))
            .expect("kept original case");
        let mut gh = gh.clone();
        coerce_overrides(&mut gh, &schema, &schema);
        assert_eq!(
            gh.get("client_secret").expect("set").value,
            Value::String("123456".into())
        );
        let port_schema = serde_json::json!({"properties": {"port": {"type": "integer"}}});
        let mut server = root
            .get("general")
            .and_then(|g| g.get("server"))
            .expect("created")
            .clone();
        coerce_overrides(&mut server, &port_schema, &port_schema);
        assert_eq!(server.get("port").expect("port").value, Value::Int(8080));
    }

    #[test]
    fn unknown_sections_are_reported() {
        let mut root = parse("{}").expect("yaml");
        let mut diags = Diagnostics::new(Path::new("w.yaml"));
        apply_overrides(
            &mut root,
            &[("AUTHHOST_AUTHENTICATON__X__Y".into(), "v".into())],
            &mut diags,
        );
        let out = diags.sorted();
        assert!(out[0]
            .to_string()
            .contains("`authenticaton` is not a workflow section"));
        assert_eq!(
            out[0].hint.as_deref(),
            Some("did you mean `authentication`?")
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Hostile text with `${…}` anywhere: parsing and interpolation
        /// never panic, and no diagnostic quotes a variable's value.
        #[test]
        fn interpolation_never_panics_or_echoes_values(
            text in "([a-z]{1,3}: )?([a-zA-Z0-9 :{}$\\-\\[\\],'\"\n]|\\$\\{[A-Z_:\\-]{0,8}\\}?){0,40}",
        ) {
            let Ok(mut root) = parse(&text) else { return Ok(()) };
            let mut diags = Diagnostics::new(Path::new("w.yaml"));
            let secret = |_: &str| Some("SENTINEL-env-value".to_owned());
            interpolate(&mut root, "", &secret, &mut diags);
            apply_overrides(
                &mut root,
                &[("AUTHHOST_GENERAL__X".to_owned(), "SENTINEL-override".to_owned())],
                &mut diags,
            );
            for d in diags.sorted() {
                let shown = d.to_string();
                proptest::prop_assert!(!shown.contains("SENTINEL"), "{}", shown);
            }
        }
    }
}
