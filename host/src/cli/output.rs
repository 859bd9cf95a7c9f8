//! Output helpers shared by commands: formats, tables, load warnings.

use std::io::Write;

use clap::ValueEnum;

use crate::plugin::LoadError;

/// Output format of listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns for people.
    Table,
    /// JSON for programs.
    Json,
}

/// Output format of commands that report rather than list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Lines for people.
    Text,
    /// JSON for programs.
    Json,
}

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

/// Writes rows as aligned columns under a header; every cell goes through
/// [`printable`].
pub(crate) fn write_table(
    out: &mut impl Write,
    header: &[&str],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|c| printable(c).into_owned()).collect())
        .collect();
    let rows = &rows;
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == last {
                    (*c).to_owned()
                } else {
                    format!("{c:<width$}", width = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// Prints each plugin that failed to load as a warning on stderr; the full
/// ABI report only at `-vv`.
pub(crate) fn warn_load_errors(errors: &[LoadError], verbose: u8) {
    for e in errors {
        eprintln!("warning: {e}");
        if verbose >= 2 {
            if let Some(detail) = e.detail() {
                eprintln!("{detail}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_shown_not_sent() {
        assert_eq!(printable("alice"), "alice");
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("x\ry\u{8}\u{9b}z"), "x\\u{d}y\\u{8}\\u{9b}z");
        assert_eq!(printable("\u{202e}evil"), "\\u{202e}evil");
        let mut out = Vec::new();
        write_table(&mut out, &["USER"], &[vec!["\u{1b}]0;owned\u{7}".into()]]).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text:?}"
        );
    }
}
