//! The Webhook Policies API (§5): how messages to webhooks are signed.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing;
use axum::{Json, Router};
use rand::RngCore;
use serde_json::{Map, Value, json};

use crate::api::auth::{Acting, Admin};
use crate::api::collection::{self, CollectionSpec, State as ListState};
use crate::api::extract::RecordId;
use crate::api::json::JsonObject;
use crate::api::state::AppState;
use crate::crypto::keys;
use crate::domain::ValidationErrors;
use crate::domain::list::{FieldKind, ListField};
use crate::domain::node_id::node_id;
use crate::domain::policy::{
    JwtAlg, MAX_AUDIENCE_BYTES, MAX_EXPIRES_IN_MINUTES, NewPolicy, Policy, PolicyChanges,
};
use crate::domain::time::{format_epoch, now_epoch};
use crate::error::{ApiError, ApiResult};
use crate::store::PolicyDeletion;

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
/// Readonly fields a client may send back; ignored.
const READONLY: [&str; 7] = [
    "id",
    "nodeID",
    "name",
    "created_at",
    "updated_at",
    "public_key_pem",
    "jwt_secret",
];

/// The webhook policies API (§5).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhook_policies", routing::get(list).post(create))
        .route("/webhook_policies/enabled", routing::get(list_enabled))
        .route("/webhook_policies/disabled", routing::get(list_disabled))
        .route(
            "/webhook_policies/{id}",
            routing::get(get).patch(update).put(update).delete(delete),
        )
}

pub async fn list(
    state: State<AppState>,
    admin: Admin,
    raw: RawQuery,
) -> ApiResult<impl IntoResponse> {
    list_in_state(state, admin, raw, None).await
}

pub async fn list_enabled(
    state: State<AppState>,
    admin: Admin,
    raw: RawQuery,
) -> ApiResult<impl IntoResponse> {
    list_in_state(state, admin, raw, Some(ListState::Enabled)).await
}

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

/// 201 with the record and, this once, the public key or the secret.
pub async fn create(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Acting(actor): Acting,
    JsonObject(body): JsonObject,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let input = Input::read(body);
    let mut errors = input.errors;
    let alg = match input.jwt_alg {
        Some(alg) => Some(alg),
        None => {
            if !errors.pairs().iter().any(|(f, _)| f == "jwt_alg") {
                errors.add("jwt_alg", "Jwt alg can't be blank");
            }
            None
        }
    };
    let Some(alg) = alg else {
        return Err(errors.into());
    };
    errors.into_result(())?;
    // RSA key generation takes a while: keep it off the async workers.
    let generated = tokio::task::spawn_blocking(move || keys::generate(alg))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let new = NewPolicy {
        name: random_name(),
        disabled: input.disabled.unwrap_or(false),
        jwt_alg: alg,
        jwt_audience: input.jwt_audience.flatten(),
        jwt_claim_expires_in: input.jwt_claim_expires_in.flatten(),
        sealed_key: state.sealer.seal(&generated.private),
    };
    let policy = state
        .store
        .insert_policy(&caller.account, &new, &actor, now_epoch())
        .await?;
    let mut answer = record(&state, &policy);
    if let Some(pem) = generated.public_key_pem {
        answer.insert("public_key_pem".into(), Value::String(pem));
    }
    if let Some(secret) = generated.jwt_secret {
        answer.insert("jwt_secret".into(), Value::String(secret));
    }
    Ok((StatusCode::CREATED, Json(Value::Object(answer))))
}

/// PATCH, and PUT as its alias. `jwt_alg` cannot change: a receiver's key
/// must stay valid.
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
    let changes = PolicyChanges {
        disabled: input.disabled,
        jwt_audience: input.jwt_audience,
        jwt_claim_expires_in: input.jwt_claim_expires_in,
    };
    let changes = errors.into_result(changes)?;
    let policy = state
        .store
        .update_policy(&caller.account, id, &changes, &actor, now_epoch())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(Value::Object(record(&state, &policy))))
}

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

/// 56 random hex characters.
fn random_name() -> String {
    let mut bytes = [0u8; 28];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The full record: every field, blank ones as null. Never the key.
fn record(state: &AppState, policy: &Policy) -> Map<String, Value> {
    let json = json!({
        "id": policy.id,
        "nodeID": node_id(&state.config.instance_domain, "WebhookPolicy", policy.id),
        "name": policy.name,
        "disabled": policy.disabled,
        "jwt_alg": policy.jwt_alg.as_str(),
        "jwt_audience": policy.jwt_audience,
        "jwt_claim_expires_in": policy.jwt_claim_expires_in,
        "created_at": format_epoch(policy.created_at),
        "updated_at": format_epoch(policy.updated_at),
    });
    match json {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal"),
    }
}

#[derive(Default)]
struct Input {
    jwt_alg: Option<JwtAlg>,
    disabled: Option<bool>,
    jwt_audience: Option<Option<String>>,
    jwt_claim_expires_in: Option<Option<i64>>,
    errors: ValidationErrors,
}

impl Input {
    fn read(body: Map<String, Value>) -> Input {
        let mut input = Input::default();
        for (key, value) in body {
            match key.as_str() {
                "jwt_alg" => match value.as_str().map(str::trim) {
                    Some("") | None if value.is_null() || value.as_str().is_some() => {
                        input.errors.add("jwt_alg", "Jwt alg can't be blank")
                    }
                    Some(name) => match JwtAlg::parse(&name.to_ascii_lowercase()) {
                        Some(alg) => input.jwt_alg = Some(alg),
                        None => input.errors.add("jwt_alg", "Jwt alg is not included in the list"),
                    },
                    None => input.errors.add("jwt_alg", "Jwt alg must be a string"),
                },
                "disabled" => match &value {
                    Value::Bool(b) => input.disabled = Some(*b),
                    Value::String(s) => input.disabled = Some(crate::domain::list::parse_bool_text(s)),
                    Value::Null => input.disabled = Some(false),
                    _ => input.errors.add("disabled", "Disabled must be true or false"),
                },
                "jwt_audience" => match &value {
                    Value::Null => input.jwt_audience = Some(None),
                    Value::String(s) if s.len() > MAX_AUDIENCE_BYTES => input
                        .errors
                        .add("jwt_audience", format!("Jwt audience is too long (maximum is {MAX_AUDIENCE_BYTES} bytes)")),
                    Value::String(s) => input.jwt_audience = Some((!s.is_empty()).then(|| s.clone())),
                    _ => input.errors.add("jwt_audience", "Jwt audience must be a string"),
                },
                "jwt_claim_expires_in" => match &value {
                    Value::Null => input.jwt_claim_expires_in = Some(None),
                    Value::Number(n) => match n.as_i64() {
                        Some(minutes @ 1..=MAX_EXPIRES_IN_MINUTES) => input.jwt_claim_expires_in = Some(Some(minutes)),
                        _ => input.errors.add(
                            "jwt_claim_expires_in",
                            format!("Jwt claim expires in must be whole minutes from 1 to {MAX_EXPIRES_IN_MINUTES}"),
                        ),
                    },
                    _ => input.errors.add("jwt_claim_expires_in", "Jwt claim expires in must be a number of minutes"),
                },
                k if READONLY.contains(&k) => {}
                _ => input.errors.add(key.clone(), format!("{key} is not a known field")),
            }
        }
        input
    }
}
