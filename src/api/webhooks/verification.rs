//! The `webhook.verify` handshake (§8): sending a code, and the callback
//! that proves the receiver wants our messages.

use axum::Json;
use axum::extract::{RawQuery, State};
use serde_json::{Value, json};

use crate::api::extract::{ClientIp, RecordId};
use crate::api::listener::client_key;
use crate::api::openapi::errors::Error;
use crate::api::openapi::webhooks::Verified;
use crate::api::state::AppState;
use crate::crypto::tokens::{hash_token, verification_code};
use crate::domain::audit::Actor;
use crate::domain::time::{now_epoch, now_millis};
use crate::domain::webhook::{REDACTED_CODE, callback_url};
use crate::domain::{Verification, Webhook};
use crate::error::{ApiError, ApiResult};

/// `GET|POST /webhooks/:id/verify?code=...` (§8): the receiver proves it
/// wants our messages. No token: the code is the credential, so attempts
/// are limited per client address (429 past `--verify-rate-limit` a minute).
#[utoipa::path(
    method(get, post),
    path = "/webhooks/{id}/verify",
    tag = "verification",
    operation_id = "verifyWebhook",
    summary = "Verify a webhook: the callback of its webhook.verify message",
    params(
        ("id" = i64, Path, description = "The webhook's id"),
        ("code" = String, Query, description = "The code of the webhook.verify message"),
        ("expires_at" = Option<i64>, Query, description = "When the code expires, in epoch seconds (as sent; the code alone counts)"),
    ),
    responses(
        (status = 200, description = "The webhook is verified", body = Verified),
        (status = 404, description = "No such webhook, or a wrong, used or expired code", body = Error),
        (status = 429, description = "Past `--verify-rate-limit` callbacks a minute from this client address", body = Error,
            headers(("Retry-After" = i64, description = "Seconds until this address may try again"))),
    )
)]
pub async fn verify_callback(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    RecordId(id): RecordId,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let now = now_epoch();
    if let Some(budget) = state.verify_limiter.check(client_key(client), now)
        && !budget.allowed
    {
        return Err(ApiError::TooManyRequests {
            retry_after_secs: (budget.reset - now).max(1) as u64,
        });
    }
    let code = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .filter(|c| !c.is_empty())
        .ok_or(ApiError::NotFound)?;
    if state
        .store
        .confirm_verification(id, &hash_token(&code), &Actor::anonymous(client), now)
        .await?
    {
        Ok(Json(json!({ "message": "Webhook verified" })))
    } else {
        Err(ApiError::NotFound)
    }
}

/// Sends the `webhook.verify` handshake for a webhook whose URI is not yet
/// verified, unless verification is off or the account verified that URI
/// already. Returns whether the webhook is verified now.
pub(crate) async fn send_verification(
    state: &AppState,
    hook: &Webhook,
    actor: &Actor,
) -> ApiResult<bool> {
    let config = &state.config;
    let verified = !config.delivery.require_verification
        || state
            .store
            .uri_verified(&hook.account, &hook.uri, hook.id)
            .await?;
    let verification = if verified {
        Verification::Verified
    } else {
        let code = verification_code();
        let expires_at = now_epoch() + VERIFY_VALID_SECS;
        let callback = callback_url(&config.public_url, hook.id, REDACTED_CODE, expires_at);
        Verification::Pending {
            code_hash: hash_token(&code),
            expires_at,
            payload: json!({ "callback": callback }),
            sealed_code: state.sealer.seal(code.as_bytes()),
        }
    };
    state
        .store
        .set_verification(
            &hook.account,
            hook.id,
            &verification,
            actor,
            now_epoch(),
            now_millis(),
        )
        .await?;
    if !verified {
        state.wake.notify_one();
    }
    Ok(verified)
}

/// A verification code lives 24 hours.
const VERIFY_VALID_SECS: i64 = 24 * 3600;
