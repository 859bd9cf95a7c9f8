//! `authhost validate FILE`: every problem at once, with its place.

use std::{path::PathBuf, process::ExitCode};

use serde::Serialize;

use super::{output::ReportFormat, Globals};
use crate::workflow::{self, Diagnostic, Severity};

/// `validate` arguments.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The workflow file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
}

#[derive(Serialize)]
struct Report<'a> {
    file: String,
    valid: bool,
    errors: usize,
    warnings: usize,
    providers: Vec<&'a str>,
    tools: Vec<&'a str>,
    diagnostics: &'a [Diagnostic],
}

pub(crate) fn run(args: ValidateArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let loaded = workflow::load(&args.file, &globals.load_options());
    let errors = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = loaded.diagnostics.len() - errors;
    let (providers, tools): (Vec<&str>, Vec<&str>) = match &loaded.workflow {
        Some(w) => (
            w.providers.keys().map(String::as_str).collect(),
            w.tools.keys().map(String::as_str).collect(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    match args.format {
        ReportFormat::Json => {
            let report = Report {
                file: args.file.display().to_string(),
                valid: loaded.workflow.is_some(),
                errors,
                warnings,
                providers,
                tools,
                diagnostics: &loaded.diagnostics,
            };
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        ReportFormat::Text => {
            for d in &loaded.diagnostics {
                println!("{d}");
            }
            let file = args.file.display();
            if loaded.workflow.is_some() {
                println!(
                    "{file}: valid ({} provider{}, {} tool{}{})",
                    providers.len(),
                    if providers.len() == 1 { "" } else { "s" },
                    tools.len(),
                    if tools.len() == 1 { "" } else { "s" },
                    if warnings > 0 {
                        format!(", {warnings} warning(s)")
                    } else {
                        String::new()
                    }
                );
            } else {
                println!("{file}: {errors} error(s), {warnings} warning(s)");
            }
        }
    }
    Ok(if loaded.workflow.is_some() {
        ExitCode::SUCCESS
    } else {
        super::failure()
    })
}
