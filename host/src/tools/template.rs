//! `{arg}` placeholders in tool URLs, headers, query values and bodies.

use std::collections::BTreeMap;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Characters left as they are in a URL: RFC 3986 unreserved.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Call arguments by name: JSON values, typed as the tool's parameters
/// declare them.
pub type Args = BTreeMap<String, serde_json::Value>;

/// An argument as text where it goes into a string (URL, header, query,
/// part of a body string): strings as they are, numbers and booleans
/// written out, `null` empty, arrays and objects as compact JSON.
pub fn value_text(value: &serde_json::Value) -> std::borrow::Cow<'_, str> {
    match value {
        serde_json::Value::String(s) => std::borrow::Cow::Borrowed(s),
        serde_json::Value::Null => std::borrow::Cow::Borrowed(""),
        other => std::borrow::Cow::Owned(other.to_string()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Arg(String),
}

/// A string with `{name}` placeholders; `{{` and `}}` are literal braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// A placeholder without a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("missing argument `{0}`")]
pub struct MissingArg(pub String);

fn valid_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

impl Template {
    /// Parses a template.
    ///
    /// # Errors
    ///
    /// A message for an unclosed `{` or an invalid placeholder name.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|(_, c)| *c) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|(_, c)| *c) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let rest = &text[i + 1..];
                    let end = rest.find('}').ok_or_else(|| {
                        "has a `{` without a closing `}` (write `{{` for a literal brace)"
                            .to_owned()
                    })?;
                    let name = &rest[..end];
                    if !valid_name(name) {
                        return Err(format!("`{{{name}}}` is not a valid placeholder (letters, digits, `_` and `.`)"));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Arg(name.to_owned()));
                    for _ in 0..=end {
                        chars.next();
                    }
                }
                '}' => {
                    return Err(
                        "has a `}` without an opening `{` (write `}}` for a literal brace)"
                            .to_owned(),
                    )
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self { parts })
    }

    /// The placeholder names, in order.
    pub fn args(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Arg(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// The literal text before the first placeholder.
    pub fn literal_prefix(&self) -> &str {
        match self.parts.first() {
            Some(Part::Literal(l)) => l,
            _ => "",
        }
    }

    /// The placeholder, when the template is exactly one (`"{count}"`): in a
    /// JSON body it is replaced by the argument's typed value.
    pub fn sole_placeholder(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Arg(name)] => Some(name),
            _ => None,
        }
    }

    /// Whether the template has no placeholder.
    pub fn is_literal(&self) -> bool {
        self.args().next().is_none()
    }

    /// Fills the placeholders; with `encode`, values are percent-encoded
    /// (for URLs).
    ///
    /// # Errors
    ///
    /// [`MissingArg`] naming the first placeholder without a value.
    pub fn render(&self, args: &Args, encode: bool) -> Result<String, MissingArg> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(l) => out.push_str(l),
                Part::Arg(name) => {
                    let value = args.get(name).ok_or_else(|| MissingArg(name.clone()))?;
                    let value = value_text(value);
                    if encode {
                        out.extend(utf8_percent_encode(&value, UNRESERVED));
                    } else {
                        out.push_str(&value);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Whether the path of the absolute URL `url` has a `.` or `..` segment
/// (also spelled `%2e`, in any case): a URL parser resolves those, so the
/// request would go to another path than the one written.
pub fn has_dot_segment(url: &str) -> bool {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let Some(start) = after_scheme.find(['/', '\\', '?', '#']) else {
        return false;
    };
    let path = &after_scheme[start..];
    let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
    path.split(['/', '\\']).any(|segment| {
        let plain = segment.to_ascii_lowercase().replace("%2e", ".");
        plain == "." || plain == ".."
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments() {
        for url in [
            "http://h/a/../b",
            "http://h/a/..",
            "http://h/./a",
            "http://h/a/%2e%2E/b",
            "http://h/a/.%2e",
            "http://h/a\\..\\b",
        ] {
            assert!(has_dot_segment(url), "{url}");
        }
        for url in [
            "http://h/a/..b/c",
            "http://h/a/.well-known",
            "http://h/a?x=../..",
            "http://h/a#../..",
            "http://h",
            "http://h/a%252e%252e",
        ] {
            assert!(!has_dot_segment(url), "{url}");
        }
    }

    #[test]
    fn parse_and_render() {
        let t = Template::parse("https://api.github.com/repos/{owner}/{repo}?q={{x}}").expect("ok");
        assert_eq!(t.args().collect::<Vec<_>>(), ["owner", "repo"]);
        assert_eq!(t.literal_prefix(), "https://api.github.com/repos/");
        let args = Args::from([
            ("owner".into(), "a b/c".into()),
            ("repo".into(), "r".into()),
        ]);
        assert_eq!(
            t.render(&args, true).expect("ok"),
            "https://api.github.com/repos/a%20b%2Fc/r?q={x}"
        );
        assert_eq!(
            t.render(&Args::new(), true),
            Err(MissingArg("owner".into()))
        );
    }

    #[test]
    fn bad_templates() {
        assert!(Template::parse("a{b").is_err());
        assert!(Template::parse("a}b").is_err());
        assert!(Template::parse("{1x}").is_err());
        assert!(Template::parse("{user.email}").is_ok());
    }
}
