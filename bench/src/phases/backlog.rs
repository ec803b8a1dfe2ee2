//! The backlog drain: --backlog deliveries queued by an API-only Herald
//! while none is sent, then drained by a Herald with every role.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Figures, Run};
use crate::herald::Herald;
use crate::publish::Bench;
use crate::receiver::distinct;
use crate::stats::{peak_rss_mb, rate};

/// Queues the backlog on `database` (with Herald's `token`), then drains it.
pub async fn measure(
    run: &Run<'_>,
    database: &str,
    dir: &Path,
    token: &str,
) -> anyhow::Result<Figures> {
    queue(run, database, dir, token).await?;
    drain(run, database, dir).await
}

/// --backlog / 10 events to 10 webhooks, published in batches to a Herald
/// with the `api` role alone, stopped then.
async fn queue(run: &Run<'_>, database: &str, dir: &Path, token: &str) -> anyhow::Result<()> {
    let (args, bench) = (run.args, &run.bench);
    let mut api = Herald::start(args, database, dir, "api")?;
    api.token = token.to_string();
    let loader = Arc::new(Bench::new(
        bench.client.clone(),
        &api.url,
        &api.token,
        &bench.receiver,
        bench.recorder.clone(),
    )?);
    loader.webhooks("ci.update", "/backlog", 10).await?;
    loader
        .publish_batched("ci.update", args.backlog / 10, 1000, 2)
        .await?;
    api.stop();
    Ok(())
}

/// A Herald with every role delivers the backlog: how fast, its memory,
/// and deliveries that arrived twice or not at all.
async fn drain(run: &Run<'_>, database: &str, dir: &Path) -> anyhow::Result<Figures> {
    let (args, recorder) = (run.args, &run.bench.recorder);
    let backlog = args.backlog / 10 * 10;
    let drain = Herald::start(args, database, dir, "all")?;
    let started = Instant::now();
    args.perf_mark("drain", true);
    let last = recorder
        .wait_for(backlog, Duration::from_secs(3600))
        .await?;
    args.perf_mark("drain", false);
    let mut figures = vec![
        (
            "backlog drain (deliveries/s)".into(),
            rate(backlog, last - started),
            "deliveries/s",
        ),
        (
            "backlog drain time (s)".into(),
            (last - started).as_secs_f64(),
            "s",
        ),
    ];
    if let Some(pid) = drain.pid() {
        figures.push(("peak RSS during drain (MB)".into(), peak_rss_mb(pid), "MB"));
    }
    let arrivals = recorder.take();
    let unique = distinct(&arrivals);
    figures.push((
        "backlog duplicates".into(),
        (arrivals.len() - unique) as f64,
        "count",
    ));
    figures.push((
        "backlog missing".into(),
        backlog.saturating_sub(unique) as f64,
        "count",
    ));
    Ok(figures)
}
