//! One run: it starts the receiver, Herald and the API client, then the
//! measured phases in order, each group of phases in a module below.

mod backlog;
mod latency;
mod mix;
mod mix_pairs;
mod throughput;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::Args;
use crate::herald::Herald;
use crate::publish::Bench;
use crate::receiver::Receiver;
use crate::stats::{cpu_ticks, peak_rss_mb, steal_since};

/// One figure of a run: its name, value and unit.
pub type Figure = (String, f64, &'static str);

/// One run's figures, by name.
pub type Figures = Vec<Figure>;

/// How long a phase waits for its deliveries to arrive.
const DRAIN_LIMIT: Duration = Duration::from_secs(600);

/// What the phases of one run share.
pub struct Run<'a> {
    pub args: &'a Args,
    /// The database's kind, `sqlite` or `postgres`.
    pub backend: &'a str,
    /// The run's number, from 1.
    pub number: usize,
    pub bench: Arc<Bench>,
    /// Herald's process id, when it is our child: its CPU time and memory.
    pub pid: Option<u32>,
}

/// Run `number` on `database` (files in `dir`): with --mix-pairs the
/// timing-out mix alone, else every phase; then the hypervisor's steal.
pub async fn run_once(
    args: &Args,
    backend: &str,
    number: usize,
    database: &str,
    dir: &Path,
) -> anyhow::Result<Figures> {
    let steal0 = cpu_ticks();
    let receiver = Receiver::start(args.error_share).await?;
    let mut herald = Herald::for_run(args, database, dir)?;
    let bench = Arc::new(Bench::new(
        client()?,
        &herald.url,
        &herald.token,
        &receiver.url,
        receiver.recorder.clone(),
    )?);
    let pid = herald.pid();
    let run = Run {
        args,
        backend,
        number,
        bench,
        pid,
    };
    let mut figures = if args.mix_pairs > 0 {
        let figures = mix_pairs::measure(&run).await?;
        herald.stop();
        figures
    } else {
        every_phase(&run, &mut herald, database, dir).await?
    };
    receiver.stop();
    figures.push(steal_since(steal0));
    Ok(figures)
}

/// The client for Herald's API (single events go through `EventPoster`).
fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()
}

/// Throughput, latency and the timing-out mix on `herald`, which is then
/// stopped; then, with a child Herald, the backlog drain.
async fn every_phase(
    run: &Run<'_>,
    herald: &mut Herald,
    database: &str,
    dir: &Path,
) -> anyhow::Result<Figures> {
    let mut figures = throughput::measure(run).await?;
    figures.extend(latency::measure(run).await?);
    figures.extend(mix::measure(run).await?);
    if let Some(pid) = run.pid {
        figures.push(("Herald peak RSS (MB)".into(), peak_rss_mb(pid), "MB"));
    }
    herald.stop();

    // Backlog: queued by an API-only Herald while nothing sends, then drained.
    if run.args.herald_url.is_none() && run.args.backlog > 0 {
        figures.extend(backlog::measure(run, database, dir, &herald.token).await?);
    }
    Ok(figures)
}
