//! `--mix-pairs`: the timing-out mix alone, as pairs of phases (alone, then
//! beside a timing-out webhook) in one Herald, closer than comparing runs.

use anyhow::bail;

use super::mix::{MIX_SETTLE, Phase, healthy_phase};
use super::{Figures, Run};
use crate::stats::median;

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
pub async fn measure(run: &Run<'_>) -> anyhow::Result<Figures> {
    let pairs = run.args.mix_pairs;
    if 2 * pairs + 1 > PAIR_EVENTS.len() {
        bail!("--mix-pairs: at most {}", (PAIR_EVENTS.len() - 1) / 2);
    }
    let mut phases = Vec::with_capacity(2 * pairs + 1);
    for (i, event) in PAIR_EVENTS[..2 * pairs + 1].iter().enumerate() {
        phases.push(pair_phase(run, i, event).await?);
    }
    Ok(pair_figures(&phases[1..], pairs))
}

/// Phase `i` of the pairs, told on stderr. Phase 0 warms up; then alone,
/// beside, alone, beside...
async fn pair_phase(run: &Run<'_>, i: usize, event: &str) -> anyhow::Result<Phase> {
    let args = run.args;
    tokio::time::sleep(MIX_SETTLE).await;
    let beside = i.is_multiple_of(2) && i > 0;
    let mark = if beside { "mix-beside" } else { "mix-alone" };
    if i > 0 {
        args.perf_mark(mark, true);
    }
    let phase = healthy_phase(run, event, args.events / 2, beside).await?;
    if i > 0 {
        args.perf_mark(mark, false);
    }
    run.bench.delete_webhooks(&phase.webhooks).await?;
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
    Ok(phase)
}

/// Each pair's share and CPU ratio, then the medians over the pairs.
fn pair_figures(phases: &[Phase], pairs: usize) -> Figures {
    let mut figures: Figures = Vec::new();
    let mut shares = Vec::with_capacity(pairs);
    let mut cpu_ratios = Vec::with_capacity(pairs);
    for (k, pair) in phases.chunks_exact(2).enumerate() {
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
    figures
}
