//! Listing webhooks and reading one (§4).

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use serde_json::Value;

use crate::api::auth::Admin;
use crate::api::collection::{self, State as ListState};
use crate::api::extract::RecordId;
use crate::api::openapi::errors::{Authenticated, BadQuery, Forbidden, NotFound};
use crate::api::openapi::webhooks::{Webhook, WebhookListItem};
use crate::api::state::AppState;
use crate::error::{ApiError, ApiResult};

use super::{COLLECTION, ListParams, default_fields, record};

#[utoipa::path(
    get,
    path = "/webhooks",
    tag = "webhooks",
    operation_id = "listWebhooks",
    summary = "A page of the account's webhooks",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of webhooks", body = [WebhookListItem]),
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
    path = "/webhooks/enabled",
    tag = "webhooks",
    operation_id = "listEnabledWebhooks",
    summary = "A page of the account's enabled webhooks",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of enabled webhooks", body = [WebhookListItem]),
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
    path = "/webhooks/disabled",
    tag = "webhooks",
    operation_id = "listDisabledWebhooks",
    summary = "A page of the account's disabled webhooks",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of disabled webhooks", body = [WebhookListItem]),
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
        .list_webhooks(&caller.account, &request.query)
        .await?;
    let base = format!(
        "{}{}",
        state.config.public_url,
        collection::state_path("/v1/webhooks", path_state)
    );
    Ok(collection::respond(
        &page,
        &request,
        &base,
        raw.as_deref(),
        |hook| record(&state, hook),
        default_fields,
    ))
}

#[utoipa::path(
    get,
    path = "/webhooks/{id}",
    tag = "webhooks",
    operation_id = "getWebhook",
    summary = "A webhook",
    params(("id" = i64, Path, description = "The webhook's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The webhook", body = Webhook),
        NotFound, Authenticated, Forbidden,
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Admin(caller): Admin,
    RecordId(id): RecordId,
) -> ApiResult<Json<Value>> {
    let hook = state
        .store
        .get_webhook(&caller.account, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(Value::Object(record(&state, &hook))))
}
