//! One attempt: checks the delivery may still go out, builds its message,
//! sends it, and classifies the answer (success, retry at, or given up).

use std::time::SystemTime;

use crate::config::Config;
use crate::delivery::sender::{Failure, Reply, Sender, status_text};
use crate::delivery::signing::Signer;
use crate::delivery::{answer, message};
use crate::domain::Webhook;
use crate::domain::delivery::{AttemptRecord, AttemptResult, Claimed, Trigger};
use crate::domain::event::EventKind;
use crate::domain::retry::parse_retry_after;
use crate::domain::time::now_millis;
use crate::telemetry::Outcome;

/// One attempt: send the message and judge the answer. With the result,
/// how the attempt ended (`None` when none was made).
pub(super) async fn attempt(
    sender: &Sender,
    signer: &Signer,
    config: &Config,
    delivery: &Claimed,
) -> (AttemptResult, Option<Outcome>) {
    let mut result = unattempted(delivery);
    let webhook = match recipient(delivery) {
        Ok(webhook) => webhook,
        Err(reason) => {
            result.error = Some(reason.into());
            return (result, None);
        }
    };
    result.attempted = true;
    let started_at = now_millis();
    let clock = std::time::Instant::now();
    let mut record = AttemptRecord {
        started_at,
        duration_ms: 0,
        response_status: None,
        response_headers: None,
        response_headers_truncated: false,
        response_body: None,
        response_truncated: false,
        error: None,
        remote_ip: None,
        trigger: Trigger::of(delivery.kind, delivery.origin_uuid.as_deref()),
    };
    let outcome = send(sender, signer, config, delivery, webhook, &mut result).await;
    record.duration_ms = clock.elapsed().as_millis() as i64;
    let (retry_after, outcome) = match outcome {
        Ok(reply) => {
            let outcome = Outcome::of_status(reply.status.as_u16());
            (judge(reply, &mut result, &mut record), outcome)
        }
        Err((reason, outcome)) => {
            result.error = Some(reason);
            (None, outcome)
        }
    };
    record.error = result.error.clone();
    result.record = Some(record);
    result.retry_at_ms = retry_at(config, delivery, &result, retry_after);
    (result, Some(outcome))
}

/// Builds the message (kept in `result`) and posts it: the receiver's
/// answer, or why none came and how that counts.
async fn send(
    sender: &Sender,
    signer: &Signer,
    config: &Config,
    delivery: &Claimed,
    webhook: &Webhook,
    result: &mut AttemptResult,
) -> Result<Reply, (String, Outcome)> {
    let outgoing =
        message::build(delivery, webhook, config, signer).map_err(|e| (e, Outcome::Other))?;
    result.message = Some(outgoing.message);
    sender
        .post(&webhook.uri, outgoing.headers, outgoing.body)
        .await
        .map_err(|failure| {
            let outcome = match failure {
                Failure::Refused(_) => Outcome::Refused,
                Failure::Timeout(_) => Outcome::Timeout,
                Failure::ConnectionRefused | Failure::Lookup(_) | Failure::Other(_) => {
                    Outcome::ConnectError
                }
            };
            (failure.describe(), outcome)
        })
}

/// The result of a delivery given up without an attempt, until one is made.
fn unattempted(delivery: &Claimed) -> AttemptResult {
    AttemptResult {
        delivery_id: delivery.id,
        lease_owner: delivery.lease_owner.clone(),
        webhook_id: delivery.webhook_id(),
        kind: delivery.kind,
        attempted: false,
        succeeded: false,
        retry_at_ms: None,
        error: None,
        gone: false,
        record: None,
        message: None,
    }
}

/// The webhook to send to, or why the delivery is given up unsent.
fn recipient(delivery: &Claimed) -> Result<&Webhook, &'static str> {
    match &delivery.webhook {
        None => Err("webhook deleted"),
        // Tests and verifications go to disabled webhooks too (§8).
        Some(webhook) if webhook.disabled && delivery.kind == EventKind::Event => {
            Err("webhook disabled")
        }
        // Its URI changed and is not verified yet: events wait for no one.
        Some(webhook) if !webhook.verified && delivery.kind == EventKind::Event => {
            Err("webhook not verified")
        }
        Some(webhook) => Ok(webhook),
    }
}

/// Notes the receiver's answer in the result and the record; returns the
/// wait its `Retry-After` asks for, on a 429 or 503.
fn judge(
    reply: Reply,
    result: &mut AttemptResult,
    record: &mut AttemptRecord,
) -> Option<std::time::Duration> {
    record.response_status = Some(i64::from(reply.status.as_u16()));
    let (headers, headers_truncated) = answer::stored_headers(&reply.headers);
    record.response_headers = Some(headers);
    record.response_headers_truncated = headers_truncated;
    let (body, body_truncated) = answer::stored_body(&reply.body);
    record.response_body = Some(body);
    record.response_truncated = reply.truncated || body_truncated;
    record.remote_ip = reply.remote.map(|addr| addr.ip().to_string());
    if reply.status.is_success() {
        result.succeeded = true;
        return None;
    }
    result.error = Some(status_text(reply.status));
    result.gone = reply.status == reqwest::StatusCode::GONE;
    if !matches!(reply.status.as_u16(), 429 | 503) {
        return None;
    }
    reply
        .headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

/// When to try a failed delivery again, or `None` when it is finished.
/// Test messages are tried once; a 410 ends the webhook's deliveries.
fn retry_at(
    config: &Config,
    delivery: &Claimed,
    result: &AttemptResult,
    retry_after: Option<std::time::Duration>,
) -> Option<i64> {
    if result.succeeded || delivery.kind == EventKind::Test || result.gone {
        return None;
    }
    let attempt_no = u32::try_from(delivery.attempts + 1).unwrap_or(u32::MAX);
    config
        .delivery
        .retry
        .delay_after(attempt_no, retry_after, &mut rand::thread_rng())
        .map(|delay| now_millis() + delay.as_millis() as i64)
}
