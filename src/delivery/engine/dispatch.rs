//! Dispatch: each leased delivery takes an attempt slot and a place on its
//! webhook's lane; lane tasks send them; what cannot start in time is
//! handed back.

use std::sync::Arc;

use tokio::sync::{Notify, OwnedSemaphorePermit, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::RECORD_MARGIN;
use super::attempt::attempt;
use super::observe::observe;
use crate::config::Config;
use crate::delivery::lanes::{Admission, Lanes, Ticket};
use crate::delivery::sender::Sender;
use crate::delivery::signing::Signer;
use crate::domain::delivery::{AttemptResult, Claimed};
use crate::domain::time::now_millis;
use crate::store::Store;
use crate::telemetry::Metrics;

/// Starts leased deliveries on their webhooks' lanes.
pub(super) struct Dispatcher {
    /// Every lane task and deferral: the engine waits for them to stop.
    pub(super) tracker: TaskTracker,
    pub(super) context: Arc<LaneContext>,
}

/// What every lane task shares.
pub(super) struct LaneContext {
    pub(super) lanes: Arc<Lanes>,
    pub(super) sender: Arc<Sender>,
    pub(super) signer: Arc<Signer>,
    pub(super) config: Arc<Config>,
    /// To the recorder.
    pub(super) results: mpsc::Sender<AttemptResult>,
    pub(super) store: Arc<Store>,
    /// Wakes the claim loop when a webhook it skipped has room again.
    pub(super) wake: Arc<Notify>,
    pub(super) worker: String,
    pub(super) shutdown: CancellationToken,
    pub(super) metrics: Metrics,
}

impl Dispatcher {
    /// Each delivery takes one of `slots`, then starts on its webhook's
    /// lane or waits in its line; those left without a slot, or whose
    /// webhook has no room, go back to the queue. Unused slots are freed.
    /// Returns how many went back.
    pub(super) async fn dispatch(
        &self,
        deliveries: Vec<Claimed>,
        lease_until_ms: i64,
        mut slots: Option<OwnedSemaphorePermit>,
    ) -> usize {
        let timeout = self.context.config.delivery.timeout;
        // Started later than this, an attempt could outlast the lease.
        let start_by_ms = lease_until_ms - (timeout + RECORD_MARGIN).as_millis() as i64;
        let now = now_millis();
        let mut handed_back = Vec::new();
        for delivery in deliveries {
            let webhook = delivery.webhook_id();
            let Some(permit) = slots.as_mut().and_then(|s| s.split(1)) else {
                // No slot left for it: it waits for another claim.
                handed_back.push((webhook, delivery.id));
                continue;
            };
            let ticket = Ticket {
                delivery,
                permit,
                start_by_ms,
            };
            if let Some(ticket) = self.admit(webhook, ticket, now) {
                handed_back.push((webhook, ticket.delivery.id));
            }
        }
        drop(slots);
        self.hand_back_by_webhook(handed_back).await
    }

    /// Starts the ticket on a new lane task, or leaves it waiting in its
    /// webhook's line; gives it back when the line is full.
    fn admit(&self, webhook: i64, ticket: Ticket, now_ms: i64) -> Option<Ticket> {
        match self.context.lanes.admit(webhook, ticket, now_ms) {
            Admission::Send(ticket) => {
                self.tracker
                    .spawn(run_lane(self.context.clone(), webhook, ticket));
                None
            }
            Admission::Waiting => None,
            Admission::Full(ticket) => Some(ticket),
        }
    }

    /// Hands back `(webhook, delivery)` pairs, each webhook's due when it
    /// likely has a slot free. Returns how many.
    async fn hand_back_by_webhook(&self, mut handed_back: Vec<(i64, i64)>) -> usize {
        let c = self.context.as_ref();
        let timeout = c.config.delivery.timeout;
        handed_back.sort_unstable();
        for group in handed_back.chunk_by(|a, b| a.0 == b.0) {
            let ids: Vec<i64> = group.iter().map(|(_, id)| *id).collect();
            let due = c.lanes.hand_back_due(group[0].0, timeout, now_millis());
            hand_back(c.store.as_ref(), &c.worker, &ids, due).await;
        }
        handed_back.len()
    }
}

/// A lane task: sends one webhook's deliveries on one of its slots, the
/// dispatched one, then any waiting in the webhook's line.
async fn run_lane(context: Arc<LaneContext>, webhook: i64, first: Ticket) {
    let c = context.as_ref();
    let mut ticket = Some(first);
    while let Some(Ticket {
        delivery, permit, ..
    }) = ticket.take()
    {
        let started = now_millis();
        let (result, outcome) = attempt(&c.sender, &c.signer, &c.config, &delivery).await;
        let took = now_millis() - started;
        observe(&c.metrics, &delivery, &result, outcome, took);
        let failed = result.attempted.then_some(!result.succeeded);
        // The slot is freed only once the recorder has the result: when
        // recording lags, claiming waits, so leases never run out on results
        // still queued (no duplicates) and memory stays bounded. The
        // recorder outlives every lane task.
        let _ = c.results.send(result).await;
        drop(permit);
        let next = c.lanes.next(
            webhook,
            took,
            failed,
            now_millis(),
            c.shutdown.is_cancelled(),
        );
        if !next.expired.is_empty() {
            let ids: Vec<i64> = next.expired.iter().map(|t| t.delivery.id).collect();
            drop(next.expired);
            let due = c
                .lanes
                .hand_back_due(webhook, c.config.delivery.timeout, now_millis());
            hand_back(c.store.as_ref(), &c.worker, &ids, due).await;
        }
        if next.freed {
            c.wake.notify_one();
        }
        ticket = next.ticket;
    }
}

/// Hands leased deliveries back unattempted, due at `due_ms`; if that
/// fails their leases run out and they fall due anyway.
pub(super) async fn hand_back(store: &Store, worker: &str, ids: &[i64], due_ms: i64) {
    if let Err(error) = store.release_claims(worker, ids, due_ms).await {
        tracing::warn!(
            error = format!("{:#}", anyhow::Error::from(error)),
            count = ids.len(),
            "could not hand back deliveries; their leases will run out"
        );
    }
}
