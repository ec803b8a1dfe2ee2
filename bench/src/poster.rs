//! `EventPoster`: single events published on bare HTTP/1 connections,
//! kept open and reused, as a load generator such as `wrk` does.

use std::sync::Mutex;

use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::http::{HeaderValue, Request, Response};
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;

/// One HTTP/1 connection to Herald, ready to send a request.
type Sender = SendRequest<Full<Bytes>>;

/// `POST /v1/events` on bare HTTP/1 connections (hyper), each kept open
/// and reused, with the request's headers made once, as a load generator
/// such as `wrk` works: the load shares the machine's cores with Herald,
/// and through reqwest's client the bench's process (client and receiver)
/// took about a quarter of the machine while publishing single events. A
/// connection is used by one request at a time; one is opened when none
/// is idle, up to [`MAX_POSTER_CONNECTIONS`].
pub struct EventPoster {
    address: String,
    host: HeaderValue,
    authorization: HeaderValue,
    idle: Mutex<Vec<Sender>>,
    /// A place for each request in flight, so for each connection open.
    places: tokio::sync::Semaphore,
}

/// Most connections the bench's posters hold open, under Herald's default
/// `--max-connections` (1,024): when Herald stalls for a moment, the
/// open-loop publishing at 5,000/s would otherwise open a new connection
/// for every request falling due, past Herald's limit, and those Herald
/// does not take wait in its accept queue until others close (as the
/// bench's, kept for reuse, do only once Herald's idle timeout closes
/// them). Beyond this, a request waits for one of the places to be free.
const MAX_POSTER_CONNECTIONS: usize = 512;

impl EventPoster {
    /// For a plain HTTP Herald at `herald`; `None` for any other scheme.
    pub fn new(herald: &str, token: &str) -> anyhow::Result<Option<EventPoster>> {
        let url = url::Url::parse(herald)?;
        if url.scheme() != "http" {
            return Ok(None);
        }
        let host = url.host_str().context("Herald's URL has no host")?;
        let port = url.port_or_known_default().unwrap_or(80);
        Ok(Some(EventPoster {
            address: format!("{host}:{port}"),
            host: HeaderValue::from_str(&format!("{host}:{port}"))?,
            authorization: HeaderValue::from_str(&format!("Bearer {token}"))?,
            idle: Mutex::new(Vec::new()),
            places: tokio::sync::Semaphore::new(MAX_POSTER_CONNECTIONS),
        }))
    }

    async fn connect(&self) -> anyhow::Result<Sender> {
        let stream = tokio::net::TcpStream::connect(&self.address).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(sender)
    }

    /// Publishes one event (`body`, a JSON object); fails unless answered 2xx.
    /// A kept connection that turns out closed before the request went out
    /// (Herald closed it while idle) is replaced by a new one.
    pub async fn publish(&self, body: String) -> anyhow::Result<()> {
        use http_body_util::BodyExt;
        let request = Request::post("/v1/events")
            .header(axum::http::header::HOST, self.host.clone())
            .header(
                axum::http::header::AUTHORIZATION,
                self.authorization.clone(),
            )
            .header(axum::http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))?;
        let _place = self.places.acquire().await?;
        let mut kept = self.idle.lock().unwrap().pop();
        if let Some(sender) = kept.as_mut()
            && sender.ready().await.is_err()
        {
            kept = None;
        }
        let (sender, response) = match kept {
            Some(mut sender) => match sender.try_send_request(request).await {
                Ok(response) => (sender, response),
                Err(mut unsent) => match unsent.take_message() {
                    Some(request) => self.send_on_new_connection(request).await?,
                    None => return Err(unsent.into_error().into()),
                },
            },
            None => self.send_on_new_connection(request).await?,
        };
        let status = response.status();
        let answer = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            bail!("/v1/events: {status} {}", String::from_utf8_lossy(&answer));
        }
        self.idle.lock().unwrap().push(sender);
        Ok(())
    }

    async fn send_on_new_connection(
        &self,
        request: Request<Full<Bytes>>,
    ) -> anyhow::Result<(Sender, Response<hyper::body::Incoming>)> {
        let mut sender = self.connect().await?;
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        Ok((sender, response))
    }
}

/// A single event's body (the bench's event names need no escaping).
pub fn event_body(event: &str, object_id: i64) -> String {
    format!(r#"{{"event":"{event}","object_id":{object_id}}}"#)
}
