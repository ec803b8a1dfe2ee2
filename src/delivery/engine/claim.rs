//! The claim loop: while the engine has free slots, leases due deliveries
//! in batches and dispatches them; between claims, waits for a slot, for
//! room on the webhooks ahead, or for work.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::MAX_CLAIM;
use super::defer::defer_failing;
use super::dispatch::Dispatcher;
use crate::delivery::lanes::Lanes;
use crate::delivery::publish::Handoff;
use crate::domain::delivery::Claimed;
use crate::domain::time::now_millis;
use crate::store::{Store, StoreError, StoreResult};

/// Longest sleep when idle: picks up work queued by other processes that
/// cannot signal this one (SQLite) and retries falling due.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// The wait after a claim that was not full, skipped webhooks at their limit
/// and left rows due already: those are theirs, and claiming again at once
/// would only pass over them again. A wake (new work, or a skipped webhook
/// freeing a slot) ends the wait sooner.
const SKIPPED_POLL: Duration = Duration::from_millis(50);

pub(super) struct ClaimLoop {
    pub(super) store: Arc<Store>,
    pub(super) handoff: Arc<Handoff>,
    pub(super) slots: Arc<Semaphore>,
    pub(super) lanes: Arc<Lanes>,
    pub(super) dispatcher: Arc<Dispatcher>,
    pub(super) wake: Arc<Notify>,
    pub(super) shutdown: CancellationToken,
    pub(super) worker: String,
    pub(super) lease: Duration,
    pub(super) timeout: Duration,
    /// Claims made so far: numbers each claim's lease owner.
    pub(super) batch: u64,
    /// After a full claim, the webhooks it found deliveries for: the
    /// next claim would most likely reach their rows first.
    pub(super) ahead: Vec<i64>,
}

/// What one claim leased.
struct Claim {
    deliveries: Vec<Claimed>,
    lease_until_ms: i64,
    /// The webhooks at their limit it passed over.
    skipped: Vec<i64>,
}

impl ClaimLoop {
    /// Claims until `shutdown`.
    pub(super) async fn run(mut self) {
        while !self.shutdown.is_cancelled() {
            if self.step().await.is_break() {
                break;
            }
        }
    }

    /// Waits for a free slot, or for room on the webhooks ahead, or claims.
    async fn step(&mut self) -> ControlFlow<()> {
        let available = self.slots.available_permits();
        if available == 0 {
            return self.wait_for_a_slot().await;
        }
        if all_at_their_limit(&self.ahead, self.lanes.saturated()) {
            return self.wait_for_room_ahead().await;
        }
        self.claim_and_dispatch(available).await
    }

    /// Every slot is taken: no offers meanwhile (new deliveries are queued
    /// behind the due ones), and wait until a slot is free.
    async fn wait_for_a_slot(&self) -> ControlFlow<()> {
        self.handoff.set_caught_up(false, &[]);
        tokio::select! {
            _ = self.shutdown.cancelled() => ControlFlow::Break(()),
            permit = self.slots.acquire() => {
                drop(permit);
                ControlFlow::Continue(())
            }
        }
    }

