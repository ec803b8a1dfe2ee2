//! Throughput: publishing single events and batches to one webhook, and
//! end to end (publish to receipt) at fan-out 1 and 10.

use std::time::Instant;

use super::{DRAIN_LIMIT, Figure, Figures, Run};
use crate::receiver::distinct;
use crate::stats::{cpu_spent, rate};

/// Every throughput phase, in order.
pub async fn measure(run: &Run<'_>) -> anyhow::Result<Figures> {
    let mut figures = vec![single(run).await?, batched(run).await?];
    figures.extend(fan_out_1(run).await?);
    figures.push(fan_out_10(run).await?);
    Ok(figures)
}

/// Publishing --events single events from --clients concurrent clients.
async fn single(run: &Run<'_>) -> anyhow::Result<Figure> {
    let (event, n) = ("request.create", run.args.events);
    let publish = run.bench.publish_single(event, n, run.args.clients);
    publishing(run, "single", event, "/single", n, publish).await
}

/// Publishing 5 × --events events in batches of 1,000 from 4 clients.
async fn batched(run: &Run<'_>) -> anyhow::Result<Figure> {
    let (event, batched) = ("request.update", run.args.events * 5);
    let publish = run.bench.publish_batched(event, batched, 1000, 4);
    publishing(run, "batched", event, "/batch", batched, publish).await
}

/// The publishing phase `phase`: `publish` sends `count` events `event`
/// to a new webhook at `path`; events/s until the last is answered, then
/// waits for their deliveries.
async fn publishing(
    run: &Run<'_>,
    phase: &str,
    event: &str,
    path: &str,
    count: usize,
    publish: impl Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<Figure> {
    let (args, bench) = (run.args, &run.bench);
    bench.webhooks(event, path, 1).await?;
    let started = Instant::now();
    args.perf_mark(phase, true);
    publish.await?;
    args.perf_mark(phase, false);
    let figure = (
        format!("publish {phase} (events/s)"),
        rate(count, started.elapsed()),
        "events/s",
    );
    bench.recorder.wait_for(count, DRAIN_LIMIT).await?;
    bench.recorder.take();
    Ok(figure)
}

/// End to end at fan-out 1, with the CPU per delivery and the duplicates.
async fn fan_out_1(run: &Run<'_>) -> anyhow::Result<Figures> {
    let (args, bench, n) = (run.args, &run.bench, run.args.events);
    bench.webhooks("task.update", "/e2e1", 1).await?;
    let cpu0 = cpu_spent(run.pid);
    let started = Instant::now();
    args.perf_mark("fan-out-1", true);
    bench.publish_batched("task.update", n, 1000, 2).await?;
    let last = bench.recorder.wait_for(n, DRAIN_LIMIT).await?;
    args.perf_mark("fan-out-1", false);
    let mut figures = vec![(
        "end-to-end fan-out 1 (deliveries/s)".into(),
        rate(n, last - started),
        "deliveries/s",
    )];
    let cpu = cpu_spent(run.pid) - cpu0;
    figures.push((
        "CPU per delivery, fan-out 1 (ms)".into(),
        cpu * 1000.0 / n as f64,
        "ms",
    ));
    let arrivals = bench.recorder.take();
    figures.push((
        "duplicates".into(),
        (arrivals.len() - distinct(&arrivals)) as f64,
        "count",
    ));
    Ok(figures)
}

/// End to end at fan-out 10: --events events to 10 webhooks each.
async fn fan_out_10(run: &Run<'_>) -> anyhow::Result<Figure> {
    let (args, bench, n) = (run.args, &run.bench, run.args.events);
    bench.webhooks("problem.update", "/e2e10", 10).await?;
    let started = Instant::now();
    args.perf_mark("fan-out-10", true);
    bench.publish_batched("problem.update", n, 1000, 2).await?;
    let last = bench.recorder.wait_for(n * 10, DRAIN_LIMIT).await?;
    args.perf_mark("fan-out-10", false);
    let figure = (
        "end-to-end fan-out 10 (deliveries/s)".into(),
        rate(n * 10, last - started),
        "deliveries/s",
    );
    bench.recorder.take();
    Ok(figure)
}
