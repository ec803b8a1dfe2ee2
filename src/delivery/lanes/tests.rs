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
            event: Arc::new(StoredEvent::for_tests(id)),
        },
        permit: slots.clone().try_acquire_owned().unwrap(),
        start_by_ms,
    }
}

#[test]
fn a_webhook_gets_its_share_then_a_line_then_nothing() {
    let slots = Arc::new(Semaphore::new(10));
    let lanes = Lanes::new(2, 100);
    assert!(matches!(
        lanes.admit(7, ticket(1, 100, &slots), 0),
        Admission::Send(_)
    ));
    assert!(matches!(
        lanes.admit(7, ticket(2, 100, &slots), 0),
        Admission::Send(_)
    ));
    assert_eq!(lanes.saturated(), vec![7]);
    assert!(matches!(
        lanes.admit(7, ticket(3, 100, &slots), 0),
        Admission::Waiting
    ));
    assert!(matches!(
        lanes.admit(7, ticket(4, 100, &slots), 0),
        Admission::Waiting
    ));
    let Admission::Full(full) = lanes.admit(7, ticket(5, 100, &slots), 0) else {
        panic!("the line holds 2");
    };
    drop(full);
    // Another webhook is not held up.
    assert!(matches!(
        lanes.admit(8, ticket(6, 100, &slots), 0),
        Admission::Send(_)
    ));
    // Waiting deliveries go out in order on the freed slots.
    let next = lanes.next(7, 100, Some(false), 50, false);
    assert_eq!(next.ticket.map(|t| t.delivery.id), Some(3));
    assert!(!next.freed);
    let next = lanes.next(7, 100, Some(false), 50, false);
    assert_eq!(next.ticket.map(|t| t.delivery.id), Some(4));
    let next = lanes.next(7, 100, Some(false), 50, false);
    assert!(next.ticket.is_none() && next.freed);
    assert!(lanes.saturated().is_empty());
    let next = lanes.next(7, 100, Some(false), 50, false);
    assert!(next.ticket.is_none() && !next.freed);
    // Every slot and permit came back.
    assert!(lanes.next(8, 100, Some(false), 50, false).ticket.is_none());
    assert_eq!(slots.available_permits(), 10);
    assert!(lanes.lock().lanes.is_empty());
}

#[test]
fn waiting_deliveries_past_their_start_time_are_handed_back() {
    let slots = Arc::new(Semaphore::new(10));
    let lanes = Lanes::new(1, 100);
    assert!(matches!(
        lanes.admit(7, ticket(1, 100, &slots), 0),
        Admission::Send(_)
    ));
    assert!(matches!(
        lanes.admit(7, ticket(2, 100, &slots), 0),
        Admission::Waiting
    ));
    let next = lanes.next(7, 100, Some(false), 101, false);
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
        lanes.admit(7, ticket(3, 100, &slots), 0),
        Admission::Send(_)
    ));
    assert!(matches!(
        lanes.admit(7, ticket(4, 100, &slots), 0),
        Admission::Waiting
    ));
    let next = lanes.next(7, 100, Some(false), 0, true);
    assert!(next.ticket.is_none());
    assert_eq!(next.expired.len(), 1);
}

#[test]
fn a_fast_webhook_gets_a_longer_line() {
    let slots = Arc::new(Semaphore::new(100));
    let lanes = Lanes::new(1, 100);
    assert!(matches!(
        lanes.admit(7, ticket(1, 100, &slots), 0),
        Admission::Send(_)
    ));
    assert!(matches!(
        lanes.admit(7, ticket(2, 100, &slots), 0),
        Admission::Waiting
    ));
    // Unknown pace: the timeout is assumed, one round fits, the line is full.
    assert!(matches!(
        lanes.admit(7, ticket(3, 100, &slots), 0),
        Admission::Full(_)
    ));
    // Attempts of 10 ms: ten rounds fit before the start deadline.
    let next = lanes.next(7, 10, Some(false), 0, false);
    assert_eq!(next.ticket.map(|t| t.delivery.id), Some(2));
    for id in 4..14 {
        assert!(
            matches!(
                lanes.admit(7, ticket(id, 100, &slots), 0),
                Admission::Waiting
            ),
            "{id}"
        );
    }
    assert!(matches!(
        lanes.admit(7, ticket(14, 100, &slots), 0),
        Admission::Full(_)
    ));
}

#[test]
fn an_attempt_never_sent_leaves_the_pace_alone() {
    let lanes = Lanes::new(4, 100);
    lanes.next(9, 0, None, 0, false);
    assert_eq!(lanes.pace_ms(9), None, "nothing was seen of webhook 9");
    lanes.next(7, 40, Some(false), 0, false);
    assert_eq!(lanes.pace_ms(7), Some(40));
    for _ in 0..5 {
        lanes.next(7, 0, None, 0, false);
    }
    assert_eq!(lanes.pace_ms(7), Some(40), "unsent attempts took no time");
    lanes.next(7, 90, Some(false), 0, false);
    assert_eq!(lanes.pace_ms(7), Some(50), "a sent one moves it a fifth");
}

/// Webhook 7's deliveries `ids`, each on a slot of its own.
fn sent(lanes: &Lanes, ids: std::ops::RangeInclusive<i64>, slots: &Arc<Semaphore>) -> Vec<Ticket> {
    ids.map(|id| match lanes.admit(7, ticket(id, 100, slots), 0) {
        Admission::Send(ticket) => ticket,
        _ => panic!("no slot for {id}"),
    })
    .collect()
}

