//! Per-webhook lanes: at most `per_webhook` attempts in flight to one
//! webhook (an eighth of that while its attempts keep failing), and a line of
//! leased deliveries waiting behind them no longer than those slots can
//! start within the lease, so a slow or failing receiver holds a bounded
//! share of the engine's slots while a fast one is not held back.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::OwnedSemaphorePermit;

use crate::domain::delivery::Claimed;

/// A leased delivery with its engine slot, and the latest time it may
/// still start (so its attempt and recording end within the lease).
pub struct Ticket {
    pub delivery: Claimed,
    pub permit: OwnedSemaphorePermit,
    pub start_by_ms: i64,
}

/// What becomes of a leased delivery.
pub enum Admission {
    /// Send it now, on a new lane task.
    Send(Ticket),
    /// It waits in its webhook's line; the lane's task will send it.
    Waiting,
    /// The webhook's line is full: hand the lease back.
    Full(Ticket),
}

#[derive(Default)]
struct Lane {
    sending: usize,
    waiting: VecDeque<Ticket>,
}

impl Lane {
    /// Every one of its `limit` slots is taken or deliveries wait: claims
    /// skip the webhook.
    fn saturated(&self, limit: usize) -> bool {
        self.sending >= limit || !self.waiting.is_empty()
    }
}

/// Consecutive failed attempts after which a webhook gets
/// [`Lanes::per_failing_webhook`] slots: a receiver that fails now and then
/// keeps all of its own.
const FAILING_AFTER: u32 = 3;

/// What the lanes learnt of a webhook from its attempts.
struct Seen {
    /// Its typical attempt time in ms (a moving average).
    pace_ms: f64,
    /// Its attempts that failed since the last that succeeded.
    failures: u32,
}

struct Deferral {
    until_ms: i64,
    writing: bool,
}

#[derive(Default)]
struct State {
    lanes: HashMap<i64, Lane>,
    seen: HashMap<i64, Seen>,
    /// Failing webhooks whose queued deliveries were deferred: until when,
    /// and whether that is still being written.
    deferred: HashMap<i64, Deferral>,
}

pub struct Lanes {
    per_webhook: usize,
    /// Attempts in flight to a webhook whose last [`FAILING_AFTER`] attempts
    /// failed: a receiver that times out or errs is probed by a few, and
    /// holds few of the engine's slots, until an attempt succeeds again.
    per_failing_webhook: usize,
    /// Assumed attempt time of a webhook not seen yet (the timeout).
    unknown_ms: f64,
    state: Mutex<State>,
}

/// What a lane task does after an attempt.
pub struct Next {
    /// The next delivery of the same webhook, if one waits.
    pub ticket: Option<Ticket>,
    /// Waiting deliveries that can no longer start within their lease.
    pub expired: Vec<Ticket>,
    /// The webhook was skipped by claims and now has a slot free: claims
    /// should look again.
    pub freed: bool,
}

