//! The bodies of the Webhooks API (§4) as the document shows them.

#![allow(dead_code)]

use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

use super::events::CatalogueName;
use super::listed::listed_schema;

/// A webhook: every field, blank ones as `null`.
#[derive(ToSchema)]
#[schema(example = json!({
    "id": 2, "nodeID": "aGVyYWxkLnRlc3QvV2ViaG9vay8y", "name": "Problem Update",
    "event": "problem.update", "uri": "https://receiver.example.com/hooks",
    "description": null, "disabled": false, "mail_exceptions_to": null,
    "source": "R-Service API", "sourceID": null, "webhook_policy": null,
    "attachments": [], "last_error": null, "verified": true,
    "created_at": "2016-03-17T22:36:11+00:00", "updated_at": "2016-03-17T22:36:11+00:00"
}))]
pub struct Webhook {
    id: i64,
    /// Unpadded base64url of `<host>/Webhook/<id>`.
    #[serde(rename = "nodeID")]
    node_id: String,
    /// The event name unless one was given.
    name: String,
    event: CatalogueName,
    /// An absolute http(s) URL.
    uri: String,
    description: Option<String>,
    disabled: bool,
    /// Comma-separated e-mail addresses for failure mails.
    mail_exceptions_to: Option<String>,
    source: String,
    #[serde(rename = "sourceID")]
    source_id: Option<String>,
    webhook_policy: Option<PolicyLink>,
    attachments: Vec<Attachment>,
    /// The last failed attempt's error, such as `404 Not Found`.
    last_error: Option<String>,
    /// Whether the URI answered the `webhook.verify` handshake.
    verified: bool,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

listed_schema!(
    WebhookListItem,
    Webhook,
    "A webhook in a collection: `id`, `name`, `event`, `uri`, `created_at`, `updated_at` (and `disabled`, `last_error` when disabled), or the fields `?fields=` picks"
);

/// The policy that signs a webhook's messages.
#[derive(ToSchema)]
pub struct PolicyLink {
    id: i64,
    name: Option<String>,
}

/// An uploaded file referenced from the description.
#[derive(ToSchema)]
pub struct Attachment {
    key: String,
    #[schema(required = false)]
    filesize: i64,
    #[schema(required = false)]
    inline: bool,
}

/// A new webhook. Readonly fields of a record sent back are ignored; any
/// other field is a 422.
#[derive(ToSchema)]
#[schema(example = json!({
    "event": "request.note-added", "uri": "https://receiver.example.com/hooks",
    "name": "Notes", "mail_exceptions_to": "ops@example.com"
}))]
pub struct NewWebhook {
    #[schema(max_length = 200)]
    name: Option<String>,
    event: CatalogueName,
    /// An absolute http(s) URL; a literal address that is not public is refused.
    #[schema(format = Uri, max_length = 2048, pattern = "^https?://")]
    uri: String,
    #[schema(max_length = 65536)]
    description: Option<String>,
    #[schema(schema_with = boolean_input)]
    disabled: Option<bool>,
    /// Up to 20 comma-separated e-mail addresses.
    #[schema(max_length = 2000)]
    mail_exceptions_to: Option<String>,
    /// Default: the `X-R-Service-Source` header, else `R-Service API`.
    #[schema(max_length = 30)]
    source: Option<String>,
    #[serde(rename = "sourceID")]
    #[schema(max_length = 128)]
    source_id: Option<String>,
    /// An enabled policy of the account; `null` for none.
    webhook_policy_id: Option<i64>,
    /// Keys of uploaded files to add to `attachments`.
    description_attachments: Option<Vec<Attachment>>,
}

/// Changes to a webhook: the fields given change, `null` clears an
/// optional one.
#[derive(ToSchema)]
#[schema(example = json!({ "disabled": true, "name": "Notes (paused)" }))]
pub struct WebhookChanges {
    #[schema(max_length = 200)]
    name: Option<String>,
    #[schema(required = false)]
    event: CatalogueName,
    #[schema(format = Uri, max_length = 2048, pattern = "^https?://", required = false)]
    uri: String,
    #[schema(max_length = 65536)]
    description: Option<String>,
    #[schema(schema_with = boolean_input)]
    disabled: Option<bool>,
    #[schema(max_length = 2000)]
    mail_exceptions_to: Option<String>,
    #[schema(max_length = 30)]
    source: Option<String>,
    #[serde(rename = "sourceID")]
    #[schema(max_length = 128)]
    source_id: Option<String>,
    webhook_policy_id: Option<i64>,
    description_attachments: Option<Vec<Attachment>>,
}

/// The answer of a verification callback.
#[derive(ToSchema)]
#[schema(example = json!({ "message": "Webhook verified" }))]
pub struct Verified {
    message: String,
}

/// `true`/`false`, a string (`1`, `T`, `Y`, `TRUE`, `YES`, `ON` in any case
/// mean true, any other false), or `null` (false).
pub fn boolean_input() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Boolean, Type::String, Type::Null]))
        .description(Some(
            "true or false; the strings 1, T, Y, TRUE, YES, ON (any case) are true, any other string false; null is false",
        ))
        .build()
}
