//! The bodies of publishing (§6) as the document shows them.

#![allow(dead_code)]

use utoipa::openapi::schema::{
    ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::EventName;

/// An event name of the catalogue (`webhook.verify` is not one): the
/// `EventName` component.
pub struct CatalogueName;

impl PartialSchema for CatalogueName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .enum_values(Some(EventName::catalogue()))
            .description(Some("An event name of the catalogue"))
            .into()
    }
}

impl ToSchema for CatalogueName {
    fn name() -> std::borrow::Cow<'static, str> {
        "EventName".into()
    }
}

/// One event to publish.
#[derive(ToSchema)]
#[schema(example = json!({
    "event": "request.note-added", "object_id": 219, "person_id": 8543,
    "person_name": "Howard Tanner",
    "payload": { "note_id": 3455, "status": "workflow_pending" },
    "links": {
        "canonical": "https://wdc.example.com/requests/219",
        "resource": "https://api.example.com/v1/requests/219"
    },
    "idempotency_key": "req-219-note-3455"
}))]
pub struct NewEvent {
    event: CatalogueName,
    /// The object the event is about.
    object_id: i64,
    /// Who caused it; leave out for system events.
    person_id: Option<i64>,
    #[schema(max_length = 255)]
    person_name: Option<String>,
    /// Passed through as the message's `payload` (default `{}`).
    payload: Option<serde_json::Map<String, serde_json::Value>>,
    links: Option<Links>,
    /// A key seen in the account in the last 24 hours queues nothing.
    #[schema(min_length = 1, max_length = 255)]
    idempotency_key: Option<String>,
    /// For `automation_rule` events (and only them): the webhook to send to.
    webhook_id: Option<i64>,
}

/// Where the event's object lives; they become the message's `Link` header.
#[derive(ToSchema)]
pub struct Links {
    #[schema(format = Uri, required = false)]
    canonical: String,
    #[schema(format = Uri, required = false)]
    resource: String,
    #[schema(format = Uri, required = false)]
    related: String,
}

/// One event, or an array of 1 to 1000 published together (all or none).
pub struct Publication;

impl PartialSchema for Publication {
    fn schema() -> RefOr<Schema> {
        let batch = ArrayBuilder::new()
            .items(Ref::from_schema_name("NewEvent"))
            .min_items(Some(1))
            .max_items(Some(crate::domain::event::MAX_BATCH));
        OneOfBuilder::new()
            .item(Ref::from_schema_name("NewEvent"))
            .item(batch)
            .description(Some(
                "One event, or an array of 1 to 1000 published together (all or none)",
            ))
            .into()
    }
}

impl ToSchema for Publication {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push(("NewEvent".into(), NewEvent::schema()));
        NewEvent::schemas(schemas);
    }
}

/// What publishing one event did.
#[derive(ToSchema)]
#[schema(example = json!({ "id": 17, "deliveries": 2 }))]
pub struct Published {
    /// The event's id (the first event's, for a repeated idempotency key).
    id: i64,
    /// Deliveries queued: one per enabled, verified webhook of the event.
    deliveries: i64,
    /// Present, and true, for a repeated idempotency key.
    #[schema(required = false)]
    duplicate: bool,
}

/// The answer to one event, or an array in the order of the batch.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum PublishAnswer {
    One(Published),
    Batch(Vec<Published>),
}
