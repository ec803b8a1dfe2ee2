//! What an attempt tells the operators: a `warn` line when it failed (none
//! when it succeeded: a busy Herald would write one per delivery), and the
//! metrics of its outcome.

use std::time::Duration;

use crate::domain::delivery::{AttemptResult, Claimed};
use crate::domain::event::EventKind;
use crate::domain::time::now_millis;
use crate::telemetry::{Metrics, Outcome};

/// Logs and counts one attempt's result; `outcome` is `None` when the
/// delivery was given up without an attempt.
pub(super) fn observe(
    metrics: &Metrics,
    delivery: &Claimed,
    result: &AttemptResult,
    outcome: Option<Outcome>,
    took_ms: i64,
) {
    let finished = result.retry_at_ms.is_none();
    if let Some(outcome) = outcome {
        let took = Duration::from_millis(took_ms.max(0).unsigned_abs());
        metrics.attempted(result.webhook_id, outcome, took);
        if !result.succeeded {
            warn_failed(delivery, result, outcome);
        }
    } else {
        tracing::debug!(
            webhook_id = result.webhook_id,
            delivery_id = result.delivery_id,
            reason = result.error.as_deref().unwrap_or_default(),
            "delivery given up without an attempt"
        );
    }
    if result.succeeded {
        if let Some(published) = first_event_delivery(delivery) {
            let latency = (now_millis() - published).max(0).unsigned_abs();
            metrics.delivered(Duration::from_millis(latency));
        }
    } else if finished {
        metrics.given_up();
    } else {
        metrics.retry_scheduled();
    }
}

/// One line per failed attempt: which webhook and delivery, the error (the
/// `last_error` text, which holds no message, code or secret), and what
/// happens next.
fn warn_failed(delivery: &Claimed, result: &AttemptResult, outcome: Outcome) {
    let error = result.error.as_deref().unwrap_or_default();
    let attempt = delivery.attempts + 1;
    let kind = delivery.kind.as_str();
    match result.retry_at_ms {
        Some(at) => tracing::warn!(
            webhook_id = result.webhook_id,
            delivery_id = result.delivery_id,
            kind,
            attempt,
            outcome = outcome.as_str(),
            error,
            retry_in_ms = (at - now_millis()).max(0),
            "delivery attempt failed; retrying"
        ),
        None => tracing::warn!(
            webhook_id = result.webhook_id,
            delivery_id = result.delivery_id,
            kind,
            attempt,
            outcome = outcome.as_str(),
            error,
            "delivery attempt failed; given up"
        ),
    }
}

/// When the event of a first delivery of an event (not a test, a
/// verification or a redelivery) was published.
fn first_event_delivery(delivery: &Claimed) -> Option<i64> {
    let first = delivery.kind == EventKind::Event && delivery.origin_uuid.is_none();
    first.then_some(delivery.event.published_at_ms).flatten()
}
