//! The audit trail, for the account's administrators: who changed which
//! record, when, from where, and which fields moved. Newest first.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::Admin;
use crate::api::collection::{self, CollectionSpec};
use crate::api::extract::RecordId;
use crate::api::openapi::errors::{Authenticated, BadQuery, Forbidden, NotFound};
use crate::api::openapi::tokens::{AuditEvent as AuditEventBody, AuditEventListItem};
use crate::api::state::AppState;
use crate::domain::audit::{Action, ActorKind, AuditEvent, RecordType};
use crate::domain::list::{Condition, FieldKind, Filter, ListField, SortKey, Value as FilterValue};
use crate::domain::node_id::node_id;
use crate::domain::time::format_epoch;
use crate::error::{ApiError, ApiResult};

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
        "created_at",
        "actor",
        "token_id",
        "person",
        "client_ip",
        "record_type",
        "record_id",
        "action",
        "changes",
        "details",
    ],
    filters: &[
        field("id", FieldKind::Id),
        field("record_type", FieldKind::Enum),
        field("record_id", FieldKind::Id),
        field("person_id", FieldKind::Id),
        field("token_id", FieldKind::Id),
        field("actor", FieldKind::Enum),
        field("action", FieldKind::Enum),
        field("created_at", FieldKind::Date),
    ],
    sorts: &[
        field("id", FieldKind::Id),
        field("created_at", FieldKind::Date),
    ],
    states: false,
};

/// `/audit_events`: the account's audit trail.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get))
}

/// The query parameters of the audit trail.
pub struct ListParams;

impl IntoParams for ListParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        COLLECTION.parameters()
    }
}

/// Newest first unless `sort` says otherwise.
#[utoipa::path(
    get,
    path = "/audit_events",
    tag = "audit_events",
    operation_id = "listAuditEvents",
    summary = "A page of the account's audit trail, newest first",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of changes", body = [AuditEventListItem]),
        BadQuery, Authenticated, Forbidden,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Admin(caller): Admin,
    RawQuery(raw): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let mut request = COLLECTION.parse(raw.as_deref(), None)?;
    for filter in &request.query.filters {
        check_words(filter)?;
    }
    if request.query.sort.is_empty() {
        request.query.sort.push(SortKey {
            column: "id",
            descending: true,
        });
    }
    let page = state
        .store
        .list_audit_events(&caller.account, &request.query)
        .await?;
    let base = format!("{}/v1/audit_events", state.config.public_url);
    Ok(collection::respond(
        &page,
        &request,
        &base,
        raw.as_deref(),
        |event| record(&state, event),
        |_, full| {
            let mut full = full;
            full.remove("nodeID");
            Value::Object(full)
        },
    ))
}

#[utoipa::path(
    get,
    path = "/audit_events/{id}",
    tag = "audit_events",
    operation_id = "getAuditEvent",
    summary = "One change of the account's audit trail",
    params(("id" = i64, Path, description = "The change's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The change", body = AuditEventBody),
        NotFound, Authenticated, Forbidden,
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Admin(caller): Admin,
    RecordId(id): RecordId,
) -> ApiResult<Json<Value>> {
    let event = state
        .store
        .get_audit_event(&caller.account, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(Value::Object(record(&state, &event))))
}

/// The filters on words (`record_type`, `actor`, `action`) take only the
/// words there are: anything else is a 400 naming them.
fn check_words(filter: &Filter) -> ApiResult<()> {
    let words: Vec<&str> = match filter.field.name {
        "record_type" => RecordType::ALL.iter().map(|t| t.as_str()).collect(),
        "actor" => ActorKind::ALL.iter().map(|k| k.as_str()).collect(),
        "action" => Action::ALL.iter().map(|a| a.as_str()).collect(),
        _ => return Ok(()),
    };
    let valid = |v: &FilterValue| matches!(v, FilterValue::Text(t) if words.contains(&t.as_str()));
    let ok = filter.conditions.iter().all(|c| match c {
        Condition::Eq(v) | Condition::Ne(v) => valid(v),
        Condition::In(values) => values.iter().all(valid),
        _ => true,
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "Invalid value for filter {}: use {}",
            filter.field.name,
            words.join(", ")
        )))
    }
}

/// The full record.
fn record(state: &AppState, event: &AuditEvent) -> Map<String, Value> {
    let person = event
        .person_id
        .map(|id| json!({ "id": id, "name": event.person_name }));
    let json = json!({
        "id": event.id,
        "nodeID": node_id(&state.config.instance_domain, "AuditEvent", event.id),
        "created_at": format_epoch(event.created_at),
        "actor": event.actor,
        "token_id": event.token_id,
        "person": person,
        "client_ip": event.client_ip,
        "record_type": event.record_type,
        "record_id": event.record_id,
        "action": event.action,
        "changes": event.changes,
        "details": event.details,
    });
    match json {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal"),
    }
}
