//! The bodies of the Deliveries API (§10) as the document shows them.

#![allow(dead_code)]

use utoipa::ToSchema;

use super::listed::listed_schema;

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    InFlight,
    Succeeded,
    GivenUp,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum DeliveryKind {
    Event,
    Test,
    Verify,
}

/// A delivery: one message for one webhook about one event.
#[derive(ToSchema)]
#[schema(example = json!({
    "id": 41, "nodeID": "aGVyYWxkLnRlc3QvV2ViaG9va0RlbGl2ZXJ5LzQx",
    "uuid": "9b2d7c1e-3f4a-4b5c-8d6e-7f8a9b0c1d2e", "origin": null,
    "webhook_id": 2, "event_id": 17, "event": "problem.update", "object_id": 219,
    "kind": "event", "status": "succeeded", "attempts": 1, "next_attempt_at": null,
    "last_error": null,
    "created_at": "2016-03-17T22:36:11+00:00", "updated_at": "2016-03-17T22:36:12+00:00"
}))]
pub struct Delivery {
    id: i64,
    #[serde(rename = "nodeID")]
    node_id: String,
    /// The `X-R-Service-Delivery` header.
    uuid: String,
    /// The first delivery's uuid, for a redelivery.
    origin: Option<String>,
    webhook_id: i64,
    event_id: i64,
    event: String,
    object_id: i64,
    kind: DeliveryKind,
    status: DeliveryStatus,
    attempts: i64,
    /// When it is due, while pending or in flight.
    #[schema(format = DateTime)]
    next_attempt_at: Option<String>,
    last_error: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

listed_schema!(
    DeliveryListItem,
    Delivery,
    "A delivery in a collection: `id`, `event`, `object_id`, `status`, `attempts`, `created_at`, `updated_at`, or the fields `?fields=` picks"
);

/// A delivery with its message and every attempt.
#[derive(ToSchema)]
pub struct DeliveryWithHistory {
    id: i64,
    #[serde(rename = "nodeID")]
    node_id: String,
    uuid: String,
    origin: Option<String>,
    webhook_id: i64,
    event_id: i64,
    event: String,
    object_id: i64,
    kind: DeliveryKind,
    status: DeliveryStatus,
    attempts: i64,
    #[schema(format = DateTime)]
    next_attempt_at: Option<String>,
    last_error: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    /// The body as first sent, unsigned; before the first attempt, the body
    /// it will send; `null` only when its webhook is gone.
    message: Option<serde_json::Map<String, serde_json::Value>>,
    history: Vec<Attempt>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Trigger {
    Automatic,
    Test,
    Redelivery,
}

/// One attempt to send a delivery.
#[derive(ToSchema)]
pub struct Attempt {
    /// 1 for the first.
    number: i64,
    #[schema(format = DateTime)]
    started_at: String,
    duration_ms: i64,
    trigger: Trigger,
    response_status: Option<i64>,
    /// The first 100 headers within 16 KiB; a repeated header is a list.
    #[schema(schema_with = header_map)]
    response_headers: Option<serde_json::Value>,
    /// At most 16 KiB, as UTF-8.
    response_body: Option<String>,
    response_body_truncated: bool,
    response_headers_truncated: bool,
    error: Option<String>,
    /// The address connected to.
    ip: Option<String>,
}

/// An object of header names to a value or a list of values, or `null`.
fn header_map() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{
        AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, SchemaType, Type,
    };
    let text = || ObjectBuilder::new().schema_type(SchemaType::Type(Type::String));
    let value = OneOfBuilder::new()
        .item(text())
        .item(ArrayBuilder::new().items(text()));
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .additional_properties(Some(AdditionalProperties::RefOr(value.into())))
        .build()
}

/// What to redeliver: what was given up between `since` and `until`.
#[derive(ToSchema)]
#[schema(example = json!({ "since": "2016-03-17", "until": "2016-03-18T12:00:00+00:00" }))]
pub struct Recovery {
    /// A date (`2016-03-17`) or an RFC 3339 date-time.
    #[schema(schema_with = date_or_time)]
    since: String,
    /// Default: now.
    #[schema(schema_with = date_or_time_or_null, required = false)]
    until: Option<String>,
}

/// A date (`2016-03-17`) or an RFC 3339 date-time.
fn date_or_time() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
    let text = |format| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(format)))
    };
    // anyOf: where formats are annotations only, every string is both.
    AnyOfBuilder::new()
        .item(text(KnownFormat::Date))
        .item(text(KnownFormat::DateTime))
        .description(Some("A date (`2016-03-17`) or an RFC 3339 date-time"))
        .build()
        .into()
}

/// [`date_or_time`], or `null` for now.
fn date_or_time_or_null() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
    let mut schema = date_or_time();
    if let Schema::AnyOf(any_of) = &mut schema {
        any_of
            .items
            .push(ObjectBuilder::new().schema_type(Type::Null).into());
    }
    schema
}

/// Redeliveries queued.
#[derive(ToSchema)]
#[schema(example = json!({ "queued": 3 }))]
pub struct Recovered {
    queued: i64,
}
