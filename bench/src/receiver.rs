//! The receiver on loopback that Herald delivers to: it counts deliveries
//! and notes when each arrived, answering `500` to --error-share of them.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The receiver's server, on a port of its own on 127.0.0.1.
pub struct Receiver {
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub url: String,
    pub recorder: Arc<Recorder>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Receiver {
    /// Listens and serves in a task of its own until [`Receiver::stop`].
    pub async fn start(error_share: f64) -> anyhow::Result<Receiver> {
        let recorder = Arc::new(Recorder::new(error_share));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let app = Router::new().fallback(receive).with_state(recorder.clone());
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Receiver {
            url,
            recorder,
            server,
        })
    }

    /// Stops serving (the task is aborted).
    pub fn stop(&self) {
        self.server.abort();
    }
}

/// One delivery that arrived.
pub struct Arrival {
    /// Its `X-R-Service-Delivery` header.
    pub uuid: String,
    pub object_id: i64,
    pub at: Instant,
}

/// What the receiver has seen since it was last taken.
#[derive(Default)]
pub struct Recorder {
    arrivals: Mutex<Vec<Arrival>>,
    count: AtomicUsize,
    /// Percent of requests answered `500`.
    error_share: f64,
    requests: AtomicU64,
}

/// Answers every request: `/slow...` only after Herald's timeout, some
/// with `500` (--error-share), the rest noted as arrived.
async fn receive(
    State(recorder): State<Arc<Recorder>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let at = Instant::now();
    if uri.path().starts_with("/slow") {
        tokio::time::sleep(Duration::from_secs(30)).await;
        return (StatusCode::OK, "late");
    }
    if recorder.fails_next() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "error");
    }
    let uuid = headers
        .get("x-r-service-delivery")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let object_id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["object_id"].as_i64())
        .unwrap_or(-1);
    recorder.arrivals.lock().unwrap().push(Arrival {
        uuid,
        object_id,
        at,
    });
    recorder.count.fetch_add(1, Ordering::Relaxed);
    (StatusCode::OK, "ok")
}

impl Recorder {
    fn new(error_share: f64) -> Recorder {
        Recorder {
            error_share,
            ..Recorder::default()
        }
    }

    /// Whether this request is one of the `error_share` percent answered
    /// `500`: the n-th request fails when n × share / 100 passes a whole
    /// number, so failures are spread evenly.
    fn fails_next(&self) -> bool {
        if self.error_share <= 0.0 {
            return false;
        }
        let n = self.requests.fetch_add(1, Ordering::Relaxed) as f64;
        let share = self.error_share / 100.0;
        ((n + 1.0) * share).floor() > (n * share).floor()
    }

    /// The arrivals so far, leaving none.
    pub fn take(&self) -> Vec<Arrival> {
        self.count.store(0, Ordering::Relaxed);
        std::mem::take(&mut *self.arrivals.lock().unwrap())
    }

    /// Waits until `n` deliveries have arrived (at most `limit`); when the
    /// last of them arrived.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + limit;
        while self.count.load(Ordering::Relaxed) < n {
            if Instant::now() > deadline {
                bail!(
                    "only {} of {n} deliveries arrived in {limit:?}",
                    self.count.load(Ordering::Relaxed)
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(self
            .arrivals
            .lock()
            .unwrap()
            .iter()
            .map(|a| a.at)
            .max()
            .unwrap_or_else(Instant::now))
    }
}

/// How many distinct deliveries (by their `uuid`) `arrivals` holds.
pub fn distinct(arrivals: &[Arrival]) -> usize {
    let unique: HashSet<&str> = arrivals.iter().map(|a| a.uuid.as_str()).collect();
    unique.len()
}
