//! OpenID Connect discovery of a policy's public keys, outside `/v1` and
//! without a token: `<iss>/.well-known/openid-configuration` and the JWKS
//! it points to, for policies with `openid_connect_discovery`. Limited per
//! client address like the verification callback.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::CACHE_CONTROL;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Router, http::HeaderValue};
use serde_json::{Map, Value, json};

use crate::api::extract::ClientIp;
use crate::api::listener::client_key;
use crate::api::state::AppState;
use crate::crypto::jwk;
use crate::crypto::keys::SigningKey;
use crate::domain::AccountId;
use crate::domain::policy::{Policy, SignatureScheme, discovery_issuer};
use crate::domain::time::now_epoch;
use crate::error::{ApiError, ApiResult};

/// How long receivers may cache the documents: an hour, well within a
/// rotation's default overlap of a day.
const CACHE_CONTROL_VALUE: &str = "public, max-age=3600";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/{account}/webhook_policies/{id}/.well-known/openid-configuration",
            get(configuration),
        )
        .route("/{account}/webhook_policies/{id}/jwks.json", get(jwks))
}

/// The discovery document: the issuer and where its keys are.
async fn configuration(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    Path((account, id)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    limit(&state, client)?;
    let (account, id) = parse(&account, &id)?;
    let policy = state
        .store
        .get_policy(&account, id)
        .await?
        .filter(discoverable)
        .ok_or(ApiError::NotFound)?;
    let issuer = discovery_issuer(&state.config.public_url, &account, id);
    let document = json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks.json"),
        "id_token_signing_alg_values_supported": [policy.jwt_alg.jws_name()],
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
    });
    Ok(cached(document))
}

/// The policy's public keys (RFC 7517): the current one first, then those
/// a rotation replaced whose overlap is not over.
async fn jwks(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    Path((account, id)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    limit(&state, client)?;
    let (account, id) = parse(&account, &id)?;
    let keys = state
        .store
        .policy_keys(&account, id, now_epoch())
        .await?
        .filter(|keys| discoverable(&keys.policy))
        .ok_or(ApiError::NotFound)?;
    let alg = keys.policy.jwt_alg;
    let sealed = std::iter::once(&keys.current).chain(keys.retired.iter().map(|r| &r.sealed_key));
    let mut published: Vec<Value> = Vec::new();
    for sealed in sealed {
        let private = state
            .sealer
            .open(sealed)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("policy {id}: {e}")))?;
        let key = SigningKey::load(alg, &private).map_err(|e| ApiError::Internal(e.into()))?;
        published.extend(jwk::public_jwk(alg, &key).map(Value::Object));
    }
    let mut body = Map::new();
    body.insert("keys".into(), Value::Array(published));
    Ok(cached(Value::Object(body)))
}

/// Only JWS policies with public keys and discovery switched on are shown.
fn discoverable(policy: &Policy) -> bool {
    policy.openid_connect_discovery
        && policy.signature_scheme == SignatureScheme::Jws
        && policy.jwt_alg.is_public_key()
}

/// A path that names no account or policy id names nothing: 404.
fn parse(account: &str, id: &str) -> ApiResult<(AccountId, i64)> {
    let account = AccountId::parse(account).map_err(|_| ApiError::NotFound)?;
    let id = id.parse().map_err(|_| ApiError::NotFound)?;
    Ok((account, id))
}

fn limit(state: &AppState, client: std::net::IpAddr) -> ApiResult<()> {
    let now = now_epoch();
    match state.discovery_limiter.check(client_key(client), now) {
        Some(budget) if !budget.allowed => Err(ApiError::TooManyRequests {
            retry_after_secs: (budget.reset - now).max(1) as u64,
        }),
        _ => Ok(()),
    }
}

fn cached(body: Value) -> impl IntoResponse {
    (
        [(CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL_VALUE))],
        Json(body),
    )
}
