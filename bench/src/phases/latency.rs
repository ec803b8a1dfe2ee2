//! Latency from the 202 to receipt, publishing single events open loop at
//! fixed rates; with --latency-samples, every sample to a file.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use super::{DRAIN_LIMIT, Figures, Run};
use crate::publish::Schedule;
use crate::receiver::Arrival;
use crate::stats::{cpu_spent, ms, percentile};

/// Each rate for --latency-secs (only 100/s with --quick), on one webhook.
pub async fn measure(run: &Run<'_>) -> anyhow::Result<Figures> {
    run.bench.webhooks("task.create", "/latency", 1).await?;
    let rates: &[u64] = if run.args.quick {
        &[100]
    } else {
        &[100, 1000, 5000]
    };
    let mut figures = Figures::new();
    let mut next_object = 0i64;
    for &per_sec in rates {
        let total = (per_sec * run.args.latency_secs) as usize;
        figures.extend(at_rate(run, per_sec, next_object, total).await?);
        next_object += total as i64;
    }
    Ok(figures)
}

/// `total` events at `per_sec`, about objects from `first_object` on: the
/// latency's percentiles and the CPU per event.
async fn at_rate(
    run: &Run<'_>,
    per_sec: u64,
    first_object: i64,
    total: usize,
) -> anyhow::Result<Figures> {
    let (args, bench) = (run.args, &run.bench);
    let cpu_before = cpu_spent(run.pid);
    let phase = format!("latency-{per_sec}");
    args.perf_mark(&phase, true);
    let schedule = Schedule {
        start: Instant::now(),
        first_object,
        per_sec,
    };
    let accepted = bench
        .publish_open_loop("task.create", &schedule, total)
        .await?;
    bench.recorder.wait_for(total, DRAIN_LIMIT).await?;
    args.perf_mark(&phase, false);
    let cpu = cpu_spent(run.pid) - cpu_before;
    let arrivals = bench.recorder.take();
    if let Some(samples) = &args.latency_samples {
        let file = format!("{}-run{}-{per_sec}.tsv", run.backend, run.number);
        write_samples(samples, &file, &schedule, &arrivals, &accepted)?;
    }
    let mut latencies: Vec<f64> = arrivals
        .iter()
        .filter_map(|a| {
            accepted
                .get(&a.object_id)
                .map(|t| ms(a.at.saturating_duration_since(*t)))
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let mut figures = Figures::new();
    for (label, p) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("max", 100.0)] {
        figures.push((
            format!("latency {label} at {per_sec}/s (ms)"),
            percentile(&latencies, p),
            "ms",
        ));
    }
    figures.push((
        format!("CPU per event at {per_sec}/s (ms)"),
        cpu * 1000.0 / total as f64,
        "ms",
    ));
    Ok(figures)
}

/// Writes `samples`/`file`: for each event answered and delivered, when it
/// was due, how long its 202 took, and how long its delivery took after it.
fn write_samples(
    samples: &Path,
    file: &str,
    schedule: &Schedule,
    arrivals: &[Arrival],
    accepted: &HashMap<i64, Instant>,
) -> anyhow::Result<()> {
    let mut text = String::from("object_id\tdue_ms\tto_202_ms\t202_to_receipt_ms\n");
    for a in arrivals {
        if let Some(t) = accepted.get(&a.object_id) {
            let due = schedule.due(a.object_id);
            text.push_str(&format!(
                "{}\t{:.3}\t{:.3}\t{:.3}\n",
                a.object_id,
                ms(due.saturating_duration_since(schedule.start)),
                ms(t.saturating_duration_since(due)),
                ms(a.at.saturating_duration_since(*t)),
            ));
        }
    }
    std::fs::create_dir_all(samples)?;
    std::fs::write(samples.join(file), text)?;
    Ok(())
}
