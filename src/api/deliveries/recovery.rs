//! Recovery (§10): redelivering, once per message, what a webhook gave up
//! in a window of time.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::api::auth::{Acting, Admin};
use crate::api::extract::RecordId;
use crate::api::json::JsonObject;
use crate::api::openapi::deliveries::{Recovered, Recovery};
use crate::api::openapi::errors::{Authenticated, BadBody, Forbidden, NotFound};
use crate::api::state::AppState;
use crate::domain::audit::Actor;
use crate::domain::time::{now_epoch, now_millis, parse_date_or_datetime};
use crate::domain::{AccountId, ValidationErrors};
use crate::error::{ApiError, ApiResult};

/// `POST /webhooks/:id/recover` (202): redelivers what was given up between
/// `since` and `until` (default: now), once per message.
#[utoipa::path(
    post,
    path = "/webhooks/{id}/recover",
    tag = "deliveries",
    operation_id = "recoverDeliveries",
    summary = "Redeliver, once per message, what was given up in a window",
    params(("id" = i64, Path, description = "The webhook's id")),
    request_body(content = Recovery, description = "The window"),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Redeliveries queued", body = Recovered),
        BadBody, NotFound, Authenticated, Forbidden,
    )
)]
pub async fn recover(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Acting(actor): Acting,
    RecordId(webhook_id): RecordId,
    JsonObject(body): JsonObject,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let queued = recover_given_up(&state, &caller.account, &actor, webhook_id, &body).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "queued": queued }))))
}

/// Redelivers, once per message, what webhook `webhook_id` gave up in the
/// window `body` gives (`since`, and `until`, by default now); how many
/// were queued. 422 for a bad window, 404 when there is no such webhook.
pub(crate) async fn recover_given_up(
    state: &AppState,
    account: &AccountId,
    actor: &Actor,
    webhook_id: i64,
    body: &Map<String, Value>,
) -> ApiResult<i64> {
    let mut errors = ValidationErrors::new();
    let mut since = None;
    let mut until = None;
    for (key, value) in body {
        let slot = match key.as_str() {
            "since" => &mut since,
            "until" => &mut until,
            _ => {
                errors.add(key.clone(), format!("{key} is not a known field"));
                continue;
            }
        };
        match value.as_str().and_then(parse_date_or_datetime) {
            Some(at) => *slot = Some(at),
            None if value.is_null() => {}
            None => errors.add(
                key.clone(),
                format!("{key} must be a date or date-time such as 2016-03-17T16:36:11-06:00"),
            ),
        }
    }
    if since.is_none() && !errors.pairs().iter().any(|(f, _)| f == "since") {
        errors.add("since", "since can't be blank");
    }
    let until = until.unwrap_or_else(now_epoch);
    if since.is_some_and(|s| s > until) {
        errors.add("until", "until must not be before since");
    }
    let since = errors.into_result(since)?.unwrap_or_default();
    let queued = state
        .store
        .recover(
            account,
            webhook_id,
            (since, until),
            actor,
            now_epoch(),
            now_millis(),
        )
        .await?
        .ok_or(ApiError::NotFound)?;
    if queued > 0 {
        state.wake.notify_one();
    }
    Ok(queued)
}
