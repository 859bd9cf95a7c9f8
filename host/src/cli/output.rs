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

pub use crate::printable::printable;

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
    fn table_cells_show_terminal_controls_instead_of_sending_them() {
        let mut out = Vec::new();
        write_table(&mut out, &["USER"], &[vec!["\u{1b}]0;owned\u{7}".into()]]).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text:?}"
        );
    }
}