    /// Every webhook ahead is at its limit: a claim now would pass over all
    /// of their rows and most likely find nothing, at the cost of reading
    /// every row due. Waits until one of them frees a slot, at most
    /// [`SKIPPED_POLL`].
    async fn wait_for_room_ahead(&mut self) -> ControlFlow<()> {
        let until = tokio::time::Instant::now() + SKIPPED_POLL;
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return ControlFlow::Break(()),
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep_until(until) => break,
            }
            if !all_at_their_limit(&self.ahead, self.lanes.saturated()) {
                break;
            }
        }
        self.ahead.clear();
        ControlFlow::Continue(())
    }

    /// Claims up to `available` due deliveries (at most [`MAX_CLAIM`]) and
    /// dispatches them; defers failing webhooks' queued deliveries; then,
    /// unless the claim was full, waits for work.
    async fn claim_and_dispatch(&mut self, available: usize) -> ControlFlow<()> {
        let limit = available.min(MAX_CLAIM);
        let Claim {
            deliveries,
            lease_until_ms,
            skipped,
        } = match self.claim(limit).await {
            Ok(claim) => claim,
            Err(error) => return self.pause_after(error).await,
        };
        let full = deliveries.len() == limit;
        // New deliveries may go straight to this engine only while
        // nothing older waits for it, but for webhooks at their limit:
        // theirs are queued.
        self.handoff.set_caught_up(!full, &skipped);
        self.remember_ahead(full, &deliveries);
        let claimed = deliveries.len();
        // Slots are taken once the claim is back, so publishes meanwhile
        // can still hand deliveries over; any claimed delivery left
        // without a slot (taken by a handover meanwhile) goes back.
        let slots = reserve(&self.slots, claimed.min(self.slots.available_permits()));
        let handed_back = self
            .dispatcher
            .dispatch(deliveries, lease_until_ms, slots)
            .await;
        tracing::debug!(
            limit,
            claimed,
            handed_back,
            skipped_webhooks = skipped.len(),
            "claimed due deliveries"
        );
        defer_failing(
            &self.lanes,
            &self.store,
            &self.dispatcher.tracker,
            self.timeout,
        );
        if full {
            return ControlFlow::Continue(());
        }
        // The claim took all that was due but the skipped webhooks'.
        self.wait_for_work(&skipped).await
    }

    /// Leases up to `limit` due deliveries under a new lease owner, passing
    /// over the webhooks at their limit.
    async fn claim(&mut self, limit: usize) -> StoreResult<Claim> {
        self.batch += 1;
        let owner = format!("{}:{}", self.worker, self.batch);
        let now = now_millis();
        let lease_until_ms = now + self.lease.as_millis() as i64;
        let skipped = self.lanes.saturated();
        let deliveries = self
            .store
            .claim_due(&owner, now, lease_until_ms, limit as i64, &skipped)
            .await?;
        Ok(Claim {
            deliveries,
            lease_until_ms,
            skipped,
        })
    }

    /// A claim failed: no offers meanwhile, and claim again after
    /// [`IDLE_POLL`].
    async fn pause_after(&self, error: StoreError) -> ControlFlow<()> {
        self.handoff.set_caught_up(false, &[]);
        tracing::error!(
            error = format!("{:#}", anyhow::Error::from(error)),
            "claiming deliveries failed"
        );
        tokio::select! {
            _ = self.shutdown.cancelled() => ControlFlow::Break(()),
            _ = tokio::time::sleep(IDLE_POLL) => ControlFlow::Continue(()),
        }
    }

    /// After a full claim, the webhooks it found: the rows the next claim
    /// reaches first are most likely theirs.
    fn remember_ahead(&mut self, full: bool, claimed: &[Claimed]) {
        self.ahead.clear();
        if full {
            self.ahead.extend(claimed.iter().map(Claimed::webhook_id));
            self.ahead.sort_unstable();
            self.ahead.dedup();
        }
    }

    /// Sleeps until the next delivery falls due, at most [`IDLE_POLL`]
    /// (or [`SKIPPED_POLL`] when only `skipped` webhooks' rows are due
    /// now); a wake ends the sleep sooner.
    async fn wait_for_work(&self, skipped: &[i64]) -> ControlFlow<()> {
        let wait = match self.store.next_due_at().await {
            Ok(Some(due)) => {
                let until = Duration::from_millis((due - now_millis()).max(0) as u64);
                if until.is_zero() && !skipped.is_empty() {
                    SKIPPED_POLL
                } else {
                    until.min(IDLE_POLL)
                }
            }
            _ => IDLE_POLL,
        };
        tokio::select! {
            _ = self.shutdown.cancelled() => ControlFlow::Break(()),
            _ = self.wake.notified() => ControlFlow::Continue(()),
            _ = tokio::time::sleep(wait) => ControlFlow::Continue(()),
        }
    }
}

/// Whether every webhook in `ahead` is among the `saturated`: the
/// rows a new claim would reach first are theirs, and it would pass over
/// them all.
fn all_at_their_limit(ahead: &[i64], mut saturated: Vec<i64>) -> bool {
    saturated.sort_unstable();
    !ahead.is_empty() && ahead.iter().all(|w| saturated.binary_search(w).is_ok())
}

/// `n` attempt slots, or none if a handover took some since they were
/// counted (the deliveries they were for then go back to the queue).
fn reserve(slots: &Arc<Semaphore>, n: usize) -> Option<OwnedSemaphorePermit> {
    let n = u32::try_from(n).ok()?;
    slots.clone().try_acquire_many_owned(n).ok()
}

#[cfg(test)]
mod tests {
    use super::all_at_their_limit;

    #[test]
    fn a_claim_waits_only_while_every_webhook_ahead_is_at_its_limit() {
        assert!(all_at_their_limit(&[2], vec![2]));
        assert!(all_at_their_limit(&[2, 5], vec![9, 5, 1, 2]));
        // One of them has room: its rows come first, so claim.
        assert!(!all_at_their_limit(&[2, 5], vec![9, 1, 2]));
        // Nothing saturated, or no full claim before: claim.
        assert!(!all_at_their_limit(&[2], vec![]));
        assert!(!all_at_their_limit(&[], vec![2]));
    }
}
