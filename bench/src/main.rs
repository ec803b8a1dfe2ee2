//! herald-bench: a repeatable load benchmark of Herald. It starts a fast
//! receiver on loopback and a Herald child process on a fresh database
//! (SQLite and/or PostgreSQL), drives load, and prints a table of medians.
//! See docs/benchmarks.md.

use anyhow::bail;
use clap::Parser;
use herald_test_support::Schema;
use serde_json::{Value, json};

use cli::Args;
use phases::{Figures, run_once};
use stats::{machine, median};

mod cli;
mod herald;
mod perf;
mod phases;
mod poster;
mod publish;
mod receiver;
mod stats;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.quick {
        args.events = args.events.min(300);
        args.backlog = args.backlog.min(2_000);
        args.latency_secs = 1;
        args.runs = 1;
        args.clients = args.clients.min(8);
    }
    if let Some(phase) = &args.perf_phase
        && !args.runs_phase(phase)
    {
        bail!("--perf-phase {phase}: that phase does not run with these options");
    }
    if !(0.0..=50.0).contains(&args.error_share) {
        bail!(
            "--error-share: {} is not between 0 and 50",
            args.error_share
        );
    }
    // reqwest's TLS (for an HTTPS --herald-url) needs a process-wide
    // crypto provider, the one Herald uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let backends: Vec<&str> = match args.database.as_str() {
        "both" => vec!["sqlite", "postgres"],
        "sqlite" => vec!["sqlite"],
        "postgres" => vec!["postgres"],
        other => bail!("--database: {other:?} is not sqlite, postgres or both"),
    };
    println!("herald-bench on {}", machine());
    if args.error_share > 0.0 {
        println!(
            "the receiver answers 500 to {} % of requests",
            args.error_share
        );
    }
    let mut report = serde_json::Map::new();
    for backend in backends {
        let mut runs: Vec<Figures> = Vec::new();
        for run in 0..args.runs {
            let dir = tempfile::tempdir()?;
            let (database, schema) = match backend {
                "sqlite" => (
                    format!("sqlite://{}", dir.path().join("bench.db").display()),
                    None,
                ),
                _ => {
                    let schema = Schema::create(&args.postgres_url, "bench_").await?;
                    // Each run starts with the server's earlier writes on
                    // disk: the last run's drain leaves hundreds of MB of
                    // WAL to flush, which would be measured in this run.
                    // Needs a superuser (or `pg_checkpoint`); without, the
                    // run goes on as it is.
                    let mut conn: sqlx::PgConnection =
                        sqlx::Connection::connect(&args.postgres_url).await?;
                    if let Err(error) = sqlx::query("CHECKPOINT").execute(&mut conn).await {
                        eprintln!("postgres: no CHECKPOINT before the run ({error})");
                    }
                    (schema.url(), Some(schema))
                }
            };
            eprintln!("{backend}: run {} of {}", run + 1, args.runs);
            let outcome = run_once(&args, backend, run + 1, &database, dir.path()).await;
            drop(schema);
            runs.push(outcome?);
        }
        println!("\n{backend} (median of {} runs)", runs.len());
        println!("{:<46} {:>14}", "measurement", "value");
        let mut backend_report = serde_json::Map::new();
        for (i, (name, _, unit)) in runs[0].iter().enumerate() {
            let value = median(runs.iter().map(|r| r[i].1).collect());
            println!("{name:<46} {value:>14.3}");
            backend_report.insert(name.clone(), json!({ "median": value, "unit": unit, "runs": runs.iter().map(|r| r[i].1).collect::<Vec<_>>() }));
        }
        report.insert(backend.to_string(), Value::Object(backend_report));
    }
    report.insert("machine".into(), Value::String(machine()));
    report.insert("error_share".into(), json!(args.error_share));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&Value::Object(report))?)?;
    }
    Ok(())
}
