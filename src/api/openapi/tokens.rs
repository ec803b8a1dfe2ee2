//! The bodies of the API tokens and audit trail APIs as the document shows
//! them.

#![allow(dead_code)]

use utoipa::ToSchema;

use super::listed::listed_schema;

/// A person of the account, by id and name.
#[derive(ToSchema)]
pub struct PersonRef {
    id: i64,
    name: String,
}

/// What a token may do: `administrator` what a `publisher` may and more;
/// `member` nothing but authenticate.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum TokenRole {
    Administrator,
    Publisher,
    Member,
}

/// An API token of the account: never the token itself.
#[derive(ToSchema)]
#[schema(example = json!({
    "id": 7, "nodeID": "aGVyYWxkLnRlc3QvQXBpVG9rZW4vNw",
    "person": { "id": 3, "name": "Howard Tanner" }, "role": "publisher",
    "description": "deploy script", "created_at": "2026-12-07T10:00:00+00:00",
    "expires_at": "2027-03-07T10:00:00+00:00", "last_used_at": null
}))]
pub struct ApiToken {
    id: i64,
    #[serde(rename = "nodeID")]
    node_id: String,
    person: PersonRef,
    role: TokenRole,
    description: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    /// `null`: it never expires.
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    /// Noted at most once a minute.
    #[schema(format = DateTime)]
    last_used_at: Option<String>,
}

listed_schema!(
    ApiTokenListItem,
    ApiToken,
    "A token in a collection: `id`, `person`, `role`, `description`, `created_at`, `expires_at`, `last_used_at`, or the fields `?fields=` picks"
);

/// One change in the audit trail.
#[derive(ToSchema)]
#[schema(example = json!({
    "id": 41, "nodeID": "aGVyYWxkLnRlc3QvQXVkaXRFdmVudC80MQ",
    "created_at": "2026-12-07T10:00:00+00:00", "actor": "token", "token_id": 7,
    "person": { "id": 3, "name": "Howard Tanner" }, "client_ip": "203.0.113.7",
    "record_type": "webhook", "record_id": 12, "action": "update",
    "changes": { "uri": { "old": "https://a.example.com/", "new": "https://b.example.com/" } },
    "details": null
}))]
pub struct AuditEvent {
    id: i64,
    #[serde(rename = "nodeID")]
    node_id: String,
    #[schema(format = DateTime)]
    created_at: String,
    /// Who made the change: `token` (an API call), `anonymous` (the
    /// verification callback), `system` (Herald itself) or `command_line`.
    actor: String,
    token_id: Option<i64>,
    person: Option<PersonRef>,
    client_ip: Option<String>,
    /// The kind of record changed: `webhook`, `webhook_policy`,
    /// `webhook_delivery`, `api_token` or `person`.
    record_type: String,
    record_id: Option<i64>,
    /// What was done to it (`create`, `update`, `delete`, `enable`,
    /// `disable`, `verify`, `test`, `redeliver`, `recover`, `revoke`,
    /// `rotate`...).
    action: String,
    /// The fields changed, each as `{"old": …, "new": …}`; never a secret.
    #[schema(value_type = Option<Object>)]
    changes: Option<serde_json::Value>,
    /// More about the change (a reason, a count...).
    #[schema(value_type = Option<Object>)]
    details: Option<serde_json::Value>,
}

listed_schema!(
    AuditEventListItem,
    AuditEvent,
    "A change in a collection: every field but `nodeID`, or the fields `?fields=` picks"
);
