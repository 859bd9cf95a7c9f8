//! Parsing YAML into a [`Node`] tree that keeps positions, with the limits a
//! configuration file needs: one document, unique keys, bounded depth and
//! bounded alias expansion.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use super::node::{Key, Node, Pos, Value};

/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 64;
/// Most nodes accepted, aliases expanded (guards against "billion laughs").
pub const MAX_NODES: usize = 200_000;

/// A YAML problem at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// Where.
    pub pos: Pos,
    /// What.
    pub message: String,
}

fn pos(span: &Span) -> Pos {
    Pos {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

enum Frame {
    Seq(Vec<Node>, Pos, usize),
    Map(Vec<(Key, Node)>, Pos, usize, Option<Key>),
}

/// Resolves a plain scalar with the YAML 1.2 core schema.
fn plain_scalar(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = text.parse::<i64>() {
            return Value::Int(i);
        }
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Value::Int(i);
        }
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(oct, 8) {
            return Value::Int(i);
        }
    }
    let looks_numeric = digits
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'.')
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || b"._eE+-".contains(&b));
    if looks_numeric {
        if let Ok(f) = text.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::String(text.to_owned())
}

fn key_name(node: &Node) -> Option<String> {
    match &node.value {
        Value::String(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Null => Some("null".to_owned()),
        Value::Seq(_) | Value::Map(_) => None,
    }
}

fn count(node: &Node) -> usize {
    1 + match &node.value {
        Value::Seq(items) => items.iter().map(count).sum(),
        Value::Map(entries) => entries.iter().map(|(_, v)| count(v)).sum(),
        _ => 0,
    }
}

/// Parses one YAML document. An empty document is `Null`.
///
/// # Errors
///
/// The first syntax error, a duplicate key, a non-scalar key, a second
/// document, nesting deeper than [`MAX_DEPTH`] or more than [`MAX_NODES`]
/// nodes, each with its position.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut nodes = 0usize;
    let mut documents = 0usize;

    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| YamlError {
            pos: Pos {
                line: e.marker().line(),
                column: e.marker().col() + 1,
            },
            message: if e.info().contains("recursion limit") {
                format!("nesting is too deep (more than {MAX_DEPTH} levels)")
            } else {
                format!("invalid YAML: {}", e.info())
            },
        })?;
        let at = pos(&span);
        let complete: Option<(Node, usize)> = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(YamlError {
                        pos: at,
                        message: "a workflow file holds one YAML document; remove the second `---`"
                            .to_owned(),
                    });
                }
                None
            }
            Event::Scalar(text, style, anchor, tag) => {
                let value = if matches!(style, ScalarStyle::Plain)
                    && tag.as_ref().is_none_or(|t| t.suffix != "str")
                {
                    plain_scalar(&text)
                } else {
                    Value::String(text.into_owned())
                };
                Some((Node::new(value, at), anchor))
            }
            Event::SequenceStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(YamlError {
                        pos: at,
                        message: format!("nesting is too deep (more than {MAX_DEPTH} levels)"),
                    });
                }
                stack.push(Frame::Seq(Vec::new(), at, anchor));
                None
            }
            Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(YamlError {
                        pos: at,
                        message: format!("nesting is too deep (more than {MAX_DEPTH} levels)"),
                    });
                }
                stack.push(Frame::Map(Vec::new(), at, anchor, None));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(items, p, anchor)) => {
                    Some((Node::new(Value::Seq(items), p), anchor))
                }
                _ => None,
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(entries, p, anchor, _)) => {
                    Some((Node::new(Value::Map(entries), p), anchor))
                }
                _ => None,
            },
            Event::Alias(id) => {
                let node = anchors.get(&id).cloned().ok_or_else(|| YamlError {
                    pos: at,
                    message: "alias to an unknown anchor".to_owned(),
                })?;
                Some((node, 0))
            }
            _ => None,
        };
        let Some((node, anchor)) = complete else {
            continue;
        };
        nodes += count(&node);
        if nodes > MAX_NODES {
            return Err(YamlError {
                pos: at,
                message: format!(
                    "more than {MAX_NODES} values (are aliases expanding without bound?)"
                ),
            });
        }
        if anchor > 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq(items, _, _)) => items.push(node),
            Some(Frame::Map(entries, _, _, pending)) => match pending.take() {
                None => {
                    let name = key_name(&node).ok_or_else(|| YamlError {
                        pos: node.pos,
                        message: "mapping keys must be plain values, not lists or mappings"
                            .to_owned(),
                    })?;
                    if let Some((first, _)) = entries.iter().find(|(k, _)| k.name == name) {
                        return Err(YamlError {
                            pos: node.pos,
                            message: format!(
                                "duplicate key `{name}` (first written at line {})",
                                first.pos.line
                            ),
                        });
                    }
                    *pending = Some(Key {
                        name,
                        pos: node.pos,
                    });
                }
                Some(key) => entries.push((key, node)),
            },
        }
    }
    Ok(root.unwrap_or_else(|| Node::new(Value::Null, Pos { line: 1, column: 1 })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_types() {
        let root = parse("a:\n  b: 12\n  c: \"12\"\n  d: [x, true, ~]\n").expect("valid");
        let b = root.get("a").and_then(|a| a.get("b")).expect("b");
        assert_eq!(b.value, Value::Int(12));
        assert_eq!(b.pos, Pos { line: 2, column: 6 });
        let c = root.get("a").and_then(|a| a.get("c")).expect("c");
        assert_eq!(c.value, Value::String("12".into()));
        assert_eq!(
            root.to_json(),
            serde_json::json!({"a": {"b": 12, "c": "12", "d": ["x", true, null]}})
        );
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = parse("a: 1\nb: 2\na: 3\n").expect_err("duplicate");
        assert_eq!(err.pos, Pos { line: 3, column: 1 });
        assert_eq!(err.message, "duplicate key `a` (first written at line 1)");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("a: [1, 2\nb: 3\n").expect_err("unclosed");
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
        assert!(err.pos.line >= 1);
    }

    #[test]
    fn depth_and_alias_bombs_are_bounded() {
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(parse(&deep)
            .expect_err("deep")
            .message
            .contains("nesting is too deep"));
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            let prev = if i == 0 {
                "a".to_owned()
            } else {
                format!("l{}", i - 1)
            };
            bomb.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        assert!(parse(&bomb)
            .expect_err("bomb")
            .message
            .contains("more than"));
    }

    #[test]
    fn empty_document_is_null() {
        assert_eq!(parse("").expect("empty").value, Value::Null);
        assert_eq!(
            parse("# only a comment\n").expect("empty").value,
            Value::Null
        );
    }

    #[test]
    fn second_document_is_refused() {
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any text, YAML-shaped or not: a tree or a positioned error, never
        /// a panic, and positions inside the text.
        #[test]
        fn any_text_parses_or_fails_cleanly(
            text in "([a-z0-9]{1,4}|: |- |\n|  |\\[|\\]|\\{|\\}|,|&a |\\*a|!!str |'|\"|#|\\||>|\\?|%|@|\\t){0,60}",
        ) {
            match parse(&text) {
                Ok(root) => {
                    let _ = root.to_json();
                }
                Err(e) => {
                    proptest::prop_assert!(e.pos.line >= 1);
                    proptest::prop_assert!(e.pos.line <= text.lines().count().max(1) + 1);
                }
            }
        }
    }
}
