//! Text from outside (servers, users, plugins) made safe for a terminal.

/// `text` safe to print to a terminal: control characters (escape
/// sequences, carriage returns, backspaces, C1 controls) and Unicode
/// direction overrides are shown as `\u{…}` instead of acting on the
/// terminal. Values users control (user ids, scopes, errors from servers)
/// go through this before they are printed.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char =
        |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_direction_overrides_are_shown_not_obeyed() {
        assert_eq!(printable("alice"), "alice");
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("x\ry\u{8}\u{9b}z"), "x\\u{d}y\\u{8}\\u{9b}z");
        assert_eq!(printable("\u{202e}evil"), "\\u{202e}evil");
    }
}
