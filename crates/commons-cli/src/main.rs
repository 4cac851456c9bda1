//! The `commons` binary: parses the command line, runs one command, and owns
//! every byte of output (libraries never print).

mod cli;
mod commands;
mod failure;
mod home;
mod output;
mod progress;
mod summary;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing();
    let json = cli.json;
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            failure::report(&err, json);
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr and are off unless `RUST_LOG` asks for them, so normal
/// output stays clean for people and for `--json` consumers.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
