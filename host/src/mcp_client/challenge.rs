//! The `WWW-Authenticate: Bearer …` challenge of an MCP server (RFC 6750
//! §3, RFC 9728 §5.1): where its protected resource metadata is, which
//! scopes the request needs, and why it was refused.

/// The parameters of a `Bearer` challenge authhost acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BearerChallenge {
    /// `resource_metadata`: the URL of the protected resource metadata.
    pub resource_metadata: Option<String>,
    /// `scope`, split on spaces: the scopes the request needs.
    pub scope: Vec<String>,
    /// `error` (`invalid_token`, `insufficient_scope`, …).
    pub error: Option<String>,
}

impl BearerChallenge {
    /// The `Bearer` challenge in a `WWW-Authenticate` value, if it has one.
    /// Other schemes in the same value are skipped; a malformed value reads
    /// as far as it parses.
    pub fn parse(header: &str) -> Option<Self> {
        let mut rest = header.trim_start();
        let mut in_bearer = false;
        let mut found = None::<Self>;
        while !rest.is_empty() {
            let (token, after) = take_token(rest);
            if token.is_empty() {
                // A stray separator: skip it.
                rest = rest[1..].trim_start();
                continue;
            }
            let after = after.trim_start();
            if let Some(value_part) = after.strip_prefix('=') {
                let (value, after) = take_value(value_part.trim_start());
                if in_bearer {
                    let challenge = found.get_or_insert_with(Self::default);
                    match token.to_ascii_lowercase().as_str() {
                        "resource_metadata" => challenge.resource_metadata = Some(value),
                        "scope" => {
                            challenge.scope = value.split_whitespace().map(str::to_owned).collect();
                        }
                        "error" => challenge.error = Some(value),
                        _ => {}
                    }
                }
                rest = after.trim_start().trim_start_matches(',').trim_start();
            } else {
                // A scheme name starts a new challenge.
                in_bearer = token.eq_ignore_ascii_case("bearer");
                if in_bearer && found.is_none() {
                    found = Some(Self::default());
                }
                rest = after.trim_start_matches(',').trim_start();
            }
        }
        found
    }
}

/// A token (RFC 9110 `token` characters) at the start of `text`.
fn take_token(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)))
        .unwrap_or(text.len());
    text.split_at(end)
}

/// A quoted string (with `\` escapes) or a token, and what follows it.
fn take_value(text: &str) -> (String, &str) {
    let Some(quoted) = text.strip_prefix('"') else {
        let (token, rest) = take_token(text);
        return (token.to_owned(), rest);
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (value, &quoted[i + 1..]),
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            c => value.push(c),
        }
    }
    (value, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_parameters_of_a_bearer_challenge() {
        let c = BearerChallenge::parse(
            r#"Bearer error="insufficient_scope", scope="files:read files:write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#,
        )
        .unwrap();
        assert_eq!(c.error.as_deref(), Some("insufficient_scope"));
        assert_eq!(c.scope, ["files:read", "files:write"]);
        assert_eq!(
            c.resource_metadata.as_deref(),
            Some("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
        );
    }

    #[test]
    fn skips_other_schemes_and_reads_escapes_and_tokens() {
        let c = BearerChallenge::parse(
            r#"Basic realm="a, b", Bearer realm=x, scope="say \"hi\"", error=invalid_token"#,
        )
        .unwrap();
        assert_eq!(c.scope, ["say", "\"hi\""]);
        assert_eq!(c.error.as_deref(), Some("invalid_token"));
        assert_eq!(c.resource_metadata, None);
        assert_eq!(BearerChallenge::parse(r#"Basic realm="x""#), None);
        assert_eq!(
            BearerChallenge::parse("Bearer"),
            Some(BearerChallenge::default())
        );
        // Malformed: an unterminated quote reads as far as it goes.
        assert_eq!(
            BearerChallenge::parse(r#"Bearer scope="a b"#)
                .unwrap()
                .scope,
            ["a", "b"]
        );
    }
}
