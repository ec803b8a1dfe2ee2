//! `X-Request-Id`: every answer carries one, the client's when it sent a
//! fit one, else a new UUID; the request's log span carries it too.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

pub const REQUEST_ID: &str = "x-request-id";

/// The longest request id taken from a client.
const MAX_LENGTH: usize = 128;

/// Puts the request id on the request (for its span and handlers) and on
/// its answer, whatever made it.
pub async fn request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .filter(|value| fit(value.as_bytes()))
        .cloned()
        .unwrap_or_else(new_id);
    request.headers_mut().insert(REQUEST_ID, id.clone());
    let mut response = next.run(request).await;
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// A client's id is taken when it is 1 to 128 letters, digits and `-._:`,
/// so no log line or answer carries whatever else a client sends.
fn fit(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LENGTH
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn new_id() -> HeaderValue {
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    HeaderValue::from_str(&id).expect("a UUID is a header value")
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn a_client_id_is_taken_only_when_short_and_plain() {
        assert!(fit(b"3f2a-19.b_c:7"));
        assert!(!fit(b""));
        assert!(!fit(b"has space"));
        assert!(!fit(b"quote\""));
        assert!(!fit("é".as_bytes()));
        assert!(fit(&[b'a'; 128]));
        assert!(!fit(&[b'a'; 129]));
    }
}
