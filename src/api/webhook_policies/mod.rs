//! The Webhook Policies API (§5): how messages to webhooks are signed.

mod create;
mod input;
mod key;
mod record;
mod rotate;

pub(crate) use create::{Created, create_policy};

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::{Acting, Admin};
use crate::api::collection::{self, CollectionSpec, State as ListState};
use crate::api::extract::RecordId;
use crate::api::json::JsonObject;
use crate::api::openapi::errors::{Authenticated, BadBody, BadQuery, Forbidden, Invalid, NotFound};
use crate::api::openapi::policies::{WebhookPolicy, WebhookPolicyChanges, WebhookPolicyListItem};
use crate::api::state::AppState;
use crate::domain::ValidationErrors;
use crate::domain::list::{FieldKind, ListField};
use crate::domain::policy::{PolicyChanges, Signing};
use crate::domain::time::now_epoch;
use crate::error::{ApiError, ApiResult};
use crate::store::PolicyDeletion;

use input::Input;
use record::record;

const fn field(name: &'static str, kind: FieldKind, case_insensitive: bool) -> ListField {
    ListField {
        name,
        column: name,
        kind,
        case_insensitive,
    }
}

pub const COLLECTION: CollectionSpec = CollectionSpec {
    fields: &[
        "id",
        "nodeID",
        "name",
        "disabled",
        "jwt_alg",
        "jwt_audience",
        "jwt_claim_expires_in",
        "signature_scheme",
        "openid_connect_discovery",
        "created_at",
        "updated_at",
    ],
    filters: &[
        field("id", FieldKind::Id, false),
        field("name", FieldKind::Text, true),
        field("disabled", FieldKind::Bool, false),
        field("created_at", FieldKind::Date, false),
        field("updated_at", FieldKind::Date, false),
    ],
    sorts: &[
        field("id", FieldKind::Id, false),
        field("created_at", FieldKind::Date, false),
        field("updated_at", FieldKind::Date, false),
    ],
    states: true,
};

const DEFAULT_FIELDS: [&str; 4] = ["id", "name", "created_at", "updated_at"];

/// The webhook policies API (§5).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create::create))
        .routes(routes!(list_enabled))
        .routes(routes!(list_disabled))
        .routes(routes!(get, update, delete))
        .routes(routes!(rotate::rotate))
}

/// The query parameters of the policies collection.
pub struct ListParams;

impl IntoParams for ListParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        COLLECTION.parameters()
    }
}

#[utoipa::path(
    get,
    path = "/webhook_policies",
    tag = "webhook_policies",
    operation_id = "listWebhookPolicies",
    summary = "A page of the account's webhook policies",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of policies", body = [WebhookPolicyListItem]),
        BadQuery, Authenticated, Forbidden,
    )
)]
pub async fn list(
    state: State<AppState>,
    admin: Admin,
    raw: RawQuery,
) -> ApiResult<impl IntoResponse> {
    list_in_state(state, admin, raw, None).await
}

#[utoipa::path(
    get,
    path = "/webhook_policies/enabled",
    tag = "webhook_policies",
    operation_id = "listEnabledWebhookPolicies",
    summary = "A page of the account's enabled webhook policies",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of enabled policies", body = [WebhookPolicyListItem]),
        BadQuery, Authenticated, Forbidden,
    )
)]
pub async fn list_enabled(
    state: State<AppState>,
    admin: Admin,
    raw: RawQuery,
) -> ApiResult<impl IntoResponse> {
    list_in_state(state, admin, raw, Some(ListState::Enabled)).await
}

#[utoipa::path(
    get,
    path = "/webhook_policies/disabled",
    tag = "webhook_policies",
    operation_id = "listDisabledWebhookPolicies",
    summary = "A page of the account's disabled webhook policies",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of disabled policies", body = [WebhookPolicyListItem]),
        BadQuery, Authenticated, Forbidden,
    )
)]
pub async fn list_disabled(
    state: State<AppState>,
    admin: Admin,
    raw: RawQuery,
) -> ApiResult<impl IntoResponse> {
    list_in_state(state, admin, raw, Some(ListState::Disabled)).await
}

