//! herald-bench: a load benchmark of Herald, which it runs as a child process
//! on a fresh database, printing a table of medians (docs/benchmarks.md).

use cli::Args;
use phases::{Figures, run_once};
use report::Report;

mod cli;
mod database;
mod herald;
mod perf;
mod phases;
mod poster;
mod publish;
mod receiver;
mod report;
mod stats;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::from_command_line()?;
    // reqwest's TLS (for an HTTPS --herald-url) needs a process-wide
    // crypto provider, the one Herald uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let backends = args.backends()?;
    let mut report = Report::start(&args);
    for backend in backends {
        let runs = run_backend(&args, backend).await?;
        report.add(backend, &runs);
    }
    report.finish(&args)
}

/// The --runs runs on `backend`, each on a fresh database.
async fn run_backend(args: &Args, backend: &str) -> anyhow::Result<Vec<Figures>> {
    let mut runs: Vec<Figures> = Vec::new();
    for run in 0..args.runs {
        let dir = tempfile::tempdir()?;
        let (database, schema) = database::fresh(args, backend, dir.path()).await?;
        eprintln!("{backend}: run {} of {}", run + 1, args.runs);
        let outcome = run_once(args, backend, run + 1, &database, dir.path()).await;
        drop(schema);
        runs.push(outcome?);
    }
    Ok(runs)
}
