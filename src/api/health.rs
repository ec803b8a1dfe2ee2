//! `GET /healthz` for scripts and load balancers, and `GET /v1`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use crate::api::auth::Authenticated;
use crate::api::state::AppState;

/// 200 when the database answers, else 503.
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ok" }))),
        Err(error) => {
            tracing::warn!(
                error = format!("{:#}", anyhow::Error::from(error)),
                "health check failed"
            );
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "message": "Database unavailable" })),
            )
        }
    }
}

/// `GET /v1` answers `{}` (§2).
pub async fn root(_caller: Authenticated) -> Json<serde_json::Value> {
    Json(json!({}))
}
