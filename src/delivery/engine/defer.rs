//! Deferral: the queued deliveries of a failing webhook at its limit are
//! moved to when it likely has a slot free, so claims stop passing over them.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::task::TaskTracker;

use crate::delivery::lanes::Lanes;
use crate::domain::time::now_millis;
use crate::store::Store;

/// The shortest wait for which a failing webhook's queued deliveries are
/// moved rather than passed over: moving a row costs as much as many claims
/// passing over it, and a shorter wait sees too few claims to repay that.
const DEFER_AT_LEAST: Duration = Duration::from_secs(1);

/// Every claim passes over the queued deliveries of a webhook at its
/// limit, reading each (on PostgreSQL from the table), until it has room.
/// For one that keeps failing (a receiver that times out: seconds), they
/// are moved to when it likely has, once per such wait ([`Lanes::to_defer`]),
/// on a task of its own so that a large backlog being moved does not hold
/// up the claims.
pub(super) fn defer_failing(
    lanes: &Arc<Lanes>,
    store: &Arc<Store>,
    tracker: &TaskTracker,
    timeout: Duration,
) {
    for (webhook, until) in lanes.to_defer(timeout, DEFER_AT_LEAST, now_millis()) {
        let (lanes, store) = (lanes.clone(), store.clone());
        tracker.spawn(async move {
            match store.defer_queued(webhook, until).await {
                Ok(deferred) => tracing::debug!(
                    webhook,
                    deferred,
                    "deferred a failing webhook's queued deliveries"
                ),
                Err(error) => tracing::warn!(
                    error = format!("{:#}", anyhow::Error::from(error)),
                    webhook,
                    "could not defer a failing webhook's queued deliveries; claims pass over them meanwhile"
                ),
            }
            lanes.deferred(webhook);
        });
    }
}
