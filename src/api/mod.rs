//! The HTTP API: one module per resource, each with its own `router()`,
//! merged here into the list of every route; the state, extractors and
//! layers they share.

pub mod api_tokens;
pub mod audit_events;
pub mod auth;
pub mod collection;
pub mod collection_doc;
pub mod console;
pub mod deliveries;
pub mod discovery;
pub mod events;
pub mod extract;
pub mod health;
pub mod http_metrics;
pub mod json;
pub mod listener;
pub mod middleware;
pub mod openapi;
pub mod ops;
pub mod rate_limit;
pub mod request_id;
pub mod state;
pub mod token_cache;
pub mod webhook_policies;
pub mod webhooks;

use axum::routing::get;
use axum::{Extension, Router};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use state::AppState;

use crate::api::json::BodyRules;
use crate::error::ApiError;

/// The routes under `/v1` behind a token. A resource's routes are served
/// and documented by merging its `router()` here: each route is added
/// there with `routes!` of handlers that carry their `#[utoipa::path]`.
fn authenticated_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::root))
        .merge(webhooks::router())
        .merge(deliveries::router())
        .merge(events::router())
        .merge(webhook_policies::router())
        .merge(api_tokens::router())
        .merge(audit_events::router())
}

/// The routes under `/v1` that need no token.
fn open_routes() -> OpenApiRouter<AppState> {
    webhooks::callback_router().routes(routes!(openapi::serve))
}

/// The health checks, beside `/v1`.
fn health_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
}

/// The OpenAPI document of every route [`router`] serves.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let v1 = authenticated_routes().merge(open_routes());
    openapi::document(health_routes().nest("/v1", v1).into_openapi())
}

/// Every route of the API: the health checks, under `/v1` each
/// resource's, behind authentication but for the verification callback
/// and the OpenAPI document, and the policies' key discovery.
pub fn router(state: AppState) -> Router {
    let (authenticated, _) = authenticated_routes().split_for_parts();
    let authenticated = authenticated.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::authenticate,
    ));
    let (open, _) = open_routes().split_for_parts();
    let document = openapi::Served::new(&openapi_document());
    let v1 = authenticated.merge(open.layer(Extension(document)));
    let (health, _) = health_routes().split_for_parts();
    let body_rules = body_rules(&state);
    let metrics = state.ops.metrics.clone();
    let mut routes = health.nest("/v1", v1).merge(discovery::router());
    if state.config.console.enabled {
        routes = routes.merge(console::router(&state));
    }
    let routes = routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    middleware::around(routes, body_rules, &metrics)
}

/// A worker-only process answers `/healthz` and `/readyz`, nothing else.
pub fn health_router(state: AppState) -> Router {
    let body_rules = body_rules(&state);
    let metrics = state.ops.metrics.clone();
    let routes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    middleware::around(routes, body_rules, &metrics)
}

/// A connection on one of the places kept for health checks (every other
/// place is taken) gets `/healthz` and `/readyz`, and 503 for anything else.
pub fn reserve_router(state: AppState) -> Router {
    let body_rules = body_rules(&state);
    let metrics = state.ops.metrics.clone();
    let routes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(|| async { ApiError::Unavailable })
        .method_not_allowed_fallback(|| async { ApiError::Unavailable })
        .with_state(state);
    middleware::around(routes, body_rules, &metrics)
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
