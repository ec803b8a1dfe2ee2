//! The operators' listener (`--metrics-listen`): `/metrics` for Prometheus,
//! `/healthz` and `/readyz` for probes, without a token. It is a port of
//! its own, never the API's, so only the monitoring network reaches it and
//! no flood of API connections stands in its way.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::health::{healthz, readyz};
use crate::api::json::BodyRules;
use crate::api::middleware;
use crate::api::state::AppState;
use crate::error::ApiError;
use crate::telemetry::{Metrics, metrics::CONTENT_TYPE};

/// `/metrics`, `/healthz` and `/readyz`; anything else is a 404. Its own
/// requests are not counted in the API's metrics.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state);
    middleware::around(routes, BodyRules::default(), &Metrics::default())
}

/// Serves `router` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) {
    if let Err(error) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::error!(%error, "the metrics listener failed");
    }
}

/// Every metric, in the OpenMetrics text format; the pools are read now,
/// the queue's figures are the sampler's latest.
async fn metrics(State(state): State<AppState>) -> Response {
    let metrics = &state.ops.metrics;
    metrics.pools(&state.store.pool_stats());
    match metrics.encode() {
        Some(text) => {
            let mut response = (StatusCode::OK, text).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            response
        }
        None => ApiError::NotFound.into_response(),
    }
}
