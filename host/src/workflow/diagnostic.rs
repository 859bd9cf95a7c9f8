//! Problems found in a workflow file: where (file, line:column or the
//! environment variable), which key, what was expected, and a hint.

use std::{fmt, path::Path};

use serde::Serialize;

use super::node::{Node, Origin, Pos};

/// Where a problem is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Location {
    /// A place in the file.
    File {
        /// Line, from 1.
        line: usize,
        /// Column, from 1.
        column: usize,
    },
    /// A value set by an environment variable.
    Environment {
        /// The variable's name.
        variable: String,
    },
    /// The file as a whole.
    Whole,
}

impl Location {
    /// The location of a node: its position, or the variable that set it.
    pub fn of(node: &Node) -> Self {
        match &node.origin {
            Origin::Environment(var) => Self::Environment {
                variable: var.clone(),
            },
            _ => Self::at(node.pos),
        }
    }

    /// A position in the file.
    pub fn at(pos: Pos) -> Self {
        Self::File {
            line: pos.line,
            column: pos.column,
        }
    }
}

/// Severity of a diagnostic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The workflow cannot be used.
    Error,
    /// Worth fixing; the workflow still works.
    Warning,
}

/// One problem. Messages never contain a configuration value: only key
/// names, expected types and names from schemas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The workflow file.
    pub file: String,
    /// Where in it.
    #[serde(flatten)]
    pub location: Location,
    /// The key path (`authentication.github.client_id`); empty for the file.
    pub path: String,
    /// What is wrong or was expected.
    pub message: String,
    /// A suggestion ("did you mean …").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::File { line, column } => write!(f, "{}:{line}:{column}: ", self.file)?,
            Location::Environment { variable } => {
                write!(f, "{} (environment variable {variable}): ", self.file)?
            }
            Location::Whole => write!(f, "{}: ", self.file)?,
        }
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{severity}: ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n    = help: {hint}")?;
        }
        Ok(())
    }
}

/// Diagnostics collected while loading one file.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    file: String,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty list for `file`.
    pub fn new(file: &Path) -> Self {
        Self {
            file: file.display().to_string(),
            items: Vec::new(),
        }
    }

    /// Records an error.
    pub fn error(
        &mut self,
        location: Location,
        path: &str,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Severity::Error, location, path, message)
    }

    /// Records a warning.
    pub fn warning(
        &mut self,
        location: Location,
        path: &str,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Severity::Warning, location, path, message)
    }

    fn push(
        &mut self,
        severity: Severity,
        location: Location,
        path: &str,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.items.push(Diagnostic {
            severity,
            file: self.file.clone(),
            location,
            path: path.to_owned(),
            message: message.into(),
            hint: None,
        });
        let last = self.items.len() - 1;
        &mut self.items[last]
    }

    /// Whether any error was recorded.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// All diagnostics, in file order (environment ones last).
    pub fn sorted(mut self) -> Vec<Diagnostic> {
        let rank = |d: &Diagnostic| match &d.location {
            Location::Whole => (0, 0, 0),
            Location::File { line, column } => (1, *line, *column),
            Location::Environment { .. } => (2, 0, 0),
        };
        self.items
            .sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.path.cmp(&b.path)));
        self.items.dedup();
        self.items
    }

    /// The file name used in diagnostics.
    pub fn file(&self) -> &str {
        &self.file
    }
}

impl Diagnostic {
    /// Adds a hint.
    pub fn hint(&mut self, hint: impl Into<String>) -> &mut Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds `hint` unless a hint is already set.
    pub fn hint_or(&mut self, hint: impl Into<String>) -> &mut Self {
        if self.hint.is_none() {
            self.hint = Some(hint.into());
        }
        self
    }

    /// Adds a "did you mean" hint when there is a close candidate.
    pub fn did_you_mean<'a>(
        &mut self,
        wanted: &str,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> &mut Self {
        if let Some(best) = crate::suggest::closest(wanted, candidates) {
            self.hint = Some(format!("did you mean `{best}`?"));
        }
        self
    }
}
