//! The overview: the account's webhooks by state, its deliveries of the
//! last 24 hours by outcome (a chart drawn here, as SVG), and its queue.

use askama::Template;
use axum::extract::{Query, State};

use super::page::{self, Chrome, PageResult};
use super::session::{NoticeQuery, Session};
use crate::api::state::AppState;
use crate::domain::time::{now_epoch, now_millis};
use crate::store::{AccountQueue, AccountWebhooks};

const HOURS: usize = 24;
const BAR_WIDTH: i64 = 20;
const CHART_HEIGHT: i64 = 120;

/// The outcomes the chart shows, each with its class (colour and pattern)
/// and its name in the legend.
const OUTCOMES: [(&str, &str, &str); 3] = [
    ("succeeded", "ok", "Succeeded"),
    ("given_up", "failed", "Given up"),
    ("queued", "queued", "Pending or in flight"),
];

pub struct Segment {
    pub y: i64,
    pub height: i64,
    pub class: &'static str,
}

pub struct Bar {
    pub x: i64,
    pub label: String,
    /// Counts by outcome, in the order of [`OUTCOMES`].
    pub counts: [i64; 3],
    pub segments: Vec<Segment>,
}

pub struct Outcome {
    pub class: &'static str,
    pub name: &'static str,
    pub total: i64,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    webhooks: AccountWebhooks,
    queue: AccountQueue,
    oldest_due_age: Option<String>,
    bars: Vec<Bar>,
    outcomes: Vec<Outcome>,
    chart_max: i64,
    chart_width: i64,
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<NoticeQuery>,
) -> PageResult {
    let account = &session.caller.account;
    let now = now_epoch();
    let since = now - (HOURS as i64) * 3600;
    let now_ms = now_millis();
    // Reads on the read pool at once: the page waits for the slowest, not
    // for their sum.
    let (webhooks, (counts, queue)) = tokio::try_join!(
        state.store.account_webhooks(account),
        state.store.account_deliveries(account, since, now_ms),
    )?;
    let mut by_hour = [[0i64; 3]; HOURS];
    for (hour, status, count) in counts {
        let slot = match status {
            "succeeded" => 0,
            "given_up" => 1,
            _ => 2,
        };
        by_hour[(hour.max(0) as usize).min(HOURS - 1)][slot] += count;
    }
    let chart_max = by_hour
        .iter()
        .map(|c| c.iter().sum::<i64>())
        .max()
        .unwrap_or(0);
    let bars = by_hour
        .iter()
        .enumerate()
        .map(|(i, counts)| bar(i, *counts, since, chart_max))
        .collect();
    let outcomes = OUTCOMES
        .iter()
        .enumerate()
        .map(|(i, (_, class, name))| Outcome {
            class,
            name,
            total: by_hour.iter().map(|c| c[i]).sum(),
        })
        .collect();
    let notice = page::notice(query.notice.as_deref(), None);
    page::render(&OverviewPage {
        chrome: session.chrome("overview", notice),
        webhooks,
        oldest_due_age: queue.oldest_due_ms.map(|at| age((now_ms - at) / 1000)),
        queue,
        bars,
        outcomes,
        chart_max,
        chart_width: HOURS as i64 * BAR_WIDTH,
    })
}

/// Hour `i` of the window as a stacked bar, scaled to `max`.
fn bar(i: usize, counts: [i64; 3], since: i64, max: i64) -> Bar {
    let mut top = CHART_HEIGHT;
    let mut segments = Vec::new();
    for (slot, (_, class, _)) in OUTCOMES.iter().enumerate() {
        if counts[slot] == 0 || max == 0 {
            continue;
        }
        let height = (counts[slot] * CHART_HEIGHT / max).max(1);
        top -= height;
        segments.push(Segment {
            y: top,
            height,
            class,
        });
    }
    let start = since + i as i64 * 3600;
    Bar {
        x: i as i64 * BAR_WIDTH,
        label: page::when(start)[11..16].to_string(),
        counts,
        segments,
    }
}

/// A duration in seconds, as a person reads it.
fn age(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}
