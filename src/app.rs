//! Application state, the router listing every route, and middleware.

use std::any::Any;
use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use tokio::sync::Notify;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::api::auth::TokenCache;
use crate::api::json::BodyRules;
use crate::api::rate_limit::RateLimiter;
use crate::api::{auth, deliveries, events, health, webhook_policies, webhooks};
use crate::config::Config;
use crate::crypto::sealing::Sealer;
use crate::delivery::publish::{Handoff, Publisher};
use crate::error::ApiError;
use crate::store::Store;

/// What the handlers share. Every request clones it (axum's `State`), so
/// it is one `Arc`: a clone is one counter, not a copy of each part (the
/// sealer alone is a cipher's whole key schedule).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    pub rate_limiter: Arc<RateLimiter>,
    /// Wakes this process's delivery workers when work is queued.
    pub wake: Arc<Notify>,
    /// Seals new policies' keys.
    pub sealer: Sealer,
    /// Commits publishes that arrive together in one commit.
    pub publisher: Publisher,
    /// Recently seen tokens, so a request costs no token lookup.
    pub tokens: Arc<TokenCache>,
    /// Verification callbacks per client address and minute.
    pub verify_limiter: RateLimiter<IpAddr>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        config: Arc<Config>,
        wake: Arc<Notify>,
        sealer: Sealer,
        handoff: Option<Arc<Handoff>>,
    ) -> AppState {
        AppState(Arc::new(Shared {
            rate_limiter: Arc::new(RateLimiter::new(config.rate_limit)),
            publisher: Publisher::start(store.clone(), wake.clone(), handoff),
            tokens: Arc::new(TokenCache::new()),
            verify_limiter: RateLimiter::per_window(config.verify_rate_limit, 60),
            store,
            config,
            wake,
            sealer,
        }))
    }
}

pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/", get(health::root))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/webhooks/enabled", get(webhooks::list_enabled))
        .route("/webhooks/disabled", get(webhooks::list_disabled))
        .route(
            "/webhooks/{id}",
            get(webhooks::get)
                .patch(webhooks::update)
                .put(webhooks::update)
                .delete(webhooks::delete),
        )
        .route("/webhooks/{id}/test", post(webhooks::test))
        .route("/webhooks/{id}/deliveries", get(deliveries::list))
        .route("/webhooks/{id}/recover", post(deliveries::recover))
        .route("/webhook_deliveries/{id}", get(deliveries::get))
        .route(
            "/webhook_deliveries/{id}/redeliver",
            post(deliveries::redeliver),
        )
        .route("/events", post(events::publish))
        .route(
            "/webhook_policies",
            get(webhook_policies::list).post(webhook_policies::create),
        )
        .route(
            "/webhook_policies/enabled",
            get(webhook_policies::list_enabled),
        )
        .route(
            "/webhook_policies/disabled",
            get(webhook_policies::list_disabled),
        )
        .route(
            "/webhook_policies/{id}",
            get(webhook_policies::get)
                .patch(webhook_policies::update)
                .put(webhook_policies::update)
                .delete(webhook_policies::delete),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        // Opened by the receiver, without a token: its code is the credential.
        .route(
            "/webhooks/{id}/verify",
            get(webhooks::verify_callback).post(webhooks::verify_callback),
        );

    let body_rules = BodyRules {
        limit: state.config.max_body_size,
        timeout: state.config.request_timeout,
    };
    Router::new()
        .route("/healthz", get(health::healthz))
        .nest("/v1", v1)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(body_rules))
        .layer(middleware::map_response(json_errors))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

/// A worker-only process answers `/healthz` and nothing else.
pub fn health_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .fallback(not_found)
        .with_state(state)
}

/// A connection on one of the places kept for health checks (every other
/// place is taken) gets `/healthz`, and 503 for anything else.
pub fn reserve_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .fallback(|| async { ApiError::Unavailable })
        .with_state(state)
}

/// The span of a request: its method and path, never its query, which may
/// carry a credential (the verification callback's code).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!("request", method = %request.method(), path = request.uri().path())
}

/// Every error answer is the contract's JSON (§2), whatever produced it:
/// one a layer or the framework made as plain text gets
/// `{"message": <reason>}` with its status and headers kept.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let message = status.canonical_reason().unwrap_or("Error");
    let body = serde_json::json!({ "message": message }).to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(body))
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    ApiError::Internal(anyhow::anyhow!("handler panicked: {detail}")).into_response()
}
