//! The handoff: deliveries this process publishes go straight to its
//! engine, leased in the publish transaction, so no claim stands between the
//! 202 and the send.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::domain::delivery::{Lease, LeasedDelivery};
use crate::domain::time::now_millis;

/// A lease the handoff offers one group commit, with the attempt slots it
/// set aside to honour it; dropped untaken, the slots are free again.
pub struct Offer {
    pub lease: Lease,
    slots: OwnedSemaphorePermit,
}

/// Deliveries leased in one publish, for the engine to load and send, with
/// one attempt slot set aside for each.
pub struct Handover {
    pub lease: Lease,
    pub leased: Vec<LeasedDelivery>,
    pub slots: OwnedSemaphorePermit,
}

/// The engine's side of the handoff, shared with group commit: it makes
/// offers while the engine is caught up and passes what a publish leased
/// under one to the engine.
pub struct Handoff {
    worker: String,
    lease: Duration,
    /// The engine's attempt slots: an offer sets aside as many as it may
    /// lease, so handed deliveries never wait for a slot.
    slots: Arc<Semaphore>,
    /// Most deliveries one offer takes.
    max: usize,
    /// Set while the engine's last claim left nothing due behind but the
    /// deliveries of webhooks at their limit, which it skipped (listed):
    /// new deliveries do not overtake a backlog, which the engine claims
    /// oldest first, and those of a webhook at its limit are queued, to be
    /// claimed when it has room. The list is the one the claim skipped, so
    /// a webhook that claim filled is passed over only from the next one.
    caught_up: Mutex<Option<Vec<i64>>>,
    /// Set when the engine stops: no more offers.
    closed: AtomicBool,
    offers: AtomicU64,
    handovers: mpsc::UnboundedSender<Handover>,
}

impl Handoff {
    pub fn new(
        worker: String,
        lease: Duration,
        slots: Arc<Semaphore>,
        max: usize,
    ) -> (Handoff, mpsc::UnboundedReceiver<Handover>) {
        let (handovers, receiver) = mpsc::unbounded_channel();
        let handoff = Handoff {
            worker,
            lease,
            slots,
            max,
            caught_up: Mutex::new(None),
            closed: AtomicBool::new(false),
            offers: AtomicU64::new(0),
            handovers,
        };
        (handoff, receiver)
    }

    /// Whether the engine's last look at the queue found nothing else due
    /// but what it skipped: the deliveries of webhooks at their limit
    /// (`skipped`), whose new deliveries offers then pass over.
    pub fn set_caught_up(&self, caught_up: bool, skipped: &[i64]) {
        *self.lock_caught_up() = caught_up.then(|| skipped.to_vec());
    }

    fn lock_caught_up(&self) -> std::sync::MutexGuard<'_, Option<Vec<i64>>> {
        // A plain value: a panic elsewhere cannot leave it half written.
        self.caught_up
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// No offers from now on (the engine is stopping).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    /// The lease the engine would take up to `wanted` new deliveries under
    /// now, if any (its limit may be lower), with its slots set aside.
    pub fn offer(&self, wanted: usize) -> Option<Offer> {
        if self.closed.load(Ordering::Relaxed) || self.handovers.is_closed() {
            return None;
        }
        let pass_over = self.lock_caught_up().clone()?;
        let limit = self.slots.available_permits().min(self.max).min(wanted);
        if limit == 0 {
            return None;
        }
        let slots = self
            .slots
            .clone()
            .try_acquire_many_owned(u32::try_from(limit).ok()?)
            .ok()?;
        let n = self.offers.fetch_add(1, Ordering::Relaxed);
        Some(Offer {
            lease: Lease {
                owner: format!("{}:p{n}", self.worker),
                until_ms: now_millis() + self.lease.as_millis() as i64,
                limit,
                pass_over,
            },
            slots,
        })
    }

    /// Deliveries committed leased under `offer`: they go to the engine,
    /// each with one of the offer's slots.
    pub fn take(&self, offer: Offer, leased: Vec<LeasedDelivery>) {
        let Offer {
            lease,
            slots: mut held,
        } = offer;
        // One slot per delivery leased; the rest are free again now.
        let Some(slots) = held.split(leased.len()) else {
            tracing::error!("more deliveries leased than slots set aside");
            return;
        };
        drop(held);
        let handover = Handover {
            lease,
            leased,
            slots,
        };
        if self.handovers.send(handover).is_err() {
            // The engine has stopped; it hands back its leases once every
            // slot is back, so these are queued again then.
            tracing::debug!("engine stopped; deliveries handed over go back to the queue");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_set_aside_free_slots_only_while_caught_up() {
        let permits = Arc::new(Semaphore::new(3));
        let (handoff, receiver) =
            Handoff::new("w".into(), Duration::from_secs(25), permits.clone(), 2);
        assert!(handoff.offer(5).is_none(), "not caught up yet");
        handoff.set_caught_up(true, &[4, 9]);
        assert!(handoff.offer(0).is_none(), "nothing wanted");
        assert_eq!(
            handoff.offer(1).unwrap().lease.pass_over,
            vec![4, 9],
            "webhooks the engine skipped are passed over"
        );
        assert_eq!(
            handoff.offer(1).unwrap().lease.limit,
            1,
            "as many as wanted"
        );
        let first = handoff.offer(5).unwrap();
        assert_eq!(first.lease.limit, 2);
        assert!(first.lease.owner.starts_with("w:"));
        assert_eq!(permits.available_permits(), 1, "its slots are set aside");
        let second = handoff.offer(5).unwrap();
        assert_eq!(second.lease.limit, 1, "only the slot left");
        assert_ne!(second.lease.owner, first.lease.owner);
        assert!(handoff.offer(5).is_none(), "no free slot");
        drop(second);
        assert_eq!(
            permits.available_permits(),
            1,
            "an untaken offer gives its slots back"
        );
        handoff.set_caught_up(false, &[]);
        assert!(handoff.offer(1).is_none(), "a backlog waits");
        handoff.set_caught_up(true, &[]);
        handoff.take(
            first,
            vec![LeasedDelivery {
                id: 7,
                uuid: "u7".into(),
                webhook_id: 3,
                event: Arc::new(crate::domain::event::StoredEvent::for_tests(1)),
            }],
        );
        assert_eq!(
            permits.available_permits(),
            2,
            "one slot travels with the delivery, the other is free again"
        );
        handoff.close();
        assert!(handoff.offer(5).is_none(), "engine stopping");
        drop(receiver);
    }
}
