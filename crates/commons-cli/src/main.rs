//! The `commons` binary: parses the command line, runs one command, and owns
//! every byte of output (libraries never print).

mod cli;
mod commands;
mod failure;
mod home;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(default_log_filter(&cli.command));
    let json = cli.json;
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            failure::report(&err, json);
            ExitCode::FAILURE
        }
    }
}

/// Without `RUST_LOG`: a server logs its requests (an operator watches it),
/// every other command stays quiet so its output is clean for people and for
/// `--json` consumers.
fn default_log_filter(command: &cli::Command) -> &'static str {
    match command {
        cli::Command::Serve(_) => "warn,commons_server=info,commons_engine=info",
        _ => "off",
    }
}

/// Logs go to stderr; `RUST_LOG` overrides the default filter.
fn init_tracing(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
