//! Making a webhook policy and its key (§5).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::input::Input;
use super::key::FreshKey;
use super::record::{random_name, record};
use crate::api::auth::{Acting, Admin};
use crate::api::json::JsonObject;
use crate::api::openapi::errors::{Authenticated, BadBody, Forbidden};
use crate::api::openapi::policies::{CreatedWebhookPolicy, NewWebhookPolicy};
use crate::api::state::AppState;
use crate::domain::Caller;
use crate::domain::audit::Actor;
use crate::domain::policy::{JwtAlg, NewPolicy, Policy, SignatureScheme, Signing};
use crate::domain::time::now_epoch;
use crate::error::ApiResult;

/// 201 with the record and, this once, the public key or the secret.
#[utoipa::path(
    post,
    path = "/webhook_policies",
    tag = "webhook_policies",
    operation_id = "createWebhookPolicy",
    summary = "Make a policy and its key: the public key or secret is shown this once",
    request_body(content = NewWebhookPolicy, description = "The new policy"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new policy, with `public_key_pem` or `jwt_secret`", body = CreatedWebhookPolicy),
        BadBody, Authenticated, Forbidden,
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Acting(actor): Acting,
    JsonObject(body): JsonObject,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let created = create_policy(&state, &caller, &actor, body).await?;
    let mut answer = record(&state, &created.policy);
    created.key.show_once(&mut answer);
    Ok((StatusCode::CREATED, Json(Value::Object(answer))))
}

/// A policy just made, and its key, whose public part or secret is shown
/// this once.
pub(crate) struct Created {
    pub policy: Policy,
    pub key: FreshKey,
}

/// Makes a policy of `caller`'s account and its key from the fields of
/// `body` (422 with every problem).
pub(crate) async fn create_policy(
    state: &AppState,
    caller: &Caller,
    actor: &Actor,
    body: Map<String, Value>,
) -> ApiResult<Created> {
    let input = Input::read(body);
    let mut errors = input.errors;
    let scheme = input.signature_scheme.unwrap_or(SignatureScheme::Jws);
    let alg = match (input.jwt_alg, scheme) {
        (Some(alg), _) => Some(alg),
        (None, SignatureScheme::StandardWebhooks) => Some(JwtAlg::Hs256),
        (None, SignatureScheme::Jws) => {
            if !errors.pairs().iter().any(|(f, _)| f == "jwt_alg") {
                errors.add("jwt_alg", "Jwt alg can't be blank");
            }
            None
        }
    };
    let Some(alg) = alg else {
        return Err(errors.into());
    };
    let jwt_audience = input.jwt_audience.flatten();
    let jwt_claim_expires_in = input.jwt_claim_expires_in.flatten();
    let openid_connect_discovery = input.openid_connect_discovery.unwrap_or(false);
    Signing {
        scheme,
        jwt_alg: alg,
        openid_connect_discovery,
        has_audience: jwt_audience.is_some(),
        has_expiry: jwt_claim_expires_in.is_some(),
    }
    .check(&mut errors);
    errors.into_result(())?;
    let key = FreshKey::generate(scheme, alg).await?;
    let new = NewPolicy {
        name: random_name(),
        disabled: input.disabled.unwrap_or(false),
        jwt_alg: alg,
        jwt_audience,
        jwt_claim_expires_in,
        signature_scheme: scheme,
        openid_connect_discovery,
        sealed_key: state.sealer.seal(&key.generated.private),
    };
    let policy = state
        .store
        .insert_policy(&caller.account, &new, actor, now_epoch())
        .await?;
    Ok(Created { policy, key })
}
