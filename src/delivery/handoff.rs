//! Deliveries this process publishes go straight to its engine, leased in
//! the publish transaction: no claim stands between the 202 and the send.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};

use crate::domain::delivery::Lease;
use crate::domain::time::now_millis;
use crate::store::group_commit::LeaseTaker;

/// Deliveries leased in one publish, for the engine to load and send.
pub struct Handed {
    pub lease: Lease,
    pub ids: Vec<i64>,
}

pub struct Handoff {
    worker: String,
    lease: Duration,
    /// The engine's attempt slots: leases offered never exceed those free.
    permits: Arc<Semaphore>,
    /// Most deliveries one offer takes.
    max: usize,
    /// Set while the engine finds nothing else due: new deliveries never
    /// overtake a backlog, which the engine claims oldest first.
    caught_up: AtomicBool,
    offers: AtomicU64,
    handed: mpsc::UnboundedSender<Handed>,
}

impl Handoff {
    pub fn new(
        worker: String,
        lease: Duration,
        permits: Arc<Semaphore>,
        max: usize,
    ) -> (Handoff, mpsc::UnboundedReceiver<Handed>) {
        let (handed, receiver) = mpsc::unbounded_channel();
        let handoff = Handoff {
            worker,
            lease,
            permits,
            max,
            caught_up: AtomicBool::new(false),
            offers: AtomicU64::new(0),
            handed,
        };
        (handoff, receiver)
    }

    /// Whether the engine's last claim emptied the queue of due work.
    pub fn set_caught_up(&self, caught_up: bool) {
        self.caught_up.store(caught_up, Ordering::Relaxed);
    }
}

impl LeaseTaker for Handoff {
    fn offer(&self) -> Option<Lease> {
        if !self.caught_up.load(Ordering::Relaxed) || self.handed.is_closed() {
            return None;
        }
        let limit = self.permits.available_permits().min(self.max);
        if limit == 0 {
            return None;
        }
        let n = self.offers.fetch_add(1, Ordering::Relaxed);
        Some(Lease {
            owner: format!("{}:p{n}", self.worker),
            until_ms: now_millis() + self.lease.as_millis() as i64,
            limit,
        })
    }

    fn take(&self, lease: Lease, ids: Vec<i64>) {
        if self.handed.send(Handed { lease, ids }).is_err() {
            // The engine has stopped: the leases run out and any worker
            // sends these deliveries then.
            tracing::warn!("engine stopped; deliveries leased to it wait for their leases to end");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_only_free_slots_and_only_when_caught_up() {
        let permits = Arc::new(Semaphore::new(3));
        let (handoff, receiver) =
            Handoff::new("w".into(), Duration::from_secs(25), permits.clone(), 2);
        assert_eq!(handoff.offer(), None, "not caught up yet");
        handoff.set_caught_up(true);
        let lease = handoff.offer().unwrap();
        assert_eq!(lease.limit, 2);
        assert!(lease.owner.starts_with("w:"));
        assert_ne!(handoff.offer().unwrap().owner, lease.owner);
        let _held = permits.clone().try_acquire_many_owned(3).unwrap();
        assert_eq!(handoff.offer(), None, "no free slot");
        drop(_held);
        drop(receiver);
        assert_eq!(handoff.offer(), None, "engine stopped");
    }
}
