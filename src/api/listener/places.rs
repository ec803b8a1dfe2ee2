//! The places connections take: `--max-connections` of them, and a few
//! more kept for health checks when those are all taken. Until a place is
//! free, new connections wait in the kernel's accept queue.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Places kept for health checks: a connection accepted while every one of
/// `--max-connections` is taken gets one, and is answered by the health
/// router alone (`/healthz`, `/readyz`; anything else a 503), once, within
/// `RESERVE_HEAD_TIMEOUT`.
pub const HEALTH_RESERVE: usize = 8;

/// What a connection holds while it is open; dropped, it frees the place.
pub(super) enum Place {
    Full(#[allow(dead_code)] OwnedSemaphorePermit),
    Health(#[allow(dead_code)] OwnedSemaphorePermit),
}

pub(super) struct Places {
    full: Arc<Semaphore>,
    health: Arc<Semaphore>,
}

impl Places {
    pub(super) fn new(max_connections: usize) -> Places {
        Places {
            full: Arc::new(Semaphore::new(max_connections.max(1))),
            health: Arc::new(Semaphore::new(HEALTH_RESERVE)),
        }
    }

    /// Waits for a free place, then accepts a connection for it. A
    /// connection that waited for a health place takes a full one if one
    /// was freed meanwhile.
    pub(super) async fn accept(
        &self,
        listener: &TcpListener,
    ) -> Option<(TcpStream, SocketAddr, Place)> {
        let place = match self.full.clone().try_acquire_owned() {
            Ok(permit) => Place::Full(permit),
            // The semaphores are never closed.
            Err(_) => tokio::select! {
                biased;
                Ok(permit) = self.full.clone().acquire_owned() => Place::Full(permit),
                Ok(permit) = self.health.clone().acquire_owned() => Place::Health(permit),
            },
        };
        let (stream, address) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // As axum's serve does: out of file descriptors and the
                // like pass; wait a moment rather than spin on them.
                tracing::debug!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                return None;
            }
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let place = match place {
            Place::Health(reserve) => match self.full.clone().try_acquire_owned() {
                Ok(permit) => Place::Full(permit),
                Err(_) => Place::Health(reserve),
            },
            full => full,
        };
        Some((stream, address, place))
    }
}

#[cfg(test)]
mod tests {
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

    #[tokio::test]
    async fn a_full_place_freed_while_waiting_for_a_health_place_is_taken() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let places = Places::new(1);
        let _first_client = TcpStream::connect(address).await.unwrap();
        let (_, _, first) = places.accept(&listener).await.unwrap();
        // A health place is free, so this accept waits for a connection
        // holding one; meanwhile the full place is freed.
        let accepting = places.accept(&listener);
        drop(first);
        let _second_client = TcpStream::connect(address).await.unwrap();
        let (_, _, second) = accepting.await.unwrap();
        assert!(matches!(second, Place::Full(_)));
    }
}
