//! The audit trail: who changed which record, when and from where, and the
//! fields each change moved. Secrets (tokens, keys, policy secrets,
//! verification codes) are never among them.

use std::net::IpAddr;

use serde_json::{Map, Value, json};

use super::account::{AccountId, Caller, Role};
use super::policy::Policy;
use super::time::format_epoch;
use super::webhook::Webhook;

/// Who made a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActorKind {
    /// An API call with a token: its token, person and client address.
    Token,
    /// A call without a token (the verification callback): its address.
    Anonymous,
    /// Herald itself: the delivery engine disabling a failing webhook.
    System,
    /// An operator at the `herald` command line (token commands).
    CommandLine,
}

impl ActorKind {
    pub const ALL: [ActorKind; 4] = [
        ActorKind::Token,
        ActorKind::Anonymous,
        ActorKind::System,
        ActorKind::CommandLine,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Token => "token",
            ActorKind::Anonymous => "anonymous",
            ActorKind::System => "system",
            ActorKind::CommandLine => "command_line",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    pub token_id: Option<i64>,
    pub person_id: Option<i64>,
    /// `None` when there is no client (Herald itself, the command line) or
    /// its address is unknown.
    pub client_ip: Option<IpAddr>,
}

impl Actor {
    /// A caller of the API, from `client_ip`.
    pub fn token(caller: &Caller, client_ip: IpAddr) -> Actor {
        Actor {
            kind: ActorKind::Token,
            token_id: Some(caller.token_id),
            person_id: Some(caller.person_id),
            client_ip: known(client_ip),
        }
    }

    /// A caller without a token, from `client_ip`.
    pub fn anonymous(client_ip: IpAddr) -> Actor {
        Actor {
            kind: ActorKind::Anonymous,
            token_id: None,
            person_id: None,
            client_ip: known(client_ip),
        }
    }

    pub fn system() -> Actor {
        Actor {
            kind: ActorKind::System,
            token_id: None,
            person_id: None,
            client_ip: None,
        }
    }

    pub fn command_line() -> Actor {
        Actor {
            kind: ActorKind::CommandLine,
            token_id: None,
            person_id: None,
            client_ip: None,
        }
    }
}

/// The unspecified address stands for "no socket" (in-process requests).
fn known(ip: IpAddr) -> Option<IpAddr> {
    (!ip.is_unspecified()).then_some(ip)
}

/// The kind of record a change was made to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordType {
    Webhook,
    WebhookPolicy,
    WebhookDelivery,
    ApiToken,
    Person,
    /// A session of the web console: signing in and out.
    ConsoleSession,
}

impl RecordType {
    pub const ALL: [RecordType; 6] = [
        RecordType::Webhook,
        RecordType::WebhookPolicy,
        RecordType::WebhookDelivery,
        RecordType::ApiToken,
        RecordType::Person,
        RecordType::ConsoleSession,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Webhook => "webhook",
            RecordType::WebhookPolicy => "webhook_policy",
            RecordType::WebhookDelivery => "webhook_delivery",
            RecordType::ApiToken => "api_token",
            RecordType::Person => "person",
            RecordType::ConsoleSession => "console_session",
        }
    }
}

/// What was done to the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
    Enable,
    Disable,
    Verify,
    Test,
    Redeliver,
    Recover,
    Revoke,
    Rotate,
    SignIn,
    SignOut,
}

impl Action {
    pub const ALL: [Action; 13] = [
        Action::Create,
        Action::Update,
        Action::Delete,
        Action::Enable,
        Action::Disable,
        Action::Verify,
        Action::Test,
        Action::Redeliver,
        Action::Recover,
        Action::Revoke,
        Action::Rotate,
        Action::SignIn,
        Action::SignOut,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Enable => "enable",
            Action::Disable => "disable",
            Action::Verify => "verify",
            Action::Test => "test",
            Action::Redeliver => "redeliver",
            Action::Recover => "recover",
            Action::Revoke => "revoke",
            Action::Rotate => "rotate",
            Action::SignIn => "sign_in",
            Action::SignOut => "sign_out",
        }
    }
}

/// One field a change moved.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub field: &'static str,
    pub old: Value,
    pub new: Value,
}

/// One change to record.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    pub record_type: RecordType,
    pub record_id: i64,
    pub action: Action,
    pub changes: Vec<Change>,
    /// What the action took or made (a recovery's window, the id of a
    /// redelivery...), when it is not a field of the record.
    pub details: Option<Value>,
}

