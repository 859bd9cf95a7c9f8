//! The `authhost` binary: parse arguments, run, print the error chain.

use std::process::ExitCode;

fn main() -> ExitCode {
    match authhost::cli::run() {
        Ok(code) => code,
        Err(err) => {
            // Errors can quote values users control: print no terminal controls.
            let message = format!("{err:#}");
            let lines: Vec<_> = message.lines().map(authhost::cli::printable).collect();
            eprintln!("error: {}", lines.join("\n"));
            ExitCode::from(authhost::cli::EXIT_FAILURE)
        }
    }
}
