use std::process::ExitCode;

fn main() -> ExitCode {
    podwire_agent::cli::main()
}
