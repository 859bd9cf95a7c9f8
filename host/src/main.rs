//! The `authhost` binary: parse arguments, run, print the error chain.

use std::process::ExitCode;

fn main() -> ExitCode {
    match authhost::cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
