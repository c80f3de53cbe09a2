//! `podwire-server`: parses and checks its configuration, then hands over to
//! [`podwire_server::startup::run`].

use podwire_server::error_chain::error_chain;
use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser;
use podwire_server::config::Args;
use tracing_subscriber::EnvFilter;

/// mimalloc rather than glibc's malloc: ingest allocates many small strings and vectors per
/// snapshot (why, measured: `server/Cargo.toml`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        // Colours only for a person at a terminal, not in a log file or the container log.
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    let config = match Args::parse().validate() {
        Ok(config) => config,
        Err(err) => {
            eprintln!(
                "podwire-server: invalid configuration: {}",
                error_chain(&err)
            );
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("podwire-server: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(podwire_server::startup::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}