#[test]
fn a_failing_webhook_gets_an_eighth_of_its_slots_until_an_attempt_succeeds() {
    let slots = Arc::new(Semaphore::new(40));
    let lanes = Lanes::new(16, 100);
    let _sending = sent(&lanes, 1..=16, &slots);
    // Two failures in a row: still 16 slots.
    for _ in 0..2 {
        assert!(lanes.next(7, 100, Some(true), 0, false).ticket.is_none());
    }
    assert!(lanes.saturated().is_empty());
    // The third: 2 slots from now on; 13 are still in flight.
    assert!(lanes.next(7, 100, Some(true), 0, false).ticket.is_none());
    assert_eq!(lanes.saturated(), vec![7]);
    // Its line: what 2 slots start in one round at its pace.
    assert!(matches!(
        lanes.admit(7, ticket(17, 100, &slots), 0),
        Admission::Waiting
    ));
    assert!(matches!(
        lanes.admit(7, ticket(18, 100, &slots), 0),
        Admission::Waiting
    ));
    assert!(matches!(
        lanes.admit(7, ticket(19, 100, &slots), 0),
        Admission::Full(_)
    ));
    // The line moves only once 2 are left in flight; claims are not
    // woken meanwhile.
    for _ in 0..11 {
        let next = lanes.next(7, 100, Some(true), 0, false);
        assert!(next.ticket.is_none() && !next.freed);
    }
    let next = lanes.next(7, 100, Some(true), 0, false);
    assert_eq!(next.ticket.map(|t| t.delivery.id), Some(17));
    // An attempt succeeded: all 16 slots again, and claims are woken
    // to fill them.
    let next = lanes.next(7, 100, Some(false), 0, false);
    assert_eq!(next.ticket.map(|t| t.delivery.id), Some(18));
    assert!(next.freed);
    assert!(lanes.saturated().is_empty());
    assert!(matches!(
        lanes.admit(7, ticket(20, 100, &slots), 0),
        Admission::Send(_)
    ));
}

/// The delivery timeout, and the shortest wait deferred, of the
/// deferral tests.
const TIMEOUT: std::time::Duration = std::time::Duration::from_millis(2_000);
const AT_LEAST: std::time::Duration = std::time::Duration::from_millis(50);

#[test]
fn a_failing_webhook_at_its_limit_is_deferred_once_per_attempt_time() {
    let slots = Arc::new(Semaphore::new(40));
    let lanes = Lanes::new(16, 100);
    let _sending = sent(&lanes, 1..=16, &slots);
    // At its limit but not failing: its rows are not moved.
    assert!(lanes.to_defer(TIMEOUT, AT_LEAST, 0).is_empty());
    // Three attempts timed out (2 s each): failing, 13 in flight.
    for _ in 0..3 {
        lanes.next(7, 2_000, Some(true), 0, false);
    }
    assert_eq!(lanes.to_defer(TIMEOUT, AT_LEAST, 10), [(7, 2_010)]);
    // Not again before then, nor while that deferral is being written;
    // again after both.
    assert!(lanes.to_defer(TIMEOUT, AT_LEAST, 2_009).is_empty());
    assert!(lanes.to_defer(TIMEOUT, AT_LEAST, 2_010).is_empty());
    lanes.deferred(7);
    assert!(lanes.to_defer(TIMEOUT, AT_LEAST, 2_009).is_empty());
    assert_eq!(lanes.to_defer(TIMEOUT, AT_LEAST, 2_010), [(7, 4_010)]);
    lanes.deferred(7);
    // Its attempts take longer than the timeout allows: the timeout.
    lanes.next(7, 10_000, Some(true), 0, false);
    assert_eq!(lanes.to_defer(TIMEOUT, AT_LEAST, 4_010), [(7, 6_010)]);
    // A webhook that fails within `at_least` has room again too soon.
    let fast = Lanes::new(16, 100);
    let _sending = sent(&fast, 1..=16, &slots);
    for _ in 0..3 {
        fast.next(7, 40, Some(true), 0, false);
    }
    assert_eq!(fast.saturated(), [7]);
    assert!(fast.to_defer(TIMEOUT, AT_LEAST, 0).is_empty());
}

#[test]
fn a_failing_webhook_with_room_is_not_deferred() {
    let slots = Arc::new(Semaphore::new(40));
    let lanes = Lanes::new(16, 100);
    let _sending = sent(&lanes, 1..=4, &slots);
    // Failing (limit 2) with 1 attempt left in flight: it has room.
    for _ in 0..3 {
        lanes.next(7, 2_000, Some(true), 0, false);
    }
    assert!(lanes.saturated().is_empty());
    assert!(lanes.to_defer(TIMEOUT, AT_LEAST, 0).is_empty());
    // Its last attempt ended: no lane, nothing to defer.
    lanes.next(7, 2_000, Some(true), 0, false);
    assert!(lanes.to_defer(TIMEOUT, AT_LEAST, 0).is_empty());
}

#[test]
fn over_its_limit_a_lane_still_hands_back_what_cannot_start() {
    let slots = Arc::new(Semaphore::new(20));
    let lanes = Lanes::new(8, 100);
    let _sending = sent(&lanes, 1..=8, &slots);
    for _ in 0..3 {
        assert!(lanes.next(7, 100, Some(true), 0, false).ticket.is_none());
    }
    // Failing: 1 slot, 5 still in flight, a line of 1.
    assert!(matches!(
        lanes.admit(7, ticket(9, 100, &slots), 0),
        Admission::Waiting
    ));
    // Stopping: the waiting one goes back at once, over the limit too.
    let next = lanes.next(7, 100, Some(true), 0, true);
    assert!(next.ticket.is_none() && next.freed);
    assert_eq!(
        next.expired
            .iter()
            .map(|t| t.delivery.id)
            .collect::<Vec<_>>(),
        [9]
    );
}
