//! Reads the queue and the webhooks' states from the database every few
//! seconds for the metrics, never per scrape: a scrape costs no query.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::Metrics;
use crate::domain::time::now_millis;
use crate::store::Store;

/// How often the queue is read.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// A read of a large queue takes a while (it counts every queued
/// delivery, about 0.15 s for a million on SQLite): the next waits at
/// least this many times as long, so sampling never takes more than 2 %
/// of a core.
const SPACING: u32 = 50;

/// Samples until `shutdown`, the first time at once.
pub async fn run(store: Arc<Store>, metrics: Metrics, shutdown: CancellationToken) {
    loop {
        let started = Instant::now();
        sample(&store, &metrics).await;
        let wait = SAMPLE_EVERY.max(started.elapsed() * SPACING);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn sample(store: &Store, metrics: &Metrics) {
    let now_ms = now_millis();
    match store.queue_stats(now_ms).await {
        Ok(queue) => metrics.queue(&queue, now_ms),
        Err(error) => tracing::warn!(
            error = format!("{:#}", anyhow::Error::from(error)),
            "could not read the queue for the metrics"
        ),
    }
    match store.webhook_stats().await {
        Ok(webhooks) => metrics.webhooks(&webhooks),
        Err(error) => tracing::warn!(
            error = format!("{:#}", anyhow::Error::from(error)),
            "could not read the webhooks for the metrics"
        ),
    }
}
