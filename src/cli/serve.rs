//! `herald serve` and `herald migrate`.

use std::path::Path;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::DatabaseArg;
use crate::config::{Config, Settings, redact_url};
use crate::store;
use crate::telemetry::logs;

/// Serves until ctrl-c or SIGTERM.
pub(super) async fn serve(file: Option<&Path>, settings: Settings) -> anyhow::Result<()> {
    let config = Config::load(file, settings)?;
    logs::init(config.telemetry.log_format, config.telemetry.log_level)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    crate::run(config, listener, shutdown).await
}

pub(super) async fn migrate(file: Option<&Path>, database: DatabaseArg) -> anyhow::Result<()> {
    let config = database.config(file)?;
    store::connect(&config.database).await?;
    eprintln!("migrations applied to {}", redact_url(&config.database));
    Ok(())
}

/// Cancels `shutdown` on ctrl-c or SIGTERM. SIGTERM's handler is in place
/// when this returns, before the future first runs.
fn cancel_on_signal(shutdown: CancellationToken) -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let terminate = async {
            match terminate {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate => {}
        }
        shutdown.cancel();
        tracing::info!("shutting down");
    }
}
