//! The account's API tokens, for its administrators: listing them (never
//! a secret) and revoking one. Tokens are made on the command line.

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
use crate::api::openapi::errors::{Authenticated, BadQuery, Forbidden, NotFound};
use crate::api::openapi::tokens::{ApiToken as ApiTokenBody, ApiTokenListItem};
use crate::api::state::AppState;
use crate::api::token_cache::wait_for_caches;
use crate::domain::Role;
use crate::domain::list::{Condition, FieldKind, Filter, ListField, Value as FilterValue};
use crate::domain::node_id::node_id;
use crate::domain::time::{format_epoch, now_epoch};
use crate::domain::token::ApiToken;
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
        "person",
        "role",
        "description",
        "created_at",
        "expires_at",
        "last_used_at",
    ],
    filters: &[
        field("id", FieldKind::Id),
        field("person_id", FieldKind::Id),
        field("role", FieldKind::Enum),
        field("description", FieldKind::Text),
        field("created_at", FieldKind::Date),
        field("expires_at", FieldKind::Date),
        field("last_used_at", FieldKind::Date),
    ],
    sorts: &[
        field("id", FieldKind::Id),
        field("created_at", FieldKind::Date),
        field("expires_at", FieldKind::Date),
        field("last_used_at", FieldKind::Date),
    ],
    states: false,
};

const DEFAULT_FIELDS: [&str; 7] = [
    "id",
    "person",
    "role",
    "description",
    "created_at",
    "expires_at",
    "last_used_at",
];

/// `/api_tokens`: the account's tokens that are not revoked.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get, revoke))
}

/// The query parameters of the tokens collection.
pub struct ListParams;

impl IntoParams for ListParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        COLLECTION.parameters()
    }
}

#[utoipa::path(
    get,
    path = "/api_tokens",
    tag = "api_tokens",
    operation_id = "listApiTokens",
    summary = "A page of the account's tokens that are not revoked (never a token itself)",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of tokens", body = [ApiTokenListItem]),
        BadQuery, Authenticated, Forbidden,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Admin(caller): Admin,
    RawQuery(raw): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let request = COLLECTION.parse(raw.as_deref(), None)?;
    for filter in &request.query.filters {
        if filter.field.name == "role" {
            check_roles(filter)?;
        }
    }
    let page = state
        .store
        .list_tokens(&caller.account, &request.query)
        .await?;
    let base = format!("{}/v1/api_tokens", state.config.public_url);
    Ok(collection::respond(
        &page,
        &request,
        &base,
        raw.as_deref(),
        |token| record(&state, token),
        |_, full| collection::keep(full, &DEFAULT_FIELDS),
    ))
}

#[utoipa::path(
    get,
    path = "/api_tokens/{id}",
    tag = "api_tokens",
    operation_id = "getApiToken",
    summary = "A token of the account (never the token itself)",
    params(("id" = i64, Path, description = "The token's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The token", body = ApiTokenBody),
        NotFound, Authenticated, Forbidden,
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Admin(caller): Admin,
    RecordId(id): RecordId,
) -> ApiResult<Json<Value>> {
    let token = state
        .store
        .get_token(&caller.account, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(Value::Object(record(&state, &token))))
}

/// `DELETE /api_tokens/:id` (204): revokes the token. Answered once every
/// Herald process on the database refuses it (see `api::token_cache`).
#[utoipa::path(
    delete,
    path = "/api_tokens/{id}",
    tag = "api_tokens",
    operation_id = "revokeApiToken",
    summary = "Revoke a token: answered once every Herald process refuses it",
    params(("id" = i64, Path, description = "The token's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        NotFound, Authenticated, Forbidden,
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Acting(actor): Acting,
    RecordId(id): RecordId,
) -> ApiResult<StatusCode> {
    let generation = state
        .store
        .revoke_token(Some(&caller.account), id, &actor, now_epoch())
        .await?
        .ok_or(ApiError::NotFound)?;
    state.tokens.changed(generation);
    wait_for_caches().await;
    Ok(StatusCode::NO_CONTENT)
}

fn check_roles(filter: &Filter) -> ApiResult<()> {
    let valid = |v: &FilterValue| matches!(v, FilterValue::Text(t) if t.parse::<Role>().is_ok());
    let ok = filter.conditions.iter().all(|c| match c {
        Condition::Eq(v) | Condition::Ne(v) => valid(v),
        Condition::In(values) => values.iter().all(valid),
        _ => true,
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "Invalid value for filter role: use administrator, publisher or member".into(),
        ))
    }
}

/// The full record: every field, blank ones as null. Never the token.
fn record(state: &AppState, token: &ApiToken) -> Map<String, Value> {
    let json = json!({
        "id": token.id,
        "nodeID": node_id(&state.config.instance_domain, "ApiToken", token.id),
        "person": { "id": token.person_id, "name": token.person_name },
        "role": token.role.as_str(),
        "description": token.description,
        "created_at": format_epoch(token.created_at),
        "expires_at": token.expires_at.map(format_epoch),
        "last_used_at": token.last_used_at.map(format_epoch),
    });
    match json {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal"),
    }
}
