use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use herald::cli::Cli;

/// mimalloc: in profiles glibc's malloc and free took about a fifth of
/// Herald's CPU under load, and its arenas kept memory after peaks. Its
/// `override` feature (Cargo.toml) serves the C code's `malloc` too, that
/// is SQLite's; with SQLite's memory statistics off (`.cargo/config.toml`)
/// that took a fifth off the CPU per delivery on SQLite.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    match herald::cli::run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Not `eprintln!`, which panics when stderr is gone.
            let _ = writeln!(std::io::stderr(), "herald: {error:#}");
            ExitCode::FAILURE
        }
    }
}
