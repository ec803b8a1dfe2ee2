//! Deliveries: one message for one webhook about one event, and the outcome
//! of an attempt to send it (§9).

use super::event::{EventKind, StoredEvent};
use super::policy::PolicyKey;
use super::webhook::Webhook;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or a retry.
    Pending,
    /// Leased by a worker that is sending it now.
    InFlight,
    Succeeded,
    /// Attempts exhausted, or its webhook disabled or deleted.
    GivenUp,
}

impl DeliveryStatus {
    /// From the stored status and lease: a pending delivery whose lease
    /// has not run out is in flight.
    pub fn from_stored(
        status: &str,
        leased: bool,
        next_attempt_at: i64,
        now_ms: i64,
    ) -> DeliveryStatus {
        match status {
            "succeeded" => DeliveryStatus::Succeeded,
            "given_up" => DeliveryStatus::GivenUp,
            _ if leased && next_attempt_at > now_ms => DeliveryStatus::InFlight,
            _ => DeliveryStatus::Pending,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::InFlight => "in_flight",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::GivenUp => "given_up",
        }
    }
}

/// A delivery a worker has leased, with what it needs to send it.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub id: i64,
    pub uuid: String,
    pub origin_uuid: Option<String>,
    /// The lease: only its holder may record the attempt.
    pub lease_owner: String,
    /// Attempts made before this one.
    pub attempts: i64,
    pub kind: EventKind,
    /// `None` when the webhook was deleted meanwhile.
    pub webhook: Option<Webhook>,
    /// The webhook's policy, when its messages are signed.
    pub policy: Option<PolicyKey>,
    pub event: StoredEvent,
}

/// What a finished attempt changes.
#[derive(Clone, Debug)]
pub struct AttemptResult {
    pub delivery_id: i64,
    pub lease_owner: String,
    pub webhook_id: i64,
    pub kind: EventKind,
    /// `false`: given up without sending (its webhook is disabled or gone);
    /// counts as no attempt.
    pub attempted: bool,
    pub succeeded: bool,
    /// `None` when the delivery is finished (succeeded or given up).
    pub retry_at_ms: Option<i64>,
    pub error: Option<String>,
    /// A `410 Gone`: disable the webhook at once.
    pub gone: bool,
}

/// What recording an attempt did to its webhook.
#[derive(Clone, Debug)]
pub struct WebhookEffects {
    pub webhook: Webhook,
    /// The webhook was disabled by this attempt.
    pub disabled_now: bool,
    /// A failure mail is due (the interval since the last one has passed).
    pub failure_mail_due: bool,
    /// Consecutive failed attempts, this one included.
    pub failures: i64,
}

/// Limits applied when recording failed attempts.
#[derive(Clone, Copy, Debug)]
pub struct FailurePolicy {
    pub disable_after_failures: i64,
    pub mail_interval_secs: i64,
}

/// A delivery as stored, for reading back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub uuid: String,
    pub origin_uuid: Option<String>,
    pub webhook_id: i64,
    pub event_id: i64,
    pub kind: EventKind,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}
