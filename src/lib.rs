//! Herald: a self-hosted webhook service speaking the R-Service Webhooks API.

pub mod api;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod store;

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::store::Store;

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

/// Serves the API and runs the delivery workers with a store that is
/// already open and migrated. On `shutdown`, stops taking requests, lets
/// attempts in flight finish, and returns.
pub async fn serve(
    store: Arc<Store>,
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let wake = Arc::new(Notify::new());
    let mail_wake = Arc::new(Notify::new());
    let sealer = config.secrets.open_sealer()?;
    let workers = shutdown.child_token();
    let mut tasks = Vec::new();
    let mut handoff = None;
    if config.role.delivers() {
        let engine = delivery::Engine::new(
            store.clone(),
            config.clone(),
            sealer.clone(),
            wake.clone(),
            mail_wake.clone(),
        )?;
        handoff = Some(engine.handoff());
        let mailer = delivery::Mailer::new(store.clone(), &config.mail, mail_wake)?;
        tasks.push(tokio::spawn(engine.run(workers.clone())));
        tasks.push(tokio::spawn(mailer.run(workers.clone())));
        tasks.push(tokio::spawn(delivery::retention::run(
            store.clone(),
            config.retention,
            config.audit_retention,
            workers.clone(),
        )));
    }

    let role = config.role;
    let limits = config.connections.clone();
    let state = api::AppState::new(store, config, wake, sealer, handoff);
    let reserve = api::reserve_router(state.clone());
    let app = if role.serves_api() {
        api::router(state)
    } else {
        api::health_router(state)
    };
    tracing::info!(address = %listener.local_addr()?, role = role.as_str(), "herald listening");
    api::listener::serve(listener, app, reserve, limits, shutdown.clone()).await;
    workers.cancel();
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}
