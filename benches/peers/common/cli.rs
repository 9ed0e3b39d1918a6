//! The shape of every bare peer's `main`, written once: parse the flags or print the usage and
//! exit 2; run, or print the error and exit 1. Included by path like `addr.rs`.

use std::fmt::Display;
use std::process::ExitCode;

/// Runs `run` on the parsed flags; `name` prefixes every message.
pub fn main_with<A, E: Display>(
    name: &str,
    usage: &str,
    args: Result<A, String>,
    run: impl FnOnce(A) -> Result<(), E>,
) -> ExitCode {
    let args = match args {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{name}: {e}\n{usage}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
