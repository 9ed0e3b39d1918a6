//! The shape of every bare peer's `main`, written once: parse the flags or print the usage and
//! exit 2; run, or print the error and exit 1. Included by path like `addr.rs`.

use std::env::Args;
use std::fmt::Display;
use std::iter::Skip;
use std::process::ExitCode;

/// Runs `run` on the flags `parse` reads from the command line; `name` prefixes every message.
pub fn main_with<A, E: Display>(
    name: &str,
    usage: &str,
    parse: impl FnOnce(Skip<Args>) -> Result<A, String>,
    run: impl FnOnce(A) -> Result<(), E>,
) -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
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
