//! Delivery history, redelivery and recovery (§10).

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::{Acting, Admin};
use crate::api::collection::{self, CollectionSpec};
use crate::api::extract::RecordId;
use crate::api::openapi::deliveries::{Delivery, DeliveryListItem, DeliveryWithHistory};
use crate::api::openapi::errors::{Authenticated, BadQuery, Forbidden, Invalid, NotFound};
use crate::api::state::AppState;
use crate::delivery::message;
use crate::domain::delivery::{
    AttemptRecord, DeliveryRecord, DeliveryStatus, Redelivery, of_webhook,
};
use crate::domain::event::EventKind;
use crate::domain::list::{FieldKind, ListField, SortKey};
use crate::domain::node_id::node_id;
use crate::domain::time::{format_epoch, now_epoch, now_millis};
use crate::domain::{AccountId, ValidationErrors};
use crate::error::{ApiError, ApiResult};

mod recovery;

pub(crate) use recovery::recover_given_up;

const fn field(name: &'static str, kind: FieldKind) -> ListField {
    ListField {
        name,
        column: name,
        kind,
        case_insensitive: false,
    }
}

pub const COLLECTION: CollectionSpec = CollectionSpec {
    fields: &[
        "id",
        "nodeID",
        "uuid",
        "origin",
        "webhook_id",
        "event_id",
        "event",
        "object_id",
        "kind",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "created_at",
        "updated_at",
    ],
    filters: &[
        field("id", FieldKind::Id),
        field("status", FieldKind::Enum),
        field("event", FieldKind::Enum),
        field("object_id", FieldKind::Id),
        field("created_at", FieldKind::Date),
        field("updated_at", FieldKind::Date),
    ],
    sorts: &[
        field("id", FieldKind::Id),
        field("created_at", FieldKind::Date),
        field("updated_at", FieldKind::Date),
    ],
    states: false,
};

const DEFAULT_FIELDS: [&str; 7] = [
    "id",
    "event",
    "object_id",
    "status",
    "attempts",
    "created_at",
    "updated_at",
];

/// The deliveries API (§10).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(recovery::recover))
        .routes(routes!(get))
        .routes(routes!(redeliver))
}

/// The query parameters of a webhook's deliveries.
pub struct ListParams;

impl IntoParams for ListParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        COLLECTION.parameters()
    }
}