async fn list_in_state(
    State(state): State<AppState>,
    Admin(caller): Admin,
    RawQuery(raw): RawQuery,
    path_state: Option<ListState>,
) -> ApiResult<impl IntoResponse> {
    let request = COLLECTION.parse(raw.as_deref(), path_state)?;
    let page = state
        .store
        .list_policies(&caller.account, &request.query)
        .await?;
    let base = format!(
        "{}{}",
        state.config.public_url,
        collection::state_path("/v1/webhook_policies", path_state)
    );
    Ok(collection::respond(
        &page,
        &request,
        &base,
        raw.as_deref(),
        |p| record(&state, p),
        |_, full| collection::keep(full, &DEFAULT_FIELDS),
    ))
}

#[utoipa::path(
    get,
    path = "/webhook_policies/{id}",
    tag = "webhook_policies",
    operation_id = "getWebhookPolicy",
    summary = "A webhook policy (never its key)",
    params(("id" = i64, Path, description = "The policy's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The policy", body = WebhookPolicy),
        NotFound, Authenticated, Forbidden,
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Admin(caller): Admin,
    RecordId(id): RecordId,
) -> ApiResult<Json<Value>> {
    let policy = state
        .store
        .get_policy(&caller.account, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(Value::Object(record(&state, &policy))))
}

/// PATCH, and PUT as its alias. `jwt_alg` cannot change: a receiver's key
/// must stay valid.
#[utoipa::path(
    method(patch, put),
    path = "/webhook_policies/{id}",
    tag = "webhook_policies",
    operation_id = "updateWebhookPolicy",
    summary = "Change a policy (PUT is the same as PATCH)",
    params(("id" = i64, Path, description = "The policy's id")),
    request_body(content = WebhookPolicyChanges, description = "The fields to change"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed policy", body = WebhookPolicy),
        BadBody, NotFound, Authenticated, Forbidden,
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Acting(actor): Acting,
    RecordId(id): RecordId,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<Value>> {
    let input = Input::read(body);
    let mut errors = input.errors;
    let current = state
        .store
        .get_policy(&caller.account, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if input.jwt_alg.is_some_and(|alg| alg != current.jwt_alg) {
        errors.add("jwt_alg", "Jwt alg cannot be changed");
    }
    if input
        .signature_scheme
        .is_some_and(|scheme| scheme != current.signature_scheme)
    {
        errors.add("signature_scheme", "Signature scheme cannot be changed");
    }
    let changes = PolicyChanges {
        disabled: input.disabled,
        jwt_audience: input.jwt_audience,
        jwt_claim_expires_in: input.jwt_claim_expires_in,
        openid_connect_discovery: input.openid_connect_discovery,
    };
    let mut after = current.clone();
    after.apply(&changes, current.updated_at);
    Signing {
        scheme: after.signature_scheme,
        jwt_alg: after.jwt_alg,
        openid_connect_discovery: after.openid_connect_discovery,
        has_audience: after.jwt_audience.is_some(),
        has_expiry: after.jwt_claim_expires_in.is_some(),
    }
    .check(&mut errors);
    let changes = errors.into_result(changes)?;
    let policy = state
        .store
        .update_policy(&caller.account, id, &changes, &actor, now_epoch())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(Value::Object(record(&state, &policy))))
}

/// A policy a webhook still uses cannot be deleted (422).
#[utoipa::path(
    delete,
    path = "/webhook_policies/{id}",
    tag = "webhook_policies",
    operation_id = "deleteWebhookPolicy",
    summary = "Delete a policy no webhook uses",
    params(("id" = i64, Path, description = "The policy's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        Invalid, NotFound, Authenticated, Forbidden,
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Acting(actor): Acting,
    RecordId(id): RecordId,
) -> ApiResult<StatusCode> {
    let deletion = state
        .store
        .delete_policy(&caller.account, id, &actor, now_epoch())
        .await?;
    match deletion {
        PolicyDeletion::Deleted => Ok(StatusCode::NO_CONTENT),
        PolicyDeletion::NotFound => Err(ApiError::NotFound),
        PolicyDeletion::InUse(webhooks) => {
            let ids: Vec<String> = webhooks.iter().map(i64::to_string).collect();
            Err(ValidationErrors::single(
                "webhooks",
                format!("Webhook policy is used by webhooks {}", ids.join(", ")),
            )
            .into())
        }
    }
}
