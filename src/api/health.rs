//! `GET /healthz` (liveness) and `GET /readyz` (readiness) for load
//! balancers and orchestrators, and `GET /v1`.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use crate::api::auth::Authenticated;
use crate::api::openapi::errors::{Authenticated as AuthErrors, Error};
use crate::api::openapi::health::{Empty, Status};
use crate::api::state::AppState;
use crate::store::NotReady;

/// How long liveness and readiness wait for the database: a probe gives up
/// soon, and a database that takes longer is not fit to serve anyway.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// 200 when the database answers within [`READY_TIMEOUT`], else 503.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    operation_id = "healthz",
    summary = "Liveness: the process answers and so does its database",
    responses(
        (status = 200, description = "Alive", body = Status),
        (status = 503, description = "The database does not answer, or every connection place is taken", body = Error),
    )
)]
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let failure = match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => return (StatusCode::OK, Json(json!({ "status": "ok" }))),
        Ok(Err(error)) => format!("{:#}", anyhow::Error::from(error)),
        Err(_) => format!("no answer within {READY_TIMEOUT:?}"),
    };
    tracing::warn!(error = failure, "health check failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "message": "Database unavailable" })),
    )
}

/// 200 when this process can do its work: the database answers within
/// [`READY_TIMEOUT`], every migration is applied, and, when its role
/// delivers, its delivery loop runs. Else 503 with the reason.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    operation_id = "readyz",
    summary = "Readiness: database, migrations and (when delivering) the delivery loop",
    responses(
        (status = 200, description = "Ready", body = Status),
        (status = 503, description = "Not ready: the reason, or every connection place is taken", body = Error),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match not_ready(&state).await {
        None => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "message": format!("Not ready: {reason}") })),
        ),
    }
}

async fn not_ready(state: &AppState) -> Option<&'static str> {
    let reason = match tokio::time::timeout(READY_TIMEOUT, state.store.readiness()).await {
        Err(_) => Some("the database did not answer in time"),
        Ok(Ok(())) => None,
        Ok(Err(not_ready)) => {
            let reason = match &not_ready {
                NotReady::Unreachable(_) => "the database does not answer",
                NotReady::MigrationsPending(_) => "database migrations are not applied",
                NotReady::FileReplaced(_) => "the database file was removed or replaced",
            };
            tracing::warn!(
                error = format!("{:#}", anyhow::Error::from(not_ready)),
                "not ready"
            );
            Some(reason)
        }
    };
    if reason.is_some() {
        return reason;
    }
    let delivering = state.ops.delivery.as_ref().is_some_and(|d| d.is_running());
    if state.config.role.delivers() && !delivering {
        return Some("the delivery loop is not running");
    }
    None
}

/// `GET /v1` answers `{}` (§2).
#[utoipa::path(
    get,
    path = "/",
    tag = "meta",
    operation_id = "root",
    summary = "An empty object, for any valid token",
    security(("bearer" = [])),
    responses((status = 200, description = "`{}`", body = Empty), AuthErrors)
)]
pub async fn root(_caller: Authenticated) -> Json<serde_json::Value> {
    Json(json!({}))
}
