//! Deliveries: one message for one webhook about one event, and the outcome
//! of an attempt to send it (§9).

use std::sync::Arc;

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
    /// From the stored status, as filters see it too. (An in-flight
    /// delivery whose worker died shows `in_flight` until its lease runs out
    /// and another worker takes it.)
    pub fn from_stored(status: &str) -> DeliveryStatus {
        DeliveryStatus::parse(status).unwrap_or(DeliveryStatus::Pending)
    }

    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::InFlight,
            DeliveryStatus::Succeeded,
            DeliveryStatus::GivenUp,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    pub fn is_final(self) -> bool {
        matches!(self, DeliveryStatus::Succeeded | DeliveryStatus::GivenUp)
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

/// The lease of an offer: a publish stores up to `limit` of its new
/// deliveries already leased under it, for the engine that made the offer
/// to send without a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    /// Epoch milliseconds when it runs out.
    pub until_ms: i64,
    /// Most deliveries it takes.
    pub limit: usize,
    /// Webhooks whose new deliveries it does not take: they are at their
    /// limit. Those are queued, to be claimed when there is room.
    pub pass_over: Vec<i64>,
}

/// What one publish transaction stored.
#[derive(Clone, Debug, Default)]
pub struct PublishOutcome {
    /// One answer per request, one entry per event, in order.
    pub answers: Vec<Vec<super::event::Published>>,
    /// Deliveries stored already leased (to the [`Lease`] offered), in
    /// the order they were stored.
    pub leased: Vec<LeasedDelivery>,
    /// Deliveries stored pending, for any worker to claim.
    pub queued: usize,
}

/// A delivery a publish stored leased to the [`Lease`] it was offered,
/// with its event as stored: all its sender needs but its webhook, which
/// is read once it is dispatched. Built from what the publish wrote, so
/// the worker need not read the rows back.
#[derive(Clone, Debug)]
pub struct LeasedDelivery {
    pub id: i64,
    pub uuid: String,
    pub webhook_id: i64,
    /// Shared by the deliveries of one event.
    pub event: Arc<StoredEvent>,
}

/// A delivery leased to this engine, claimed or handed over, with all that
/// sending it takes.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub id: i64,
    pub uuid: String,
    pub origin_uuid: Option<String>,
    /// Its lease owner: the attempt is recorded only while this lease holds.
    pub lease_owner: String,
    /// Attempts made before this one.
    pub attempts: i64,
    pub kind: EventKind,
    /// `None` when the webhook was deleted meanwhile. Shared by the
    /// deliveries of one claim to the same webhook.
    pub webhook: Option<Arc<Webhook>>,
    /// The webhook's policy, when its messages are signed.
    pub policy: Option<Arc<PolicyKey>>,
    /// Shared by the deliveries of one claim of the same event.
    pub event: Arc<StoredEvent>,
}

impl Claimed {
    /// Its webhook's id, or 0 once the webhook was deleted (no webhook has
    /// that id): such deliveries share one lane and fail at once.
    pub fn webhook_id(&self) -> i64 {
        self.webhook.as_ref().map_or(0, |w| w.id)
    }
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
    /// What the attempt saw, when one was made.
    pub record: Option<AttemptRecord>,
    /// The unsigned body sent, kept as the delivery's message.
    pub message: Option<String>,
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
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub uuid: String,
    pub origin_uuid: Option<String>,
    pub webhook_id: i64,
    pub event_id: i64,
    pub event: String,
    pub object_id: i64,
    pub kind: EventKind,
    pub status: DeliveryStatus,
    pub attempts: i64,
    /// Epoch milliseconds.
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    /// The body as first sent (unsigned); `None` before the first attempt.
    pub message: Option<serde_json::Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Why an attempt was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Automatic,
    Test,
    Redelivery,
}

impl Trigger {
    pub fn of(kind: EventKind, origin_uuid: Option<&str>) -> Trigger {
        match (origin_uuid, kind) {
            (Some(_), _) => Trigger::Redelivery,
            (None, EventKind::Test) => Trigger::Test,
            (None, _) => Trigger::Automatic,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Automatic => "automatic",
            Trigger::Test => "test",
            Trigger::Redelivery => "redelivery",
        }
    }

    pub fn from_stored(text: &str) -> Trigger {
        match text {
            "test" => Trigger::Test,
            "redelivery" => Trigger::Redelivery,
            _ => Trigger::Automatic,
        }
    }
}

/// One attempt to send a delivery, as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptRecord {
    /// Epoch milliseconds.
    pub started_at: i64,
    pub duration_ms: i64,
    pub response_status: Option<i64>,
    /// A JSON object of the response headers.
    pub response_headers: Option<serde_json::Value>,
    /// Whether headers past the sender's caps were left out.
    pub response_headers_truncated: bool,
    /// At most 16 KiB, decoded as UTF-8 (invalid bytes replaced).
    pub response_body: Option<String>,
    pub response_truncated: bool,
    pub error: Option<String>,
    pub remote_ip: Option<String>,
    pub trigger: Trigger,
}

/// What a redelivery request found.
#[derive(Clone, Debug, PartialEq)]
pub enum Redelivery {
    Queued(Box<DeliveryRecord>),
    NotFound,
    /// Pending or in flight: it has not finished yet.
    NotFinished,
}

/// The filter that keeps one webhook's deliveries.
pub fn of_webhook(webhook_id: i64) -> super::list::Filter {
    super::list::Filter {
        field: super::list::ListField {
            name: "webhook_id",
            column: "webhook_id",
            kind: super::list::FieldKind::Id,
            case_insensitive: false,
        },
        conditions: vec![super::list::Condition::Eq(super::list::Value::Int(
            webhook_id,
        ))],
    }
}
