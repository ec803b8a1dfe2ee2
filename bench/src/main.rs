//! herald-bench: a repeatable load benchmark of Herald. It starts a fast
//! receiver on loopback and a Herald child process on a fresh database
//! (SQLite and/or PostgreSQL), drives load, and prints a table of medians.
//! See docs/benchmarks.md.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Parser;
use herald_test_support::Schema;
use serde_json::{Value, json};

use cli::Args;
use herald::Herald;
use publish::Bench;
use receiver::Receiver;
use stats::{
    cpu_spent, cpu_ticks, machine, median, ms, peak_rss_mb, percentile, rate, steal_since,
};

mod cli;
mod herald;
mod perf;
mod poster;
mod publish;
mod receiver;
mod stats;

/// One run's figures, by name.
type Figures = Vec<(String, f64, &'static str)>;

async fn run_once(
    args: &Args,
    backend: &str,
    run: usize,
    database: &str,
    dir: &Path,
) -> anyhow::Result<Figures> {
    let mut figures: Figures = Vec::new();
    let steal0 = cpu_ticks();
    let server = Receiver::start(args.error_share).await?;
    let (receiver, recorder) = (server.url.clone(), server.recorder.clone());

    let mut herald = Herald::for_run(args, database, dir)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()?;
    let bench = Arc::new(Bench::new(
        client,
        &herald.url,
        &herald.token,
        &receiver,
        recorder.clone(),
    )?);
    let pid = herald.pid();
    let n = args.events;
    let drain_limit = Duration::from_secs(600);

    if args.mix_pairs > 0 {
        figures.extend(mix_pairs(args, &bench, pid, n / 2, args.mix_pairs, drain_limit).await?);
        herald.stop();
        server.stop();
        figures.push(steal_since(steal0));
        return Ok(figures);
    }

    // Publishing, fan-out 1.
    bench.webhooks("request.create", "/single", 1).await?;
    let started = Instant::now();
    args.perf_mark("single", true);
    bench
        .publish_single("request.create", n, args.clients)
        .await?;
    args.perf_mark("single", false);
    figures.push((
        "publish single (events/s)".into(),
        rate(n, started.elapsed()),
        "events/s",
    ));
    recorder.wait_for(n, drain_limit).await?;
    recorder.take();

    bench.webhooks("request.update", "/batch", 1).await?;
    let batched = n * 5;
    let started = Instant::now();
    args.perf_mark("batched", true);
    bench
        .publish_batched("request.update", batched, 1000, 4)
        .await?;
    args.perf_mark("batched", false);
    figures.push((
        "publish batched (events/s)".into(),
        rate(batched, started.elapsed()),
        "events/s",
    ));
    recorder.wait_for(batched, drain_limit).await?;
    recorder.take();

    // End to end, fan-out 1 and 10; CPU per message at fan-out 1.
    bench.webhooks("task.update", "/e2e1", 1).await?;
    let cpu0 = cpu_spent(pid);
    let started = Instant::now();
    args.perf_mark("fan-out-1", true);
    bench.publish_batched("task.update", n, 1000, 2).await?;
    let last = recorder.wait_for(n, drain_limit).await?;
    args.perf_mark("fan-out-1", false);
    figures.push((
        "end-to-end fan-out 1 (deliveries/s)".into(),
        rate(n, last - started),
        "deliveries/s",
    ));
    let cpu = cpu_spent(pid) - cpu0;
    figures.push((
        "CPU per delivery, fan-out 1 (ms)".into(),
        cpu * 1000.0 / n as f64,
        "ms",
    ));
    let arrivals = recorder.take();
    let unique: HashSet<&str> = arrivals.iter().map(|a| a.uuid.as_str()).collect();
    figures.push((
        "duplicates".into(),
        (arrivals.len() - unique.len()) as f64,
        "count",
    ));

    bench.webhooks("problem.update", "/e2e10", 10).await?;
    let started = Instant::now();
    args.perf_mark("fan-out-10", true);
    bench.publish_batched("problem.update", n, 1000, 2).await?;
    let last = recorder.wait_for(n * 10, drain_limit).await?;
    args.perf_mark("fan-out-10", false);
    figures.push((
        "end-to-end fan-out 10 (deliveries/s)".into(),
        rate(n * 10, last - started),
        "deliveries/s",
    ));
    recorder.take();

    // Latency from the 202 to receipt, open loop at fixed rates.
    bench.webhooks("task.create", "/latency", 1).await?;
    let rates: &[u64] = if args.quick {
        &[100]
    } else {
        &[100, 1000, 5000]
    };
    let mut next_object = 0i64;
    for &per_sec in rates {
        let total = (per_sec * args.latency_secs) as usize;
        let accepted: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
        let cpu_before = cpu_spent(pid);
        let phase = format!("latency-{per_sec}");
        args.perf_mark(&phase, true);
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(total);
        for i in 0..total {
            let due = start + Duration::from_secs_f64(i as f64 / per_sec as f64);
            tokio::time::sleep_until(due.into()).await;
            let (bench, accepted) = (bench.clone(), accepted.clone());
            let object_id = next_object + i as i64;
            tasks.push(tokio::spawn(async move {
                let result = bench.publish_one("task.create", object_id).await;
                accepted.lock().unwrap().insert(object_id, Instant::now());
                result
            }));
        }
        for task in tasks {
            task.await??;
        }
        recorder.wait_for(total, drain_limit).await?;
        args.perf_mark(&phase, false);
        let cpu = cpu_spent(pid) - cpu_before;
        let first_object = next_object;
        next_object += total as i64;
        let accepted = accepted.lock().unwrap().clone();
        let arrivals = recorder.take();
        let mut latencies: Vec<f64> = arrivals
            .iter()
            .filter_map(|a| {
                accepted
                    .get(&a.object_id)
                    .map(|t| ms(a.at.saturating_duration_since(*t)))
            })
            .collect();
        if let Some(samples) = &args.latency_samples {
            // Event i was due at start + i / rate.
            let due = |object_id: i64| {
                start + Duration::from_secs_f64((object_id - first_object) as f64 / per_sec as f64)
            };
            let mut text = String::from("object_id\tdue_ms\tto_202_ms\t202_to_receipt_ms\n");
            for a in &arrivals {
                if let Some(t) = accepted.get(&a.object_id) {
                    let due = due(a.object_id);
                    text.push_str(&format!(
                        "{}\t{:.3}\t{:.3}\t{:.3}\n",
                        a.object_id,
                        ms(due.saturating_duration_since(start)),
                        ms(t.saturating_duration_since(due)),
                        ms(a.at.saturating_duration_since(*t)),
                    ));
                }
            }
            std::fs::create_dir_all(samples)?;
            std::fs::write(
                samples.join(format!("{backend}-run{run}-{per_sec}.tsv")),
                text,
            )?;
        }
        latencies.sort_by(f64::total_cmp);
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
    }

    // 10 % of webhooks time out: what the healthy 90 % still get, against
    // the same 9 webhooks and events with no slow one beside them.
    // Each phase starts on a settled Herald: without the pause the second
    // began while the first's last outcomes and the database's upkeep
    // (checkpoints, autovacuum) were still being written, and paid for them.
    let mix = n / 2;
    tokio::time::sleep(MIX_SETTLE).await;
    args.perf_mark("mix-alone", true);
    let alone = healthy_phase(&bench, pid, "sla.create", mix, false, drain_limit).await?;
    args.perf_mark("mix-alone", false);
    figures.push((
        "9 healthy webhooks alone (deliveries/s)".into(),
        alone.rate,
        "deliveries/s",
    ));
    figures.push(("CPU per delivery, 9 alone (ms)".into(), alone.cpu_ms, "ms"));
    tokio::time::sleep(MIX_SETTLE).await;
    args.perf_mark("mix-beside", true);
    let beside = healthy_phase(&bench, pid, "sla.update", mix, true, drain_limit).await?;
    args.perf_mark("mix-beside", false);
    figures.push((
        "healthy deliveries/s with 10% timing out".into(),
        beside.rate,
        "deliveries/s",
    ));
    figures.push((
        "CPU per healthy delivery, 10% timing out (ms)".into(),
        beside.cpu_ms,
        "ms",
    ));
    figures.push((
        "healthy share of their rate alone (%)".into(),
        100.0 * beside.rate / alone.rate.max(1e-9),
        "%",
    ));
    if let Some(pid) = pid {
        figures.push(("Herald peak RSS (MB)".into(), peak_rss_mb(pid), "MB"));
    }
    herald.stop();

    // Backlog: queued by an API-only Herald while nothing sends, then drained.
    if args.herald_url.is_none() && args.backlog > 0 {
        let mut api = Herald::start(args, database, dir, "api")?;
        api.token = herald.token.clone();
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
        let drain = Herald::start(args, database, dir, "all")?;
        let started = Instant::now();
        args.perf_mark("drain", true);
        let last = recorder
            .wait_for(args.backlog / 10 * 10, Duration::from_secs(3600))
            .await?;
        args.perf_mark("drain", false);
        figures.push((
            "backlog drain (deliveries/s)".into(),
            rate(args.backlog / 10 * 10, last - started),
            "deliveries/s",
        ));
        figures.push((
            "backlog drain time (s)".into(),
            (last - started).as_secs_f64(),
            "s",
        ));
        if let Some(pid) = drain.pid() {
            figures.push(("peak RSS during drain (MB)".into(), peak_rss_mb(pid), "MB"));
        }
        let arrivals = recorder.take();
        let unique: HashSet<&str> = arrivals.iter().map(|a| a.uuid.as_str()).collect();
        figures.push((
            "backlog duplicates".into(),
            (arrivals.len() - unique.len()) as f64,
            "count",
        ));
        figures.push((
            "backlog missing".into(),
            (args.backlog / 10 * 10).saturating_sub(unique.len()) as f64,
            "count",
        ));
    }
    server.stop();
    figures.push(steal_since(steal0));
    Ok(figures)
}

/// The pause before each phase of the timing-out mix: longer than Herald's
/// timeout here (2 s), so the previous phase's last attempts to the
/// timing-out receiver are over, and long enough for the previous phase's
/// outcomes to be written.
const MIX_SETTLE: Duration = Duration::from_secs(3);

/// What the healthy webhooks of one phase of the timing-out mix got.
struct Phase {
    /// Healthy deliveries/s, from the first publish to the last arrival.
    rate: f64,
    /// CPU per healthy delivery (ms), Herald (and PostgreSQL).
    cpu_ms: f64,
    /// The phase's webhooks.
    webhooks: Vec<i64>,
}

/// One phase of the timing-out mix: 9 new healthy webhooks for `event`,
/// and beside them, with `beside_slow`, one whose receiver answers only
/// after Herald's timeout; `n` events in batches of 1,000 from 2 clients.
async fn healthy_phase(
    bench: &Arc<Bench>,
    pid: Option<u32>,
    event: &str,
    n: usize,
    beside_slow: bool,
    drain_limit: Duration,
) -> anyhow::Result<Phase> {
    let mut webhooks = bench
        .webhooks(event, if beside_slow { "/healthy" } else { "/alone" }, 9)
        .await?;
    if beside_slow {
        webhooks.extend(bench.webhooks(event, "/slow", 1).await?);
    }
    let cpu0 = cpu_spent(pid);
    let started = Instant::now();
    bench.publish_batched(event, n, 1000, 2).await?;
    let last = bench.recorder.wait_for(n * 9, drain_limit).await?;
    let cpu = cpu_spent(pid) - cpu0;
    bench.recorder.take();
    Ok(Phase {
        rate: rate(n * 9, last - started),
        cpu_ms: cpu * 1000.0 / (n * 9) as f64,
        webhooks,
    })
}

/// Events of the catalogue for the phases of `--mix-pairs`, one each.
const PAIR_EVENTS: [&str; 27] = [
    "sla.create",
    "sla.update",
    "risk.create",
    "risk.update",
    "release.create",
    "release.update",
    "project.create",
    "project.update",
    "service.create",
    "service.update",
    "product.create",
    "product.update",
    "team.create",
    "team.update",
    "person.create",
    "person.update",
    "contract.create",
    "contract.update",
    "broadcast.create",
    "broadcast.update",
    "workflow.create",
    "workflow.update",
    "flsa.create",
    "flsa.update",
    "organization.create",
    "organization.update",
    "knowledge_article.create",
];

/// `--mix-pairs`: a warm-up phase alone, then `pairs` of (alone, beside a
/// timing-out webhook), each phase on new webhooks (deleted after it, so a
/// timing-out webhook's queue does not reach into the next phase), after a
/// pause longer than an attempt to the timing-out receiver.
async fn mix_pairs(
    args: &Args,
    bench: &Arc<Bench>,
    pid: Option<u32>,
    n: usize,
    pairs: usize,
    drain_limit: Duration,
) -> anyhow::Result<Figures> {
    if 2 * pairs + 1 > PAIR_EVENTS.len() {
        bail!("--mix-pairs: at most {}", (PAIR_EVENTS.len() - 1) / 2);
    }
    let mut figures: Figures = Vec::new();
    let mut phases = Vec::with_capacity(2 * pairs + 1);
    for (i, event) in PAIR_EVENTS[..2 * pairs + 1].iter().enumerate() {
        tokio::time::sleep(MIX_SETTLE).await;
        // Phase 0 warms up; then alone, beside, alone, beside...
        let beside = i % 2 == 0 && i > 0;
        let mark = if beside { "mix-beside" } else { "mix-alone" };
        if i > 0 {
            args.perf_mark(mark, true);
        }
        let phase = healthy_phase(bench, pid, event, n, beside, drain_limit).await?;
        if i > 0 {
            args.perf_mark(mark, false);
        }
        bench.delete_webhooks(&phase.webhooks).await?;
        eprintln!(
            "phase {i} ({}): {:.0} healthy deliveries/s, {:.4} ms CPU each",
            if i == 0 {
                "warm-up"
            } else if beside {
                "beside"
            } else {
                "alone"
            },
            phase.rate,
            phase.cpu_ms
        );
        phases.push(phase);
    }
    let mut shares = Vec::with_capacity(pairs);
    let mut cpu_ratios = Vec::with_capacity(pairs);
    for (k, pair) in phases[1..].chunks_exact(2).enumerate() {
        let (alone, beside) = (&pair[0], &pair[1]);
        shares.push(100.0 * beside.rate / alone.rate.max(1e-9));
        cpu_ratios.push(beside.cpu_ms / alone.cpu_ms.max(1e-9));
        figures.push((format!("pair {}: healthy share (%)", k + 1), shares[k], "%"));
        figures.push((
            format!("pair {}: CPU per healthy delivery ratio", k + 1),
            cpu_ratios[k],
            "ratio",
        ));
    }
    figures.push((
        "healthy share, median of the pairs (%)".into(),
        median(shares),
        "%",
    ));
    figures.push((
        "CPU ratio beside / alone, median of the pairs".into(),
        median(cpu_ratios),
        "ratio",
    ));
    Ok(figures)
}

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
