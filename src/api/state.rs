//! What the handlers share: the store, the configuration, the publisher and
//! the per-process caches and budgets.

use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::api::rate_limit::RateLimiter;
use crate::api::token_cache::TokenCache;
use crate::config::Config;
use crate::crypto::sealing::Sealer;
use crate::delivery::engine::Running;
use crate::delivery::publish::{Handoff, Publisher};
use crate::store::Store;
use crate::telemetry::Metrics;

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
    /// Verification callbacks per client address and minute.
    pub verify_limiter: RateLimiter<IpAddr>,
    /// Key discovery requests (no token) per client address and minute.
    pub discovery_limiter: RateLimiter<IpAddr>,
    /// What the operators watch: metrics, and the delivery loop's state.
    pub ops: Ops,
}

/// What the operators watch of this process.
#[derive(Clone, Default)]
pub struct Ops {
    /// Off unless `--metrics-listen` is given.
    pub metrics: Metrics,
    /// This process's delivery engine, when its role delivers: readiness
    /// needs its claim loop running.
    pub delivery: Option<Running>,
}

impl AppState {
    pub fn new(
        store: Arc<Store>,
        config: Arc<Config>,
        wake: Arc<Notify>,
        sealer: Sealer,
        handoff: Option<Arc<Handoff>>,
    ) -> AppState {
        AppState::watched(store, config, wake, sealer, handoff, Ops::default())
    }

    /// [`AppState::new`], with what the operators watch.
    pub fn watched(
        store: Arc<Store>,
        config: Arc<Config>,
        wake: Arc<Notify>,
        sealer: Sealer,
        handoff: Option<Arc<Handoff>>,
        ops: Ops,
    ) -> AppState {
        AppState(Arc::new(Shared {
            rate_limiter: Arc::new(RateLimiter::new(config.rate_limit)),
            publisher: Publisher::start(store.clone(), wake.clone(), handoff),
            tokens: if config.role.serves_api() {
                TokenCache::start(store.clone())
            } else {
                TokenCache::unwatched()
            },
            verify_limiter: RateLimiter::per_window(config.verify_rate_limit, 60),
            discovery_limiter: RateLimiter::per_window(config.verify_rate_limit, 60),
            store,
            config,
            wake,
            sealer,
            ops,
        }))
    }
}
