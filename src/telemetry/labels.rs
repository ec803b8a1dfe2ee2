//! The label sets of Herald's metrics: each a small, fixed set of values
//! (route templates, not paths; a webhook's id only when asked for), so
//! the number of series stays bounded.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

/// How one delivery attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The receiver answered 2xx: delivered.
    Success,
    Redirect,
    ClientError,
    ServerError,
    /// No answer within `--delivery-timeout`.
    Timeout,
    /// No answer: the name did not resolve, or the connection was refused,
    /// broke, or failed its TLS handshake.
    ConnectError,
    /// The SSRF guard refused the address.
    Refused,
    /// Anything else: an answer outside 2xx to 5xx, or a message that
    /// could not be built.
    Other,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Success,
        Outcome::Redirect,
        Outcome::ClientError,
        Outcome::ServerError,
        Outcome::Timeout,
        Outcome::ConnectError,
        Outcome::Refused,
        Outcome::Other,
    ];

    /// The outcome of an answer with `status`.
    pub fn of_status(status: u16) -> Outcome {
        match status {
            200..=299 => Outcome::Success,
            300..=399 => Outcome::Redirect,
            400..=499 => Outcome::ClientError,
            500..=599 => Outcome::ServerError,
            _ => Outcome::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "2xx",
            Outcome::Redirect => "3xx",
            Outcome::ClientError => "4xx",
            Outcome::ServerError => "5xx",
            Outcome::Timeout => "timeout",
            Outcome::ConnectError => "connect_error",
            Outcome::Refused => "refused",
            Outcome::Other => "other",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct OutcomeLabels {
    pub(super) outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct WebhookOutcomeLabels {
    pub(super) webhook_id: i64,
    pub(super) outcome: Outcome,
}

/// Why a webhook was disabled without anyone asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DisableReason {
    /// `--disable-after-failures` consecutive failed attempts.
    Failures,
    /// A `410 Gone`.
    Gone,
}

impl EncodeLabelValue for DisableReason {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        let text = match self {
            DisableReason::Failures => "failures",
            DisableReason::Gone => "gone",
        };
        std::fmt::Write::write_str(encoder, text)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct ReasonLabels {
    pub(super) reason: DisableReason,
}

/// How sending one failure or disable mail ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MailOutcome {
    Sent,
    Failed,
    /// Written to the log: no `--smtp-url`.
    Logged,
}

impl EncodeLabelValue for MailOutcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        let text = match self {
            MailOutcome::Sent => "sent",
            MailOutcome::Failed => "failed",
            MailOutcome::Logged => "logged",
        };
        std::fmt::Write::write_str(encoder, text)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct MailLabels {
    pub(super) outcome: MailOutcome,
}

/// One label, `status`, `state`, `pool`...: a fixed name given by Herald.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct StatusLabels {
    pub(super) status: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct StateLabels {
    pub(super) state: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct PoolLabels {
    pub(super) pool: &'static str,
    pub(super) state: &'static str,
}

/// An API request: its method, the template of the route it matched
/// (`/v1/webhooks/{id}`; `unmatched` for none) and the answer's status.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct HttpLabels {
    pub(super) method: &'static str,
    pub(super) route: String,
    pub(super) status: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct RouteLabels {
    pub(super) method: &'static str,
    pub(super) route: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct VersionLabels {
    pub(super) version: &'static str,
}
