//! `POST /webhook_policies/:id/rotate`: a new key signs from now on; the
//! one it replaces still verifies for an overlap.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::key::FreshKey;
use super::record::record;
use crate::api::auth::{Acting, Admin};
use crate::api::extract::RecordId;
use crate::api::json::JsonObject;
use crate::api::openapi::errors::{Authenticated, BadBody, Forbidden, NotFound};
use crate::api::openapi::policies::{RotatedWebhookPolicy, WebhookPolicyRotation};
use crate::api::state::AppState;
use crate::domain::ValidationErrors;
use crate::domain::policy::{DEFAULT_ROTATION_OVERLAP_SECS, JwtAlg, MAX_ROTATION_OVERLAP_SECS};
use crate::domain::time::{format_epoch, now_epoch};
use crate::error::{ApiError, ApiResult};

/// 200 with the record, the new public key and `key_id` or the new secret
/// (shown this once), and when the old key stops counting.
#[utoipa::path(
    post,
    path = "/webhook_policies/{id}/rotate",
    tag = "webhook_policies",
    operation_id = "rotateWebhookPolicyKey",
    summary = "Give a policy a new key: the new public key or secret is shown this once; the old key still verifies for `overlap`",
    params(("id" = i64, Path, description = "The policy's id")),
    request_body(content = WebhookPolicyRotation, description = "How long the old key keeps verifying"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The policy with its new key", body = RotatedWebhookPolicy),
        BadBody, NotFound, Authenticated, Forbidden,
    )
)]
pub async fn rotate(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Acting(actor): Acting,
    RecordId(id): RecordId,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<Value>> {
    let mut errors = ValidationErrors::new();
    let overlap = read_overlap(&body, &mut errors);
    for key in body.keys().filter(|k| *k != "overlap") {
        errors.add(key.clone(), format!("{key} is not a known field"));
    }
    let current = state
        .store
        .get_policy(&caller.account, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if current.jwt_alg == JwtAlg::None {
        errors.add("jwt_alg", "A none policy has no key to rotate");
    }
    errors.into_result(())?;
    let fresh = FreshKey::generate(current.signature_scheme, current.jwt_alg).await?;
    let now = now_epoch();
    let overlap_ends_at = (overlap > 0).then(|| format_epoch(now + overlap));
    let details = json!({
        "overlap_secs": overlap,
        "overlap_ends_at": overlap_ends_at,
        "key_id": fresh.key_id,
    });
    let sealed = state.sealer.seal(&fresh.generated.private);
    let policy = state
        .store
        .rotate_policy_key(&caller.account, id, &sealed, overlap, details, &actor, now)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut answer = record(&state, &policy);
    answer.insert("overlap_ends_at".into(), json!(overlap_ends_at));
    fresh.show_once(&mut answer);
    Ok(Json(Value::Object(answer)))
}

/// `overlap`: whole seconds, or a duration such as `24h` or `90m`; at
/// most 30 days, 24 hours when absent or null.
fn read_overlap(body: &serde_json::Map<String, Value>, errors: &mut ValidationErrors) -> i64 {
    let bad = "Overlap must be seconds or a duration such as 24h, at most 30 days";
    let secs = match body.get("overlap") {
        None | Some(Value::Null) => Some(DEFAULT_ROTATION_OVERLAP_SECS),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(text)) => humantime::parse_duration(text.trim())
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok()),
        Some(_) => None,
    };
    match secs {
        Some(secs @ 0..=MAX_ROTATION_OVERLAP_SECS) => secs,
        _ => {
            errors.add("overlap", bad);
            0
        }
    }
}
