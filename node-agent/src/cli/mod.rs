//! The `podwire-agent` command line.

mod inspect;
mod report;
mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// podwire's node agent: how is each pod on this node wired, and which ENI carries its traffic?
#[derive(Debug, Parser)]
#[command(name = "podwire-agent", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read this node once, resolve every pod's path and print it (no server needed).
    Inspect(inspect::InspectArgs),
    /// Watch this node and stream its state to a podwire server (what the DaemonSet runs).
    Run(run::RunArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(args) => inspect::run(args),
        // Exits 2 for a configuration it refuses, 1 when it cannot start, 0 when stopped.
        Command::Run(args) => return run::main(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("podwire-agent: {err:#}");
            ExitCode::FAILURE
        }
    }
}