impl AuditEntry {
    pub fn new(record_type: RecordType, record_id: i64, action: Action) -> AuditEntry {
        AuditEntry {
            record_type,
            record_id,
            action,
            changes: Vec::new(),
            details: None,
        }
    }

    pub fn with_changes(self, changes: Vec<Change>) -> AuditEntry {
        AuditEntry { changes, ..self }
    }

    pub fn with_details(self, details: Value) -> AuditEntry {
        AuditEntry {
            details: Some(details),
            ..self
        }
    }

    /// `{"field": {"old": …, "new": …}, …}`.
    pub fn changes_json(&self) -> Value {
        let map: Map<String, Value> = self
            .changes
            .iter()
            .map(|c| (c.field.to_string(), json!({ "old": c.old, "new": c.new })))
            .collect();
        Value::Object(map)
    }
}

/// A record's fields as the audit trail shows them, by the API's names.
pub type Fields = Vec<(&'static str, Value)>;

/// The fields of a record made: each one set, from nothing.
pub fn created(fields: Fields) -> Vec<Change> {
    fields
        .into_iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(field, new)| Change {
            field,
            old: Value::Null,
            new,
        })
        .collect()
}

/// The fields of a record deleted: each one it had, to nothing.
pub fn deleted(fields: Fields) -> Vec<Change> {
    fields
        .into_iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(field, old)| Change {
            field,
            old,
            new: Value::Null,
        })
        .collect()
}

/// The fields that differ between two versions of a record (both listing
/// the same fields in the same order).
pub fn diff(before: Fields, after: Fields) -> Vec<Change> {
    before
        .into_iter()
        .zip(after)
        .filter(|((_, old), (_, new))| old != new)
        .map(|((field, old), (_, new))| Change { field, old, new })
        .collect()
}

/// `disable` or `enable` when the change flips `disabled`, else `update`.
pub fn update_action(changes: &[Change]) -> Action {
    match changes.iter().find(|c| c.field == "disabled") {
        Some(change) if change.new == Value::Bool(true) => Action::Disable,
        Some(_) => Action::Enable,
        None => Action::Update,
    }
}

/// The fields of a webhook a client sets (readonly ones, such as
/// `verified` and `last_error`, are left out: they are not changes of a
/// person's).
pub fn webhook_fields(hook: &Webhook) -> Fields {
    vec![
        ("name", json!(hook.name)),
        ("event", json!(hook.event.as_str())),
        ("uri", json!(hook.uri)),
        ("description", json!(hook.description)),
        ("disabled", json!(hook.disabled)),
        ("mail_exceptions_to", json!(hook.mail_exceptions_to)),
        ("source", json!(hook.source)),
        ("sourceID", json!(hook.source_id)),
        ("webhook_policy_id", json!(hook.webhook_policy_id)),
        ("attachments", json!(hook.attachments)),
    ]
}

/// The fields of a policy; never its key or secret.
pub fn policy_fields(policy: &Policy) -> Fields {
    vec![
        ("name", json!(policy.name)),
        ("disabled", json!(policy.disabled)),
        ("jwt_alg", json!(policy.jwt_alg.as_str())),
        ("jwt_audience", json!(policy.jwt_audience)),
        ("jwt_claim_expires_in", json!(policy.jwt_claim_expires_in)),
        ("signature_scheme", json!(policy.signature_scheme.as_str())),
        (
            "openid_connect_discovery",
            json!(policy.openid_connect_discovery),
        ),
    ]
}

/// The fields of an API token; never its secret or hash. Times as the
/// API shows them.
pub fn token_fields(
    person_id: i64,
    role: Role,
    description: Option<&str>,
    expires_at: Option<i64>,
) -> Fields {
    vec![
        ("person_id", json!(person_id)),
        ("role", json!(role.as_str())),
        ("description", json!(description)),
        ("expires_at", json!(expires_at.map(format_epoch))),
    ]
}

/// A change of the audit trail as stored and shown.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    pub id: i64,
    pub account: AccountId,
    pub actor: String,
    pub token_id: Option<i64>,
    pub person_id: Option<i64>,
    pub person_name: Option<String>,
    pub client_ip: Option<String>,
    pub record_type: String,
    pub record_id: i64,
    pub action: String,
    pub changes: Value,
    pub details: Option<Value>,
    pub created_at: i64,
}

#[cfg(test)]
mod tests;
