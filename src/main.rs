//! The `tessera` command: parses its arguments and hands them to the library's CLI.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match tessera::cli::run(tessera::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera: {e:#}");
            ExitCode::FAILURE
        }
    }
}
