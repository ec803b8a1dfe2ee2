//! Database rows and their conversion to domain types, shared by both backends.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::value::RawValue;

use crate::domain::delivery::{AttemptRecord, Claimed, DeliveryRecord, DeliveryStatus, Trigger};
use crate::domain::event::{EventKind, Links, NewEvent, StoredEvent};
use crate::domain::policy::PolicyKey;
use crate::domain::{AccountId, Attachment, Caller, EventName, Role, Webhook};

use super::StoreError;

mod policy;

pub use policy::{PolicyKeyRow, PolicyRow, RetiredKeyRow};

#[derive(sqlx::FromRow)]
pub struct WebhookRow {
    id: i64,
    account_id: String,
    name: String,
    event: String,
    uri: String,
    description: Option<String>,
    disabled: bool,
    mail_exceptions_to: Option<String>,
    source: String,
    source_id: Option<String>,
    webhook_policy_id: Option<i64>,
    webhook_policy_name: Option<String>,
    attachments: String,
    last_error: Option<String>,
    verified: bool,
    created_at: i64,
    updated_at: i64,
}

impl WebhookRow {
    pub fn into_domain(self) -> Result<Webhook, StoreError> {
        let attachments: Vec<Attachment> = serde_json::from_str(&self.attachments)
            .map_err(|e| StoreError::Corrupt(format!("webhook {} attachments: {e}", self.id)))?;
        Ok(Webhook {
            id: self.id,
            account: AccountId::from_trusted(self.account_id),
            name: self.name,
            event: EventName::from_trusted(self.event),
            uri: self.uri,
            description: self.description,
            disabled: self.disabled,
            mail_exceptions_to: self.mail_exceptions_to,
            source: self.source,
            source_id: self.source_id,
            webhook_policy_id: self.webhook_policy_id,
            webhook_policy_name: self.webhook_policy_name,
            attachments,
            last_error: self.last_error,
            verified: self.verified,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A webhook with its failure bookkeeping.
#[derive(sqlx::FromRow)]
pub struct WebhookFailureRow {
    #[sqlx(flatten)]
    webhook: WebhookRow,
    consecutive_failures: i64,
    last_failure_mail_at: Option<i64>,
}

impl WebhookFailureRow {
    pub fn into_parts(self) -> Result<(Webhook, i64, Option<i64>), StoreError> {
        Ok((
            self.webhook.into_domain()?,
            self.consecutive_failures,
            self.last_failure_mail_at,
        ))
    }
}

/// A token with its person's roles: the caller who uses it.
#[derive(sqlx::FromRow)]
pub struct CallerRow {
    /// The token's id.
    pub id: i64,
    person_id: i64,
    account_id: String,
    role: String,
    roles: String,
}

impl CallerRow {
    pub fn into_caller(self) -> Result<Caller, StoreError> {
        let role: Role = self
            .role
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("token {} role: {e}", self.id)))?;
        let account = AccountId::from_trusted(self.account_id);
        Ok(Caller::new(
            self.id,
            self.person_id,
            account,
            role,
            &self.roles,
        ))
    }
}

/// A leased delivery joined with its event.
#[derive(sqlx::FromRow)]
pub struct ClaimRow {
    id: i64,
    uuid: String,
    origin_uuid: Option<String>,
    lease_owner: String,
    attempts: i64,
    kind: String,
    pub webhook_id: i64,
    #[sqlx(flatten)]
    event: EventRow,
}

/// An event as its deliveries read it (`event_id` its id).
#[derive(sqlx::FromRow)]
pub struct EventRow {
    event_id: i64,
    event: String,
    object_id: i64,
    person_id: Option<i64>,
    person_name: Option<String>,
    payload: String,
    links: Option<String>,
    sealed_code: Option<Vec<u8>>,
    published_at_ms: Option<i64>,
}

impl ClaimRow {
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The leased delivery; its event is read once for all the deliveries
    /// of it in `events`.
    pub fn into_domain(
        self,
        webhook: Option<Arc<Webhook>>,
        policy: Option<Arc<PolicyKey>>,
        events: &mut HashMap<i64, Arc<StoredEvent>>,
    ) -> Result<Claimed, StoreError> {
        let kind = EventKind::from_stored(&self.kind);
        let event = match events.get(&self.event.event_id) {
            Some(event) => event.clone(),
            None => {
                let event = Arc::new(self.event.into_domain(kind)?);
                events.insert(event.id, event.clone());
                event
            }
        };
        Ok(Claimed {
            id: self.id,
            uuid: self.uuid,
            origin_uuid: self.origin_uuid,
            lease_owner: self.lease_owner,
            attempts: self.attempts,
            kind,
            webhook,
            policy,
            event,
        })
    }
}

impl EventRow {
    pub fn into_domain(self, kind: EventKind) -> Result<StoredEvent, StoreError> {
        let corrupt = |what: &str, e: serde_json::Error| {
            StoreError::Corrupt(format!("event {} {what}: {e}", self.event_id))
        };
        let payload = RawValue::from_string(self.payload).map_err(|e| corrupt("payload", e))?;
        let links = match &self.links {
            Some(text) => {
                Links::from_json(&serde_json::from_str(text).map_err(|e| corrupt("links", e))?)
            }
            None => Links::default(),
        };
        Ok(StoredEvent {
            id: self.event_id,
            kind,
            event: self.event,
            object_id: self.object_id,
            person_id: self.person_id,
            person_name: self.person_name,
            payload,
            links,
            sealed_code: self.sealed_code,
            published_at_ms: self.published_at_ms,
        })
    }
}

/// An event of kind `event` as a publish just stored it under `id`, its
/// payload as the text written (`payload`): what reading it back gives.
pub fn stored_event(
    id: i64,
    event: &NewEvent,
    payload: String,
    published_at_ms: i64,
) -> Result<StoredEvent, StoreError> {
    let payload = RawValue::from_string(payload)
        .map_err(|e| StoreError::Corrupt(format!("event {id} payload: {e}")))?;
    Ok(StoredEvent {
        id,
        kind: EventKind::Event,
        event: event.event.as_str().to_string(),
        object_id: event.object_id,
        person_id: event.person_id,
        person_name: event.person_name.clone(),
        payload,
        links: event.links.clone(),
        sealed_code: None,
        published_at_ms: Some(published_at_ms),
    })
}

#[derive(sqlx::FromRow)]
pub struct DeliveryRow {
    id: i64,
    uuid: String,
    origin_uuid: Option<String>,
    webhook_id: i64,
    event_id: i64,
    event: String,
    object_id: i64,
    kind: String,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    message: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl DeliveryRow {
    pub fn into_domain(self) -> Result<DeliveryRecord, StoreError> {
        let message =
            match &self.message {
                Some(text) => Some(serde_json::from_str(text).map_err(|e| {
                    StoreError::Corrupt(format!("delivery {} message: {e}", self.id))
                })?),
                None => None,
            };
        Ok(DeliveryRecord {
            status: DeliveryStatus::from_stored(&self.status),
            id: self.id,
            uuid: self.uuid,
            origin_uuid: self.origin_uuid,
            webhook_id: self.webhook_id,
            event_id: self.event_id,
            event: self.event,
            object_id: self.object_id,
            kind: EventKind::from_stored(&self.kind),
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at,
            last_error: self.last_error,
            message,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct AttemptRow {
    started_at: i64,
    duration_ms: i64,
    response_status: Option<i64>,
    response_headers: Option<String>,
    response_headers_truncated: bool,
    response_body: Option<String>,
    response_truncated: bool,
    error: Option<String>,
    remote_ip: Option<String>,
    trigger: String,
}

impl AttemptRow {
    pub fn into_domain(self) -> AttemptRecord {
        AttemptRecord {
            started_at: self.started_at,
            duration_ms: self.duration_ms,
            response_status: self.response_status,
            response_headers: self
                .response_headers
                .and_then(|h| serde_json::from_str(&h).ok()),
            response_headers_truncated: self.response_headers_truncated,
            response_body: self.response_body,
            response_truncated: self.response_truncated,
            error: self.error,
            remote_ip: self.remote_ip,
            trigger: Trigger::from_stored(&self.trigger),
        }
    }
}

pub fn attachments_json(attachments: &[Attachment]) -> String {
    serde_json::to_string(attachments).expect("attachments serialise")
}

/// The stored role list with `role` added; `member` adds nothing.
pub fn add_role(roles: &str, role: Role) -> String {
    let mut list: Vec<&str> = roles.split(',').filter(|r| !r.is_empty()).collect();
    if role != Role::Member && !list.contains(&role.as_str()) {
        list.push(role.as_str());
    }
    list.join(",")
}

/// Turns a unique-constraint violation into a typed conflict.
pub fn unique_violation(error: sqlx::Error, what: &'static str) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_accumulate_without_repeats() {
        assert_eq!(add_role("", Role::Administrator), "administrator");
        assert_eq!(
            add_role("administrator", Role::Administrator),
            "administrator"
        );
        assert_eq!(
            add_role("administrator", Role::Publisher),
            "administrator,publisher"
        );
        assert_eq!(add_role("publisher", Role::Member), "publisher");
    }
}
