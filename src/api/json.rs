//! Request bodies: JSON objects, with the contract's 400, 408 and 413
//! answers, read within a time and memory bound.

use std::time::Duration;

use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_LENGTH;
use http_body_util::BodyExt;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// A request body that is a JSON object.
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match JsonBody::from_request(req, state).await?.0 {
            Value::Object(map) => Ok(JsonObject(map)),
            Value::Null => Ok(JsonObject(Map::new())),
            _ => Err(ApiError::BadRequest(
                "The request body must be a JSON object".into(),
            )),
        }
    }
}

/// How a request body may be read: at most `limit` bytes, all of them
/// within `timeout` of the start of the read. The router puts it on every
/// request; without it (a router built without one) the defaults apply.
#[derive(Clone, Copy, Debug)]
pub struct BodyRules {
    pub limit: usize,
    pub timeout: Duration,
}

impl Default for BodyRules {
    fn default() -> Self {
        BodyRules {
            limit: crate::config::DEFAULT_MAX_BODY_SIZE,
            timeout: crate::config::DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// Any JSON request body; an empty body is `null`.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let rules = req
            .extensions()
            .get::<BodyRules>()
            .copied()
            .unwrap_or_default();
        let bytes = read_body(req, rules).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Value::Null));
        }
        let value = serde_json::from_slice::<Value>(&bytes)
            .map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {e}")))?;
        if holds_nul(&value) {
            return Err(ApiError::BadRequest(
                "Text with NUL characters (\\u0000) is not accepted".into(),
            ));
        }
        Ok(JsonBody(value))
    }
}

/// The whole body, or 413 past `rules.limit` (at once when the declared
/// length says so) and 408 when it has not all come within `rules.timeout`.
/// Bytes are copied out of the connection's read buffer as they come, into
/// pieces of [`PIECE`] bytes allocated once each (none is ever grown and
/// copied, which would leave the allocator holding the smaller ones), so a
/// body in flight holds about what has arrived, however slowly it is sent
/// and whatever length it declares; the pieces become one buffer when the
/// body is complete.
async fn read_body(req: Request, rules: BodyRules) -> Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > rules.limit as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let deadline = tokio::time::Instant::now() + rules.timeout;
    let mut body = req.into_body();
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    let mut length = 0;
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(ApiError::RequestTimeout),
            Ok(None) => return Ok(joined(pieces, length)),
            Ok(Some(Err(error))) => {
                return Err(ApiError::BadRequest(format!(
                    "Could not read the request body: {error}"
                )));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(mut data) = frame.into_data() else {
            continue;
        };
        length += data.len();
        if length > rules.limit {
            return Err(ApiError::PayloadTooLarge);
        }
        while !data.is_empty() {
            let piece = match pieces.last_mut() {
                Some(piece) if piece.len() < piece.capacity() => piece,
                _ => {
                    let size = declared.map_or(PIECE, |n| (n as usize).clamp(1, PIECE));
                    pieces.push(Vec::with_capacity(size));
                    pieces.last_mut().expect("just pushed")
                }
            };
            let taken = data.len().min(piece.capacity() - piece.len());
            piece.extend_from_slice(&data.split_to(taken));
        }
    }
}

/// The size of the pieces a body is read into.
const PIECE: usize = 16 * 1024;

/// The pieces as one buffer of exactly `length` bytes.
fn joined(mut pieces: Vec<Vec<u8>>, length: usize) -> Vec<u8> {
    if pieces.len() == 1 {
        return pieces.pop().unwrap_or_default();
    }
    let mut whole = Vec::with_capacity(length);
    for piece in pieces {
        whole.extend_from_slice(&piece);
    }
    whole
}

/// Whether any string or key holds U+0000, which databases refuse in text.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, Bytes};
    use axum::http::header::CONTENT_LENGTH;

    use super::*;

    fn rules(limit: usize) -> BodyRules {
        BodyRules {
            limit,
            timeout: Duration::from_secs(5),
        }
    }

    /// A request whose body is `sent` though it declares `declared` bytes.
    fn request(declared: usize, sent: &'static [u8]) -> Request {
        Request::builder()
            .header(CONTENT_LENGTH, declared)
            .body(Body::from(sent))
            .unwrap()
    }

    #[tokio::test]
    async fn a_body_gets_a_buffer_as_large_as_what_came_not_what_it_declared() {
        let read = read_body(request(1_000_000, b"{}"), rules(1 << 20))
            .await
            .unwrap();
        assert_eq!(read, b"{}");
        assert!(read.capacity() <= PIECE, "{}", read.capacity());
    }

    #[tokio::test]
    async fn a_body_declared_or_grown_past_the_limit_is_413() {
        let declared = read_body(request(11, b"{}"), rules(10)).await;
        assert!(matches!(declared, Err(ApiError::PayloadTooLarge)));
        let grown = Request::new(Body::from(vec![b' '; 11]));
        assert!(matches!(
            read_body(grown, rules(10)).await,
            Err(ApiError::PayloadTooLarge)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_does_not_come_in_time_is_408() {
        // One byte comes; the rest never does (the sender stays open).
        let (sender, mut chunks) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        sender.send(Ok(Bytes::from_static(b"{"))).await.unwrap();
        let body = Body::from_stream(futures_util::stream::poll_fn(move |cx| {
            chunks.poll_recv(cx)
        }));
        let read = read_body(Request::new(body), rules(1 << 20)).await;
        assert!(matches!(read, Err(ApiError::RequestTimeout)));
        drop(sender);
    }
}
