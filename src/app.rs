//! Application state, the router listing every route, and middleware.

use std::any::Any;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::Notify;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::api::auth::TokenCache;
use crate::api::rate_limit::RateLimiter;
use crate::api::{auth, deliveries, events, health, webhook_policies, webhooks};
use crate::config::Config;
use crate::crypto::sealing::Sealer;
use crate::error::ApiError;
use crate::store::Store;
use crate::store::group_commit::{LeaseTaker, Publisher};

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
    pub store: Arc<Store>,
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
}

impl AppState {
    pub fn new(
        store: Arc<Store>,
        config: Arc<Config>,
        wake: Arc<Notify>,
        sealer: Sealer,
        taker: Option<Arc<dyn LeaseTaker>>,
    ) -> AppState {
        AppState(Arc::new(Shared {
            rate_limiter: Arc::new(RateLimiter::new(config.rate_limit)),
            publisher: Publisher::start(store.clone(), wake.clone(), taker),
            tokens: Arc::new(TokenCache::new()),
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

    Router::new()
        .route("/healthz", get(health::healthz))
        .nest("/v1", v1)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_body_size))
        .layer(TraceLayer::new_for_http())
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
