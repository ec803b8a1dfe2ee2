//! The command line: herald-bench's flags (clap), what --quick lowers, and
//! the checks clap does not make.

use std::path::PathBuf;

use anyhow::bail;
use clap::Parser;

use crate::perf::PERF_PHASES;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "herald-bench",
    about = "Load benchmark of Herald (see docs/benchmarks.md)"
)]
pub struct Args {
    /// Which databases: sqlite, postgres or both.
    #[arg(long, default_value = "both")]
    pub database: String,
    /// PostgreSQL server for the postgres runs (a fresh schema each run).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub postgres_url: String,
    /// Repeats of each measurement; the table shows medians.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Events per throughput measurement.
    #[arg(long, default_value_t = 20_000)]
    pub events: usize,
    /// Deliveries queued for the backlog drain.
    #[arg(long, default_value_t = 1_000_000)]
    pub backlog: usize,
    /// Seconds of each fixed-rate latency measurement.
    #[arg(long, default_value_t = 5)]
    pub latency_secs: u64,
    /// Concurrent clients for single-event publishing.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// Percent of the receiver's answers that are `500 Internal Server
    /// Error`, spread evenly over its requests (at most 50). Herald retries
    /// them, up to 100 attempts; only answered deliveries count as arrived.
    #[arg(long, default_value_t = 0.0)]
    pub error_share: f64,
    /// A small, quick run (a few hundred events) to check the tool works.
    #[arg(long)]
    pub quick: bool,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write every latency sample to this directory, one file per database,
    /// run and rate (`<database>-run<k>-<rate>.tsv`): when each event was
    /// due, how long its 202 took, and how long its delivery took after it.
    #[arg(long)]
    pub latency_samples: Option<PathBuf>,
    /// Drive a Herald that is already running (its receiver URLs must reach
    /// this machine's loopback); needs --token. Skips the backlog drain.
    #[arg(long, requires = "token")]
    pub herald_url: Option<String>,
    /// An administrator token of the running Herald.
    #[arg(long)]
    pub token: Option<String>,
    /// The `herald` executable to benchmark, so that two builds can be
    /// compared with one bench [default: the `herald` beside herald-bench].
    #[arg(long, value_name = "PATH", conflicts_with = "herald_url")]
    pub herald: Option<PathBuf>,
    /// Instead of the whole benchmark, only the timing-out mix, as this
    /// many pairs of phases in one Herald after a warm-up (9 new healthy
    /// webhooks alone, then 9 new ones beside 1 timing out), each of
    /// --events / 2 events: the share of each pair, and its CPU per healthy
    /// delivery beside against alone. Closer than comparing runs (at most 13).
    #[arg(long, default_value_t = 0)]
    pub mix_pairs: usize,
    /// The control FIFO of a `perf record --control fifo:<path> -D -1`:
    /// the bench writes `enable` when the --perf-phase starts and `disable`
    /// when it ends, so the profile holds that phase alone.
    #[arg(long, requires = "perf_phase")]
    pub perf_control: Option<PathBuf>,
    /// The phase --perf-control profiles: single, batched, fan-out-1,
    /// fan-out-10, latency-100, latency-1000, latency-5000, mix-alone,
    /// mix-beside or drain (of every run).
    #[arg(long, requires = "perf_control", value_parser = clap::builder::PossibleValuesParser::new(PERF_PHASES))]
    pub perf_phase: Option<String>,
}

impl Args {
    /// The command line's arguments, with --quick applied, once checked.
    pub fn from_command_line() -> anyhow::Result<Args> {
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
        Ok(args)
    }

    /// The databases --database names, in the order they run.
    pub fn backends(&self) -> anyhow::Result<Vec<&'static str>> {
        Ok(match self.database.as_str() {
            "both" => vec!["sqlite", "postgres"],
            "sqlite" => vec!["sqlite"],
            "postgres" => vec!["postgres"],
            other => bail!("--database: {other:?} is not sqlite, postgres or both"),
        })
    }
}
