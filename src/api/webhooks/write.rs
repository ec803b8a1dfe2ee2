//! Creating, changing, deleting and testing webhooks (§4, §8).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

use crate::api::auth::{Acting, Admin};
use crate::api::extract::RecordId;
use crate::api::json::JsonObject;
use crate::api::openapi::errors::{Authenticated, BadBody, Forbidden, NotFound};
use crate::api::openapi::webhooks as doc;
use crate::api::state::AppState;
use crate::domain::audit::Actor;
use crate::domain::time::{now_epoch, now_millis};
use crate::domain::webhook::{DEFAULT_SOURCE, rules};
use crate::domain::{Caller, NewWebhook, Webhook, WebhookChanges};
use crate::error::{ApiError, ApiResult};

use super::input::Input;
use super::verification::send_verification as verify;
use super::{SOURCE_HEADER, record};

/// Creating a webhook sends it the `webhook.verify` handshake (§8) unless
/// its URI is verified already or verification is off.
#[utoipa::path(
    post,
    path = "/webhooks",
    tag = "webhooks",
    operation_id = "createWebhook",
    summary = "Subscribe a URI to an event",
    params((
        "X-R-Service-Source" = Option<String>, Header,
        description = "The new webhook's `source` when the body gives none"
    )),
    request_body(content = doc::NewWebhook, description = "The new webhook"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new webhook", body = doc::Webhook),
        BadBody, Authenticated, Forbidden,
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Acting(actor): Acting,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<Value>> {
    let header_source = headers
        .get(SOURCE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let hook = create_webhook(&state, &caller, &actor, body, header_source).await?;
    Ok(Json(Value::Object(record(&state, &hook))))
}

/// Creates a webhook of `caller`'s account from the fields of `body` by the
/// rules of §4 (422 with every problem), `header_source` standing in for a
/// `source` the body does not give; sends the handshake it needs.
pub(crate) async fn create_webhook(
    state: &AppState,
    caller: &Caller,
    actor: &Actor,
    body: Map<String, Value>,
    header_source: Option<&str>,
) -> ApiResult<Webhook> {
    let input = Input::read(body, state, &caller.account).await?;
    let mut errors = input.errors;
    let event = match input.event {
        Some(event) => Some(event),
        None => {
            if !errors.pairs().iter().any(|(f, _)| f == "event") {
                errors.add("event", "Event can't be blank");
            }
            None
        }
    };
    let uri = match input.uri {
        Some(uri) => Some(uri),
        None => {
            if !errors.pairs().iter().any(|(f, _)| f == "uri") {
                errors.add("uri", "Uri can't be blank");
            }
            None
        }
    };
    let (Some(event), Some(uri)) = (event, uri) else {
        return Err(errors.into());
    };
    let source = match (input.source.flatten(), header_source) {
        (Some(source), _) => source,
        (None, Some(header)) => match rules::source(header) {
            Ok(source) => source.unwrap_or_else(|| DEFAULT_SOURCE.to_string()),
            Err(message) => {
                errors.add("source", message);
                String::new()
            }
        },
        (None, None) => DEFAULT_SOURCE.to_string(),
    };
    let new = NewWebhook {
        name: input.name.flatten(),
        event,
        uri,
        description: input.description.flatten(),
        disabled: input.disabled.unwrap_or(false),
        mail_exceptions_to: input.mail_exceptions_to.flatten(),
        source,
        source_id: input.source_id.flatten(),
        webhook_policy_id: input.webhook_policy_id.flatten(),
        attachments: input.attachments,
    };
    let new = errors.into_result(new)?;
    // Verified from the start when no handshake is needed, so no event
    // published meanwhile passes it by.
    let verified = !state.config.delivery.require_verification
        || state
            .store
            .uri_verified(&caller.account, new.uri.as_str(), 0)
            .await?;
    let mut hook = state
        .store
        .insert_webhook(&caller.account, new, verified, actor, now_epoch())
        .await?;
    if !hook.verified {
        hook.verified = verify(state, &hook, actor).await?;
    }
    Ok(hook)
}

/// PATCH, and PUT as its alias (§2): fields absent stay as they are.
#[utoipa::path(
    method(patch, put),
    path = "/webhooks/{id}",
    tag = "webhooks",
    operation_id = "updateWebhook",
    summary = "Change a webhook (PUT is the same as PATCH)",
    params(("id" = i64, Path, description = "The webhook's id")),
    request_body(content = doc::WebhookChanges, description = "The fields to change"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed webhook", body = doc::Webhook),
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
    let hook = update_webhook(&state, &caller, &actor, id, body).await?;
    Ok(Json(Value::Object(record(&state, &hook))))
}

/// Changes the fields `body` gives of webhook `id` of `caller`'s account by
/// the rules of §4 (422 with every problem; 404 when there is no such
/// webhook); sends the handshake a new URI needs.
pub(crate) async fn update_webhook(
    state: &AppState,
    caller: &Caller,
    actor: &Actor,
    id: i64,
    body: Map<String, Value>,
) -> ApiResult<Webhook> {
    let input = Input::read(body, state, &caller.account).await?;
    let mut errors = input.errors;
    if input.event_cleared {
        errors.add("event", "Event can't be blank");
    }
    if input.uri_cleared {
        errors.add("uri", "Uri can't be blank");
    }
    let changes = WebhookChanges {
        name: input.name,
        event: input.event,
        uri: input.uri,
        description: input.description,
        disabled: input.disabled,
        mail_exceptions_to: input.mail_exceptions_to,
        source: input.source,
        source_id: input.source_id,
        webhook_policy_id: input.webhook_policy_id,
        attachments: input.attachments,
    };
    let changes = errors.into_result(changes)?;
    let mut hook = state
        .store
        .update_webhook(&caller.account, id, &changes, actor, now_epoch())
        .await?
        .ok_or(ApiError::NotFound)?;
    if !hook.verified {
        hook.verified = verify(state, &hook, actor).await?;
    }
    Ok(hook)
}

#[utoipa::path(
    delete,
    path = "/webhooks/{id}",
    tag = "webhooks",
    operation_id = "deleteWebhook",
    summary = "Delete a webhook; its pending deliveries are given up",
    params(("id" = i64, Path, description = "The webhook's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        NotFound, Authenticated, Forbidden,
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Acting(actor): Acting,
    RecordId(id): RecordId,
) -> ApiResult<StatusCode> {
    if state
        .store
        .delete_webhook(&caller.account, id, &actor, now_epoch())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

/// `POST /webhooks/:id/test` (§8): a message with `object_id` 12345, sent
/// at once, whatever the webhook's state.
#[utoipa::path(
    post,
    path = "/webhooks/{id}/test",
    tag = "webhooks",
    operation_id = "testWebhook",
    summary = "Send a message with object_id 12345 at once, whatever the webhook's state",
    params(("id" = i64, Path, description = "The webhook's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Queued, to be sent at once"),
        NotFound, Authenticated, Forbidden,
    )
)]
pub async fn test(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Acting(actor): Acting,
    RecordId(id): RecordId,
) -> ApiResult<StatusCode> {
    if !state
        .store
        .enqueue_test(&caller.account, id, &actor, now_epoch(), now_millis())
        .await?
    {
        return Err(ApiError::NotFound);
    }
    state.wake.notify_one();
    Ok(StatusCode::NO_CONTENT)
}
