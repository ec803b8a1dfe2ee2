//! Client connections, bounded so that no client can lock the others out:
//! at most `--max-connections` open (beyond that new ones wait in the
//! kernel's accept queue, costing Herald no memory), at most
//! `--max-connections-per-client` from one address (more are closed as they
//! come), a few places kept for health checks when every other place is
//! taken; a connection that sends no request for a while, or takes none of
//! its answer for a while, is closed.

mod clients;
mod deadline;
mod places;

use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::Layer;

use crate::config::ConnectionLimits;
use clients::Clients;
pub use clients::client_key;
use deadline::WriteDeadline;
pub use places::HEALTH_RESERVE;
use places::{Place, Places};

/// How long a connection on a health place may take to send its request.
const RESERVE_HEAD_TIMEOUT: Duration = Duration::from_secs(1);

/// Whether a request came through a trusted proxy (see `--trusted-proxy`):
/// then its client is the last address of its `X-Forwarded-For`.
#[derive(Clone, Copy, Debug)]
pub struct ViaTrustedProxy(pub bool);

/// The largest read buffer of a connection, and the largest request head:
/// what one connection holds besides the body it is reading (hyper's
/// default would let each grow to about 400 KB).
const MAX_READ_BUFFER: usize = 64 * 1024;

/// How long a stopping server waits for the requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown`; then accepts no more
/// connections and waits for the requests in flight to be answered (at
/// most [`SHUTDOWN_GRACE`]). Connections accepted on a health place are
/// served by `health`. Each request carries its client's address as
/// axum's [`ConnectInfo`].
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    health: axum::Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout)
        .max_buf_size(MAX_READ_BUFFER)
        .max_header_size(MAX_READ_BUFFER);
    let mut reserve_builder = builder.clone();
    reserve_builder
        .header_read_timeout(RESERVE_HEAD_TIMEOUT.min(limits.idle_timeout))
        .keep_alive(false);
    let places = Places::new(limits.max_connections);
    let clients = Clients::new(limits.per_client, limits.trusted_proxies);
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = places.accept(&listener) => accepted,
            () = shutdown.cancelled() => break,
        };
        let Some((stream, address, place)) = accepted else {
            continue;
        };
        // Over its cap, a client's new connection is closed at once.
        let Some(client) = clients.admit(address.ip()) else {
            tracing::debug!(client = %address.ip(), "connection refused: too many from this client");
            continue;
        };
        let (router, builder) = match place {
            Place::Full(_) => (&app, &builder),
            Place::Health(_) => (&health, &reserve_builder),
        };
        let peer = (
            ConnectInfo(address),
            ViaTrustedProxy(clients.trusts(address.ip())),
        );
        let router = axum::Extension(peer.1).layer(axum::Extension(peer.0).layer(router.clone()));
        let stream = WriteDeadline::new(stream, limits.write_timeout);
        let service = TowerToHyperService::new(router);
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "client connection ended with an error");
            }
            drop((place, client));
        });
    }
    drop(listener);
    // Idle connections close at once; one whose client stalls mid-request
    // (its body unsent, the answer unread) would hold shutdown for good.
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "client connections still mid-request at shutdown; they are closed unanswered"
        );
    }
}
