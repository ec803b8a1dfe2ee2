//! The local receiver of `herald listen`: answers the verification
//! handshake, prints each message with its headers and verdict, and
//! forwards it to the developer's app when asked.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::verdict::{ReceiverKey, verdict};
use crate::cli::client::Client;
use crate::domain::event_name::VERIFY_EVENT;
use crate::domain::time::{format_epoch, now_epoch};

/// What every request handled needs.
pub struct Session {
    pub client: Client,
    pub forward_to: Option<String>,
    pub key: Option<ReceiverKey>,
}

/// Handles one request from Herald; answers 204, or the app's status when
/// forwarding (502 when the app cannot be reached), so Herald retries as
/// it would for the app.
pub async fn receive(
    State(session): State<Arc<Session>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let (jws_header, shown) = readable(&body);
    let message = shown.get("data").unwrap_or(&shown);
    let event = message["event"].as_str().unwrap_or("?").to_string();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "--> {method} {uri}  {event}  at {}",
        format_epoch(now_epoch())
    );
    for (name, value) in &headers {
        let _ = writeln!(out, "{name}: {}", value.to_str().unwrap_or("<binary>"));
    }
    if let Some(header) = jws_header {
        let _ = writeln!(out, "JWS header: {header}");
    }
    let _ = writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(&shown).unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "verdict: {}",
        verdict(session.key.as_ref(), &headers, &body)
    );
    let status = if event == VERIFY_EVENT {
        handshake(&session, message, &mut out).await;
        StatusCode::NO_CONTENT
    } else {
        forward(&session, &headers, &body, &mut out).await
    };
    println!("{out}");
    status
}

/// The body as JSON, a JWS's claims decoded (not checked: the verdict
/// does that), with the JWS header apart.
fn readable(body: &[u8]) -> (Option<Value>, Value) {
    let parsed: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(_) => return (None, Value::String(String::from_utf8_lossy(body).into())),
    };
    let Some(token) = parsed["jwt"].as_str() else {
        return (None, parsed);
    };
    let decode = |part: Option<&str>| {
        part.and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
    };
    let mut parts = token.split('.');
    let header = decode(parts.next());
    match decode(parts.next()) {
        Some(claims) => (header, claims),
        None => (header, parsed),
    }
}

/// Calls the `webhook.verify` callback, so the webhook starts getting
/// messages.
async fn handshake(session: &Session, message: &Value, out: &mut String) {
    let Some(callback) = message["payload"]["callback"].as_str() else {
        let _ = writeln!(out, "verification: no callback in the message");
        return;
    };
    match session.client.get_url(callback).await {
        Ok(answer) if answer.status.is_success() => {
            let _ = writeln!(out, "verification: webhook verified");
        }
        Ok(answer) => {
            let _ = writeln!(
                out,
                "verification: Herald answered {}: {}",
                answer.status, answer.body
            );
        }
        Err(error) => {
            let _ = writeln!(out, "verification failed: {error:#}");
        }
    }
}

/// Sends the message on to the app as Herald sent it, and notes its answer.
async fn forward(
    session: &Session,
    headers: &HeaderMap,
    body: &Bytes,
    out: &mut String,
) -> StatusCode {
    let Some(url) = &session.forward_to else {
        return StatusCode::NO_CONTENT;
    };
    let mut sent = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        if name != "host" && name != "content-length" {
            sent.append(name.clone(), value.clone());
        }
    }
    match session.client.forward(url, sent, body.to_vec()).await {
        Ok((status, text)) => {
            let _ = writeln!(out, "<-- forwarded to {url}: {status}");
            if !text.is_empty() {
                let _ = writeln!(out, "{text}");
            }
            StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY)
        }
        Err(error) => {
            let _ = writeln!(out, "<-- forwarding to {url} failed: {error:#}");
            StatusCode::BAD_GATEWAY
        }
    }
}
