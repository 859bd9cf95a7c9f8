//! The workflow file as a tree of values that remember where they came from
//! (line and column in the file, or the environment variable that set them).

use std::fmt;

/// A position in the workflow file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Written in the file.
    File,
    /// Written in the file with `${VAR}` substituted: never print it back.
    Interpolated,
    /// Set by an `AUTHHOST_…` environment override: never print it back.
    Environment(String),
}

impl Origin {
    /// Whether any part of the value came from the environment.
    pub fn is_from_env(&self) -> bool {
        !matches!(self, Self::File)
    }
}

/// A value of the workflow tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    String(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order (keys are unique).
    Map(Vec<(Key, Node)>),
}

/// A mapping key and where it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key.
    pub name: String,
    /// Where the key is written (the environment override's position is the
    /// mapping's).
    pub pos: Pos,
}

/// A value with its position and origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where it starts.
    pub pos: Pos,
    /// Where it came from.
    pub origin: Origin,
}

impl Node {
    /// A node written in the file at `pos`.
    pub fn new(value: Value, pos: Pos) -> Self {
        Self {
            value,
            pos,
            origin: Origin::File,
        }
    }

    /// The entries when the node is a mapping.
    pub fn as_map(&self) -> Option<&Vec<(Key, Node)>> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The entry `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// The entry `key` of a mapping, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match &mut self.value {
            Value::Map(entries) => entries
                .iter_mut()
                .find(|(k, _)| k.name == key)
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A copy of this mapping without the entry `key`.
    pub fn without(&self, key: &str) -> Node {
        let mut copy = self.clone();
        if let Value::Map(entries) = &mut copy.value {
            entries.retain(|(k, _)| k.name != key);
        }
        copy
    }

    /// The string when the node is one.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A short name of the node's kind, for messages (`a string`, `a mapping`).
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::String(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The tree as JSON, for schema validation and deserialization.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::String(s) => s.clone().into(),
            Value::Seq(items) => items.iter().map(Node::to_json).collect(),
            Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| (k.name.clone(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }

    /// The node at a JSON pointer (`/authentication/github/client_id`), or
    /// the deepest node that exists on the way.
    pub fn locate(&self, pointer: &str) -> (bool, &Node) {
        let mut node = self;
        for raw in pointer.split('/').skip(1) {
            let segment = raw.replace("~1", "/").replace("~0", "~");
            let next = match &node.value {
                Value::Map(entries) => entries
                    .iter()
                    .find(|(k, _)| k.name == segment)
                    .map(|(_, v)| v),
                Value::Seq(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => return (false, node),
            }
        }
        (true, node)
    }

    /// Where the key `key` of this mapping is written.
    pub fn key_pos(&self, key: &str) -> Option<Pos> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(k, _)| k.pos)
    }
}

/// A dotted key path for messages: `authentication.github.client_id`,
/// `tools.list.headers[0]`.
pub fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        if segment.chars().all(|c| c.is_ascii_digit()) && !segment.is_empty() {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_paths() {
        assert_eq!(
            dotted("/authentication/github/client_id"),
            "authentication.github.client_id"
        );
        assert_eq!(dotted("/plugins/pins/0/sha256"), "plugins.pins[0].sha256");
        assert_eq!(dotted(""), "");
        assert_eq!(dotted("/tools/a~1b"), "tools.a/b");
    }
}