/// `GET /webhooks/:id/deliveries`: newest first unless `sort` says otherwise.
#[utoipa::path(
    get,
    path = "/webhooks/{id}/deliveries",
    tag = "deliveries",
    operation_id = "listDeliveries",
    summary = "A page of a webhook's deliveries, newest first",
    params(("id" = i64, Path, description = "The webhook's id"), ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of deliveries", body = [DeliveryListItem]),
        BadQuery, NotFound, Authenticated, Forbidden,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Admin(caller): Admin,
    RecordId(webhook_id): RecordId,
    RawQuery(raw): RawQuery,
) -> ApiResult<impl IntoResponse> {
    state
        .store
        .get_webhook(&caller.account, webhook_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut request = COLLECTION.parse(raw.as_deref(), None)?;
    for filter in &request.query.filters {
        if filter.field.name == "status" {
            check_statuses(filter)?;
        }
    }
    request.query.filters.push(of_webhook(webhook_id));
    if request.query.sort.is_empty() {
        request.query.sort.push(SortKey {
            column: "id",
            descending: true,
        });
    }
    let page = state
        .store
        .list_deliveries(&caller.account, &request.query)
        .await?;
    let base = format!(
        "{}/v1/webhooks/{webhook_id}/deliveries",
        state.config.public_url
    );
    Ok(collection::respond(
        &page,
        &request,
        &base,
        raw.as_deref(),
        |d| record(&state, d),
        |_, full| collection::keep(full, &DEFAULT_FIELDS),
    ))
}

/// `GET /webhook_deliveries/:id`: the record, its message and every attempt.
#[utoipa::path(
    get,
    path = "/webhook_deliveries/{id}",
    tag = "deliveries",
    operation_id = "getDelivery",
    summary = "A delivery, its message and every attempt",
    params(("id" = i64, Path, description = "The delivery's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The delivery", body = DeliveryWithHistory),
        NotFound, Authenticated, Forbidden,
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Admin(caller): Admin,
    RecordId(id): RecordId,
) -> ApiResult<Json<Value>> {
    let (delivery, attempts) = state
        .store
        .get_delivery(&caller.account, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut answer = record(&state, &delivery);
    let message = message_of(&state, &caller.account, &delivery).await?;
    answer.insert("message".into(), message);
    answer.insert(
        "history".into(),
        Value::Array(
            attempts
                .iter()
                .enumerate()
                .map(|(i, a)| attempt_json(i + 1, a))
                .collect(),
        ),
    );
    Ok(Json(Value::Object(answer)))
}

/// The message of a delivery: as first sent, or, before its first attempt,
/// the one it will send (null when its webhook is gone: it will send
/// none). A verification's code is never shown.
pub(crate) async fn message_of(
    state: &AppState,
    account: &AccountId,
    delivery: &DeliveryRecord,
) -> ApiResult<Value> {
    let mut message = match &delivery.message {
        Some(message) => message.clone(),
        None => {
            let event = state.store.delivery_event(account, delivery.id).await?;
            let hook = state
                .store
                .get_webhook(account, delivery.webhook_id)
                .await?;
            match (event, hook) {
                (Some(event), Some(hook)) => message::unsigned(&event, &hook, &state.config)
                    .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?,
                _ => Value::Null,
            }
        }
    };
    if delivery.kind == EventKind::Verify && !message.is_null() {
        // The code is for the receiver alone: an administrator who could read
        // it could verify a URI that never agreed to get messages.
        message["payload"]["callback"] = Value::String("[redacted]".into());
    }
    Ok(message)
}

/// `POST /webhook_deliveries/:id/redeliver` (202): a new delivery of the
/// same message with a new `X-R-Service-Delivery`.
#[utoipa::path(
    post,
    path = "/webhook_deliveries/{id}/redeliver",
    tag = "deliveries",
    operation_id = "redeliver",
    summary = "Send a finished delivery's message again, as a new delivery",
    params(("id" = i64, Path, description = "The delivery's id")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The new delivery, sent at once", body = Delivery),
        Invalid, NotFound, Authenticated, Forbidden,
    )
)]
pub async fn redeliver(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Acting(actor): Acting,
    RecordId(id): RecordId,
) -> ApiResult<(StatusCode, Json<Value>)> {
    match state
        .store
        .redeliver(&caller.account, id, &actor, now_epoch(), now_millis())
        .await?
    {
        Redelivery::Queued(delivery) => {
            state.wake.notify_one();
            Ok((
                StatusCode::ACCEPTED,
                Json(Value::Object(record(&state, &delivery))),
            ))
        }
        Redelivery::NotFound => Err(ApiError::NotFound),
        Redelivery::NotFinished => Err(ValidationErrors::single(
            "status",
            "Only succeeded or given up deliveries can be redelivered",
        )
        .into()),
    }
}

fn check_statuses(filter: &crate::domain::list::Filter) -> ApiResult<()> {
    use crate::domain::list::{Condition, Value as V};
    let valid = |v: &V| matches!(v, V::Text(t) if DeliveryStatus::parse(t).is_some());
    let ok = filter.conditions.iter().all(|c| match c {
        Condition::Eq(v) | Condition::Ne(v) => valid(v),
        Condition::In(values) => values.iter().all(valid),
        _ => true,
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "Invalid value for filter status: use pending, in_flight, succeeded or given_up".into(),
        ))
    }
}

fn record(state: &AppState, delivery: &DeliveryRecord) -> Map<String, Value> {
    let next = (!delivery.status.is_final()).then(|| format_epoch(delivery.next_attempt_at / 1000));
    let json = json!({
        "id": delivery.id,
        "nodeID": node_id(&state.config.instance_domain, "WebhookDelivery", delivery.id),
        "uuid": delivery.uuid,
        "origin": delivery.origin_uuid,
        "webhook_id": delivery.webhook_id,
        "event_id": delivery.event_id,
        "event": delivery.event,
        "object_id": delivery.object_id,
        "kind": delivery.kind.as_str(),
        "status": delivery.status.as_str(),
        "attempts": delivery.attempts,
        "next_attempt_at": next,
        "last_error": delivery.last_error,
        "created_at": format_epoch(delivery.created_at),
        "updated_at": format_epoch(delivery.updated_at),
    });
    match json {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal"),
    }
}

fn attempt_json(number: usize, attempt: &AttemptRecord) -> Value {
    json!({
        "number": number,
        "started_at": format_epoch(attempt.started_at / 1000),
        "duration_ms": attempt.duration_ms,
        "trigger": attempt.trigger.as_str(),
        "response_status": attempt.response_status,
        "response_headers": attempt.response_headers,
        "response_body": attempt.response_body,
        "response_body_truncated": attempt.response_truncated,
        "response_headers_truncated": attempt.response_headers_truncated,
        "error": attempt.error,
        "ip": attempt.remote_ip,
    })
}
