//! Database rows and their conversion to domain types, shared by both backends.

use crate::domain::{AccountId, Attachment, EventName, Role, Webhook};

use super::StoreError;

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
            attachments,
            last_error: self.last_error,
            verified: self.verified,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
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