impl Lanes {
    /// `unknown_ms`: the attempt time assumed for a webhook not seen yet;
    /// the delivery timeout is the safe guess.
    pub fn new(per_webhook: usize, unknown_ms: u64) -> Lanes {
        let per_webhook = per_webhook.max(1);
        Lanes {
            per_webhook,
            per_failing_webhook: (per_webhook / 8).max(1),
            unknown_ms: unknown_ms.max(1) as f64,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The maps hold no invariant a panic could break halfway.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many attempts may be in flight to a webhook seen as `seen`.
    fn limit(&self, seen: Option<&Seen>) -> usize {
        if seen.is_some_and(|s| s.failures >= FAILING_AFTER) {
            self.per_failing_webhook
        } else {
            self.per_webhook
        }
    }

    /// Webhooks with every slot taken or deliveries waiting: the next claim
    /// skips them (more would only wait, or be handed back).
    pub fn saturated(&self) -> Vec<i64> {
        let state = self.lock();
        state
            .lanes
            .iter()
            .filter(|(id, lane)| lane.saturated(self.limit(state.seen.get(id))))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Failing webhooks at their limit whose queued deliveries claims would
    /// pass over, each with when it likely has a slot free again
    /// ([`Self::wait_ms`]). A webhook is named again only once that time has
    /// passed and the last deferral was written ([`Self::deferred`]); none
    /// whose wait is under `at_least`, where moving its rows would cost
    /// more than passing over them.
    pub fn to_defer(
        &self,
        timeout: std::time::Duration,
        at_least: std::time::Duration,
        now_ms: i64,
    ) -> Vec<(i64, i64)> {
        let mut state = self.lock();
        let State {
            lanes,
            seen,
            deferred,
        } = &mut *state;
        deferred.retain(|_, d| d.writing || d.until_ms > now_ms);
        let at_least = at_least.as_millis() as i64;
        let mut due = Vec::new();
        for (id, lane) in lanes.iter() {
            let Some(seen) = seen.get(id).filter(|s| s.failures >= FAILING_AFTER) else {
                continue;
            };
            let wait = Self::wait_ms(Some(seen), timeout);
            if wait < at_least
                || !lane.saturated(self.per_failing_webhook)
                || deferred.contains_key(id)
            {
                continue;
            }
            let until_ms = now_ms + wait;
            deferred.insert(
                *id,
                Deferral {
                    until_ms,
                    writing: true,
                },
            );
            due.push((*id, until_ms));
        }
        due
    }

    /// The deferral [`Self::to_defer`] named for `webhook` is written (or
    /// failed): the webhook may be named again once its time has passed.
    pub fn deferred(&self, webhook: i64) {
        if let Some(deferral) = self.lock().deferred.get_mut(&webhook) {
            deferral.writing = false;
        }
    }

    /// How long until a webhook seen as `seen` likely has a slot free:
    /// about one of its attempts, at most `timeout` (0 if none was seen).
    fn wait_ms(seen: Option<&Seen>, timeout: std::time::Duration) -> i64 {
        seen.map_or(0, |s| s.pace_ms as i64)
            .min(timeout.as_millis() as i64)
    }

    /// The webhook's usual attempt time in ms, once one was seen.
    pub fn pace_ms(&self, webhook: i64) -> Option<i64> {
        self.lock()
            .seen
            .get(&webhook)
            .map(|seen| seen.pace_ms as i64)
    }

    /// When deliveries handed back for `webhook` should fall due again:
    /// after about one of its attempts (at most `timeout`), when a slot is
    /// likely free, so claims meanwhile need not pass over them.
    pub fn hand_back_due(&self, webhook: i64, timeout: std::time::Duration, now_ms: i64) -> i64 {
        now_ms + Self::wait_ms(self.lock().seen.get(&webhook), timeout)
    }

    /// Takes a slot of `webhook` for the ticket, or a place in its line if
    /// its slots, at the webhook's usual pace, can start it in time.
    pub fn admit(&self, webhook: i64, ticket: Ticket, now_ms: i64) -> Admission {
        let mut state = self.lock();
        let seen = state.seen.get(&webhook);
        let pace = seen.map_or(self.unknown_ms, |s| s.pace_ms).max(1.0);
        let limit = self.limit(seen);
        let rounds = ((ticket.start_by_ms - now_ms) as f64 / pace)
            .floor()
            .max(1.0);
        // `as` saturates: a very fast webhook gets a line as long as wanted.
        let line = (limit as f64 * rounds) as usize;
        let lane = state.lanes.entry(webhook).or_default();
        if lane.sending < limit {
            lane.sending += 1;
            Admission::Send(ticket)
        } else if lane.waiting.len() < line {
            lane.waiting.push_back(ticket);
            Admission::Waiting
        } else {
            Admission::Full(ticket)
        }
    }

    /// After an attempt to `webhook` that took `took_ms` and `failed` (or
    /// `None`: nothing was sent): the next waiting delivery to send on the
    /// same slot, or the slot is given up. With `stopping`, nothing waiting
    /// starts.
    pub fn next(
        &self,
        webhook: i64,
        took_ms: i64,
        failed: Option<bool>,
        now_ms: i64,
        stopping: bool,
    ) -> Next {
        let mut state = self.lock();
        let before = self.limit(state.seen.get(&webhook));
        // Only an attempt that was sent says how fast the receiver is and
        // whether it fails; one that was not (webhook deleted, disabled or
        // not verified) took no time and would pull the pace toward zero.
        if let Some(failed) = failed {
            let took = took_ms.max(0) as f64;
            let seen = state
                .seen
                .entry(webhook)
                .and_modify(|s| s.pace_ms = 0.8 * s.pace_ms + 0.2 * took)
                .or_insert(Seen {
                    pace_ms: took,
                    failures: 0,
                });
            seen.failures = if failed {
                seen.failures.saturating_add(1)
            } else {
                0
            };
        }
        let limit = self.limit(state.seen.get(&webhook));
        let mut next = Next {
            ticket: None,
            expired: Vec::new(),
            freed: false,
        };
        let lanes = &mut state.lanes;
        let Some(lane) = lanes.get_mut(&webhook) else {
            return next;
        };
        let was_saturated = lane.saturated(before);
        // Stale deliveries go back; the next one goes out on this slot,
        // unless the webhook is over its limit (its attempts began
        // failing): then the slot is given up and the line waits for the
        // others.
        while let Some(ticket) = lane.waiting.pop_front() {
            if stopping || ticket.start_by_ms < now_ms {
                next.expired.push(ticket);
            } else if lane.sending <= limit {
                next.ticket = Some(ticket);
                break;
            } else {
                lane.waiting.push_front(ticket);
                break;
            }
        }
        if next.ticket.is_none() {
            lane.sending -= 1;
        }
        let saturated = lane.saturated(limit);
        // Claims skipped the webhook until now, or what went back is due.
        next.freed = (was_saturated && !saturated) || !next.expired.is_empty();
        if lane.sending == 0 {
            lanes.remove(&webhook);
        }
        next
    }
}

#[cfg(test)]
mod tests;
