//! The HTTP API: one module per resource, each with its own `router()`,
//! merged here into the list of every route; the state, extractors and
//! layers they share.

pub mod api_tokens;
pub mod audit_events;
pub mod auth;
pub mod collection;
pub mod deliveries;
pub mod events;
pub mod extract;
pub mod health;
pub mod json;
pub mod listener;
pub mod middleware;
pub mod rate_limit;
pub mod state;
pub mod token_cache;
pub mod webhook_policies;
pub mod webhooks;

use axum::Router;
use axum::routing::get;

pub use state::AppState;

use crate::api::json::BodyRules;
use crate::error::ApiError;

/// Every route of the API: `/healthz`, and under `/v1` each resource's,
/// behind authentication but for the verification callback.
pub fn router(state: AppState) -> Router {
    let authenticated = Router::new()
        .route("/", get(health::root))
        .merge(webhooks::router())
        .merge(deliveries::router())
        .merge(events::router())
        .merge(webhook_policies::router())
        .merge(api_tokens::router())
        .merge(audit_events::router())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    let v1 = authenticated.merge(webhooks::callback_router());
    let body_rules = body_rules(&state);
    let routes = Router::new()
        .route("/healthz", get(health::healthz))
        .nest("/v1", v1)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    middleware::around(routes, body_rules)
}

/// A worker-only process answers `/healthz` and nothing else.
pub fn health_router(state: AppState) -> Router {
    let body_rules = body_rules(&state);
    let routes = Router::new()
        .route("/healthz", get(health::healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    middleware::around(routes, body_rules)
}

/// A connection on one of the places kept for health checks (every other
/// place is taken) gets `/healthz`, and 503 for anything else.
pub fn reserve_router(state: AppState) -> Router {
    let body_rules = body_rules(&state);
    let routes = Router::new()
        .route("/healthz", get(health::healthz))
        .fallback(|| async { ApiError::Unavailable })
        .method_not_allowed_fallback(|| async { ApiError::Unavailable })
        .with_state(state);
    middleware::around(routes, body_rules)
}

fn body_rules(state: &AppState) -> BodyRules {
    BodyRules {
        limit: state.config.max_body_size,
        timeout: state.config.request_timeout,
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
