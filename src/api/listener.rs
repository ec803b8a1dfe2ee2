//! Client connections, bounded so that no client can lock the others out:
//! at most `--max-connections` open (beyond that new ones wait in the
//! kernel's accept queue, costing Herald no memory), at most
//! `--max-connections-per-client` from one address (more are closed as they
//! come), a few places kept for health checks when every other place is
//! taken, and a connection that sends no request for a while is closed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use ipnet::IpNet;

use crate::config::ConnectionLimits;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tower::Layer;

/// Places kept for health checks: a connection accepted while every one of
/// `--max-connections` is taken gets one, and is answered by the health
/// router alone (`/healthz`; anything else a 503), once, within
/// [`RESERVE_HEAD_TIMEOUT`].
pub const HEALTH_RESERVE: usize = 8;

/// How long a connection on a health place may take to send its request.
const RESERVE_HEAD_TIMEOUT: Duration = Duration::from_secs(2);

/// The largest read buffer of a connection, so the largest request head:
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
        .max_buf_size(MAX_READ_BUFFER);
    let mut reserve_builder = builder.clone();
    reserve_builder
        .header_read_timeout(RESERVE_HEAD_TIMEOUT.min(limits.idle_timeout))
        .keep_alive(false);
    let places = Places::new(limits.max_connections);
    let clients = Clients::new(limits.per_client, limits.exempt);
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
        let service =
            TowerToHyperService::new(axum::Extension(ConnectInfo(address)).layer(router.clone()));
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

/// What a connection holds while it is open: one of `--max-connections`,
/// or a health place.
enum Place {
    Full(#[allow(dead_code)] OwnedSemaphorePermit),
    Health(#[allow(dead_code)] OwnedSemaphorePermit),
}

/// The places connections take; closed connections give theirs back.
struct Places {
    full: Arc<Semaphore>,
    health: Arc<Semaphore>,
}

impl Places {
    fn new(max_connections: usize) -> Places {
        Places {
            full: Arc::new(Semaphore::new(max_connections.max(1))),
            health: Arc::new(Semaphore::new(HEALTH_RESERVE)),
        }
    }

    /// Waits for a free place, then accepts a connection for it. Until a
    /// place is free, new connections wait in the kernel's accept queue.
    async fn accept(
        &self,
        listener: &TcpListener,
    ) -> Option<(tokio::net::TcpStream, SocketAddr, Place)> {
        let place = match self.full.clone().try_acquire_owned() {
            Ok(permit) => Place::Full(permit),
            // The semaphores are never closed.
            Err(_) => tokio::select! {
                biased;
                Ok(permit) = self.full.clone().acquire_owned() => Place::Full(permit),
                Ok(permit) = self.health.clone().acquire_owned() => Place::Health(permit),
            },
        };
        match listener.accept().await {
            Ok((stream, address)) => {
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%error, "could not set TCP_NODELAY");
                }
                Some((stream, address, place))
            }
            Err(error) => {
                // As axum's serve does: out of file descriptors and the
                // like pass; wait a moment rather than spin on them.
                tracing::debug!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                None
            }
        }
    }
}

/// Open connections per client address (an IPv6 address counts by its
/// /64, which one client usually holds whole).
struct Clients {
    cap: usize,
    exempt: Vec<IpNet>,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One open connection of a counted client; dropping it closes the count.
struct ClientSlot {
    key: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Clients {
    fn new(cap: usize, exempt: Vec<IpNet>) -> Clients {
        Clients {
            cap,
            exempt,
            open: Arc::default(),
        }
    }

    /// A slot for one more connection of `ip`, `Some(None)` when it is not
    /// counted, `None` when it has its cap open already.
    fn admit(&self, ip: IpAddr) -> Option<Option<ClientSlot>> {
        let ip = ip.to_canonical();
        if self.cap == 0 || self.exempt.iter().any(|net| net.contains(&ip)) {
            return Some(None);
        }
        let key = client_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(Some(ClientSlot {
            key,
            open: self.open.clone(),
        }))
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// The address a client is counted by: an IPv4 address, or an IPv6
/// address's /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::net::TcpStream;

    use super::*;

    #[tokio::test]
    async fn a_connection_beyond_the_limit_waits_for_a_health_place_then_for_one_to_close() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let places = Places::new(1);
        let _first_client = TcpStream::connect(address).await.unwrap();
        let (_, _, first) = places.accept(&listener).await.unwrap();
        assert!(matches!(first, Place::Full(_)));
        let mut health = Vec::new();
        for _ in 0..HEALTH_RESERVE {
            let _client = TcpStream::connect(address).await.unwrap();
            let (_, _, place) = places.accept(&listener).await.unwrap();
            assert!(
                matches!(place, Place::Health(_)),
                "a full place was given twice"
            );
            health.push(place);
        }
        let _waiting_client = TcpStream::connect(address).await.unwrap();
        // The kernel completed the handshake, but Herald does not take it.
        let waiting =
            tokio::time::timeout(Duration::from_millis(200), places.accept(&listener)).await;
        assert!(
            waiting.is_err(),
            "a connection beyond every place was accepted"
        );
        drop(first);
        let accepted = tokio::time::timeout(Duration::from_secs(5), places.accept(&listener))
            .await
            .expect("the freed place was not reused")
            .unwrap();
        assert!(matches!(accepted.2, Place::Full(_)));
    }

    #[test]
    fn a_client_gets_its_cap_and_its_places_back_as_they_close() {
        let clients = Clients::new(2, vec!["10.0.0.0/8".parse().unwrap()]);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let first = clients.admit(ip).unwrap();
        let _second = clients.admit(ip).unwrap();
        assert!(
            clients.admit(ip).is_none(),
            "a third connection was admitted"
        );
        assert!(
            clients.admit("192.0.2.8".parse().unwrap()).is_some(),
            "another client was refused"
        );
        drop(first);
        assert!(
            clients.admit(ip).is_some(),
            "a closed connection's place stayed taken"
        );
        for _ in 0..10 {
            assert!(matches!(
                clients.admit("10.1.2.3".parse().unwrap()),
                Some(None)
            ));
        }
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_and_a_mapped_ipv4_as_ipv4() {
        let clients = Clients::new(1, vec![]);
        let _one = clients.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(
            clients
                .admit("2001:db8:1:2::ffff".parse().unwrap())
                .is_none()
        );
        assert!(clients.admit("2001:db8:1:3::1".parse().unwrap()).is_some());
        let _v4 = clients.admit("192.0.2.1".parse().unwrap()).unwrap();
        assert!(clients.admit("::ffff:192.0.2.1".parse().unwrap()).is_none());
    }
}
