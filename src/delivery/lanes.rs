//! Per-webhook lanes: at most `per_webhook` attempts in flight to one
//! webhook, and a short line of claimed deliveries waiting behind them, so a
//! slow receiver holds a bounded share of the engine's slots.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::OwnedSemaphorePermit;

use crate::domain::delivery::Claimed;

/// A claimed delivery with its engine slot, and the latest time it may
/// still start (so its attempt and recording end within the lease).
pub struct Ticket {
    pub delivery: Claimed,
    pub permit: OwnedSemaphorePermit,
    pub start_by_ms: i64,
}

/// What becomes of a claimed delivery.
pub enum Admission {
    /// Send it now, on a new lane task.
    Send(Ticket),
    /// It waits in its webhook's line; the lane's task will send it.
    Queued,
    /// The webhook's line is full: hand the lease back.
    Full(Ticket),
}

#[derive(Default)]
struct Lane {
    sending: usize,
    waiting: VecDeque<Ticket>,
}

pub struct Lanes {
    per_webhook: usize,
    lanes: Mutex<HashMap<i64, Lane>>,
}

/// What a lane task does after an attempt.
pub struct Next {
    /// The next delivery of the same webhook, if one waits.
    pub ticket: Option<Ticket>,
    /// Waiting deliveries that can no longer start within their lease.
    pub expired: Vec<Ticket>,
    /// The webhook had every slot taken and now has one free: claims that
    /// skipped it should look again.
    pub freed: bool,
}

impl Lanes {
    pub fn new(per_webhook: usize) -> Lanes {
        Lanes {
            per_webhook: per_webhook.max(1),
            lanes: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Lane>> {
        // The map holds no invariant a panic could break halfway.
        self.lanes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Webhooks with every slot taken: the next claim skips them.
    pub fn saturated(&self) -> Vec<i64> {
        self.lock()
            .iter()
            .filter(|(_, lane)| lane.sending >= self.per_webhook)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Takes a slot of `webhook` for the ticket, or a place in its line.
    pub fn admit(&self, webhook: i64, ticket: Ticket) -> Admission {
        let mut lanes = self.lock();
        let lane = lanes.entry(webhook).or_default();
        if lane.sending < self.per_webhook {
            lane.sending += 1;
            Admission::Send(ticket)
        } else if lane.waiting.len() < self.per_webhook {
            lane.waiting.push_back(ticket);
            Admission::Queued
        } else {
            Admission::Full(ticket)
        }
    }

    /// After an attempt to `webhook`: the next waiting delivery to send on
    /// the same slot, or the slot is given up. With `stopping`, nothing
    /// waiting starts.
    pub fn next(&self, webhook: i64, now_ms: i64, stopping: bool) -> Next {
        let mut lanes = self.lock();
        let mut next = Next {
            ticket: None,
            expired: Vec::new(),
            freed: false,
        };
        let Some(lane) = lanes.get_mut(&webhook) else {
            return next;
        };
        while let Some(ticket) = lane.waiting.pop_front() {
            if stopping || ticket.start_by_ms < now_ms {
                next.expired.push(ticket);
            } else {
                next.ticket = Some(ticket);
                return next;
            }
        }
        next.freed = lane.sending >= self.per_webhook;
        lane.sending -= 1;
        if lane.sending == 0 {
            lanes.remove(&webhook);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::Semaphore;

    use super::*;
    use crate::domain::event::{EventKind, StoredEvent};

    fn ticket(id: i64, start_by_ms: i64, slots: &Arc<Semaphore>) -> Ticket {
        Ticket {
            delivery: Claimed {
                id,
                uuid: format!("u{id}"),
                origin_uuid: None,
                lease_owner: "w:1".into(),
                attempts: 0,
                kind: EventKind::Event,
                webhook: None,
                policy: None,
                event: StoredEvent {
                    id,
                    kind: EventKind::Event,
                    event: "request.create".into(),
                    object_id: id,
                    person_id: None,
                    person_name: None,
                    payload: serde_json::json!({}),
                    links: Default::default(),
                },
            },
            permit: slots.clone().try_acquire_owned().unwrap(),
            start_by_ms,
        }
    }

    #[test]
    fn a_webhook_gets_its_share_then_a_line_then_nothing() {
        let slots = Arc::new(Semaphore::new(10));
        let lanes = Lanes::new(2);
        assert!(matches!(
            lanes.admit(7, ticket(1, 100, &slots)),
            Admission::Send(_)
        ));
        assert!(matches!(
            lanes.admit(7, ticket(2, 100, &slots)),
            Admission::Send(_)
        ));
        assert_eq!(lanes.saturated(), vec![7]);
        assert!(matches!(
            lanes.admit(7, ticket(3, 100, &slots)),
            Admission::Queued
        ));
        assert!(matches!(
            lanes.admit(7, ticket(4, 100, &slots)),
            Admission::Queued
        ));
        let Admission::Full(full) = lanes.admit(7, ticket(5, 100, &slots)) else {
            panic!("the line holds 2");
        };
        drop(full);
        // Another webhook is not held up.
        assert!(matches!(
            lanes.admit(8, ticket(6, 100, &slots)),
            Admission::Send(_)
        ));
        // Waiting deliveries go out in order on the freed slots.
        let next = lanes.next(7, 50, false);
        assert_eq!(next.ticket.map(|t| t.delivery.id), Some(3));
        assert!(!next.freed);
        let next = lanes.next(7, 50, false);
        assert_eq!(next.ticket.map(|t| t.delivery.id), Some(4));
        let next = lanes.next(7, 50, false);
        assert!(next.ticket.is_none() && next.freed);
        assert!(lanes.saturated().is_empty());
        let next = lanes.next(7, 50, false);
        assert!(next.ticket.is_none() && !next.freed);
        // Every slot and permit came back.
        assert!(lanes.next(8, 50, false).ticket.is_none());
        assert_eq!(slots.available_permits(), 10);
        assert!(lanes.lock().is_empty());
    }

    #[test]
    fn waiting_deliveries_past_their_start_time_are_handed_back() {
        let slots = Arc::new(Semaphore::new(10));
        let lanes = Lanes::new(1);
        assert!(matches!(
            lanes.admit(7, ticket(1, 100, &slots)),
            Admission::Send(_)
        ));
        assert!(matches!(
            lanes.admit(7, ticket(2, 100, &slots)),
            Admission::Queued
        ));
        let next = lanes.next(7, 101, false);
        assert!(next.ticket.is_none());
        assert_eq!(
            next.expired
                .iter()
                .map(|t| t.delivery.id)
                .collect::<Vec<_>>(),
            [2]
        );
        assert!(next.freed);
        // Stopping: nothing waiting starts.
        assert!(matches!(
            lanes.admit(7, ticket(3, 100, &slots)),
            Admission::Send(_)
        ));
        assert!(matches!(
            lanes.admit(7, ticket(4, 100, &slots)),
            Admission::Queued
        ));
        let next = lanes.next(7, 0, true);
        assert!(next.ticket.is_none());
        assert_eq!(next.expired.len(), 1);
    }
}
