//! Herald: a self-hosted webhook service speaking the R-Service Webhooks API.

pub mod api;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod store;
pub mod telemetry;

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::state::Ops;
use crate::config::Config;
use crate::store::Store;
use crate::telemetry::Metrics;

/// Runs the whole application on `listener` until `shutdown` is cancelled.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = store::connect(&config.database).await.with_context(|| {
        format!(
            "opening the database {}",
            config::redact_url(&config.database)
        )
    })?;
    serve(store, config, listener, shutdown).await
}

/// The sockets a Herald process listens on: the API's, and the operators'
/// (`/metrics`, `/healthz`, `/readyz`) when `--metrics-listen` is given.
pub struct Listeners {
    pub api: TcpListener,
    pub metrics: Option<TcpListener>,
}

/// Serves the API and runs the delivery workers with a store that is
/// already open and migrated, binding `--metrics-listen` if given. On
/// `shutdown`, stops taking requests, lets attempts in flight finish, and
/// returns.
pub async fn serve(
    store: Arc<Store>,
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let metrics = match config.telemetry.metrics_listen {
        Some(address) => Some(
            TcpListener::bind(address)
                .await
                .with_context(|| format!("metrics-listen: listening on {address}"))?,
        ),
        None => None,
    };
    let listeners = Listeners {
        api: listener,
        metrics,
    };
    serve_on(store, config, listeners, shutdown).await
}

/// [`serve`] on listeners bound already: metrics are on when `listeners`
/// has one for them.
pub async fn serve_on(
    store: Arc<Store>,
    config: Config,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let metrics = match listeners.metrics {
        Some(_) => Metrics::new(config.telemetry.metrics_per_webhook),
        None => Metrics::default(),
    };
    let wake = Arc::new(Notify::new());
    let sealer = config.secrets.open_sealer()?;
    let workers = shutdown.child_token();
    let mut tasks = Vec::new();
    let mut ops = Ops {
        metrics: metrics.clone(),
        delivery: None,
    };
    let mut handoff = None;
    if config.role.delivers() {
        let engine = delivery::Engine::new(
            store.clone(),
            config.clone(),
            sealer.clone(),
            wake.clone(),
            Arc::new(Notify::new()),
        )?
        .with_metrics(metrics.clone());
        handoff = Some(engine.handoff());
        ops.delivery = Some(engine.running());
        tasks = start_workers(&store, &config, engine, &metrics, &workers)?;
    }
    if metrics.enabled() {
        let sampler = telemetry::sampler::run(store.clone(), metrics.clone(), workers.clone());
        tasks.push(tokio::spawn(sampler));
    }

    let limits = config.connections.clone();
    let state = api::AppState::watched(store, config, wake, sealer, handoff, ops);
    tasks.extend(listen(state, listeners, limits, &shutdown).await?);
    workers.cancel();
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}

/// Serves the API (or only the health checks, for a worker) on its
/// listener, and the operators' on theirs, until `shutdown`; returns the
/// operators' listener's task.
async fn listen(
    state: api::AppState,
    listeners: Listeners,
    limits: config::ConnectionLimits,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    let role = state.config.role;
    let reserve = api::reserve_router(state.clone());
    let app = if role.serves_api() {
        api::router(state.clone())
    } else {
        api::health_router(state.clone())
    };
    let api_listener = listeners.api;
    tracing::info!(address = %api_listener.local_addr()?, role = role.as_str(), "herald listening");
    let mut ops = None;
    if let Some(listener) = listeners.metrics {
        tracing::info!(address = %listener.local_addr()?, "metrics listening");
        let router = api::ops::router(state);
        ops = Some(tokio::spawn(api::ops::serve(
            listener,
            router,
            shutdown.clone(),
        )));
    }
    api::listener::serve(api_listener, app, reserve, limits, shutdown.clone()).await;
    Ok(ops)
}

/// Starts the engine, the mailer and retention until `workers` is cancelled.
fn start_workers(
    store: &Arc<Store>,
    config: &Arc<Config>,
    engine: delivery::Engine,
    metrics: &Metrics,
    workers: &CancellationToken,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let mail_wake = engine.mail_wake();
    let mailer = delivery::Mailer::new(store.clone(), &config.mail, mail_wake)?
        .with_metrics(metrics.clone());
    Ok(vec![
        tokio::spawn(engine.run(workers.clone())),
        tokio::spawn(mailer.run(workers.clone())),
        tokio::spawn(delivery::retention::run(
            store.clone(),
            config.retention,
            config.audit_retention,
            workers.clone(),
        )),
    ])
}
