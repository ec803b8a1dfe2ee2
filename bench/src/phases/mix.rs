//! The timing-out mix: what 9 healthy webhooks get beside one that times
//! out (10 %), against 9 alone; its phases serve --mix-pairs too.

use std::time::{Duration, Instant};

use super::{DRAIN_LIMIT, Figures, Run};
use crate::stats::{cpu_spent, rate};

/// The pause before each phase of the timing-out mix: longer than Herald's
/// timeout here (2 s), so the previous phase's last attempts to the
/// timing-out receiver are over, and long enough for the previous phase's
/// outcomes to be written.
pub const MIX_SETTLE: Duration = Duration::from_secs(3);

/// What the healthy webhooks of one phase of the timing-out mix got.
pub struct Phase {
    /// Healthy deliveries/s, from the first publish to the last arrival.
    pub rate: f64,
    /// CPU per healthy delivery (ms), Herald (and PostgreSQL).
    pub cpu_ms: f64,
    /// The phase's webhooks.
    pub webhooks: Vec<i64>,
}

/// 10 % of webhooks time out: what the healthy 90 % still get, against
/// the same 9 webhooks and events with no slow one beside them.
/// Each phase starts on a settled Herald: without the pause the second
/// began while the first's last outcomes and the database's upkeep
/// (checkpoints, autovacuum) were still being written, and paid for them.
pub async fn measure(run: &Run<'_>) -> anyhow::Result<Figures> {
    let (args, mix) = (run.args, run.args.events / 2);
    tokio::time::sleep(MIX_SETTLE).await;
    args.perf_mark("mix-alone", true);
    let alone = healthy_phase(run, "sla.create", mix, false).await?;
    args.perf_mark("mix-alone", false);
    tokio::time::sleep(MIX_SETTLE).await;
    args.perf_mark("mix-beside", true);
    let beside = healthy_phase(run, "sla.update", mix, true).await?;
    args.perf_mark("mix-beside", false);
    Ok(vec![
        (
            "9 healthy webhooks alone (deliveries/s)".into(),
            alone.rate,
            "deliveries/s",
        ),
        ("CPU per delivery, 9 alone (ms)".into(), alone.cpu_ms, "ms"),
        (
            "healthy deliveries/s with 10% timing out".into(),
            beside.rate,
            "deliveries/s",
        ),
        (
            "CPU per healthy delivery, 10% timing out (ms)".into(),
            beside.cpu_ms,
            "ms",
        ),
        (
            "healthy share of their rate alone (%)".into(),
            100.0 * beside.rate / alone.rate.max(1e-9),
            "%",
        ),
    ])
}

/// One phase of the timing-out mix: 9 new healthy webhooks for `event`,
/// and beside them, with `beside_slow`, one whose receiver answers only
/// after Herald's timeout; `n` events in batches of 1,000 from 2 clients.
pub async fn healthy_phase(
    run: &Run<'_>,
    event: &str,
    n: usize,
    beside_slow: bool,
) -> anyhow::Result<Phase> {
    let bench = &run.bench;
    let mut webhooks = bench
        .webhooks(event, if beside_slow { "/healthy" } else { "/alone" }, 9)
        .await?;
    if beside_slow {
        webhooks.extend(bench.webhooks(event, "/slow", 1).await?);
    }
    let cpu0 = cpu_spent(run.pid);
    let started = Instant::now();
    bench.publish_batched(event, n, 1000, 2).await?;
    let last = bench.recorder.wait_for(n * 9, DRAIN_LIMIT).await?;
    let cpu = cpu_spent(run.pid) - cpu0;
    bench.recorder.take();
    Ok(Phase {
        rate: rate(n * 9, last - started),
        cpu_ms: cpu * 1000.0 / (n * 9) as f64,
        webhooks,
    })
}
