//! Whether a message `herald listen` received is signed by the policy the
//! developer named, by whichever scheme it came signed with.

use std::path::Path;

use anyhow::Context;
use axum::http::HeaderMap;

use crate::crypto::keys::VerifyingKey;
use crate::crypto::{jws, standard_webhooks};
use crate::domain::time::now_epoch;

/// Seconds of clock difference tolerated for a JWS's `exp` and `nbf`.
const LEEWAY_SECS: i64 = 60;

/// What the developer gave to check messages with.
pub enum ReceiverKey {
    /// An rs*/es* policy's public key.
    Public(VerifyingKey),
    /// An hs* policy's `jwt_secret`, or a Standard Webhooks `whsec_` secret.
    Secret(String),
}

impl ReceiverKey {
    pub fn of(key_file: Option<&Path>, secret: Option<String>) -> anyhow::Result<Option<Self>> {
        if let Some(path) = key_file {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            return Ok(Some(ReceiverKey::Public(VerifyingKey::from_public_pem(
                &pem,
            )?)));
        }
        Ok(secret.map(|s| ReceiverKey::Secret(s.trim().to_string())))
    }
}

/// One line: `verified (...)`, `NOT VERIFIED: why`, or why it was not
/// checked.
pub fn verdict(key: Option<&ReceiverKey>, headers: &HeaderMap, body: &[u8]) -> String {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(signatures) = header(standard_webhooks::SIGNATURE_HEADER) {
        let secret = match key {
            Some(ReceiverKey::Secret(text)) => standard_webhooks::secret_bytes(text),
            _ => None,
        };
        let Some(secret) = secret else {
            return "not checked: give --policy-secret whsec_... to check Standard Webhooks signatures".into();
        };
        let received = standard_webhooks::Received {
            id: header(standard_webhooks::ID_HEADER),
            timestamp: header(standard_webhooks::TIMESTAMP_HEADER),
            signatures: Some(signatures),
        };
        return match standard_webhooks::verify(&secret, &received, body, now_epoch()) {
            Ok(()) => "verified (Standard Webhooks signature)".into(),
            Err(error) => format!("NOT VERIFIED: {error}"),
        };
    }
    let text = String::from_utf8_lossy(body);
    let Ok(token) = jws::token_of(&text).map_err(|_| ()).and_then(|t| {
        let is_jws = t.split('.').count() == 3;
        if is_jws { Ok(t) } else { Err(()) }
    }) else {
        return "unsigned: the webhook has no policy (give --policy-id to sign)".into();
    };
    let verifying = match key {
        Some(ReceiverKey::Public(key)) => key,
        Some(ReceiverKey::Secret(secret)) => &VerifyingKey::hmac(secret.as_bytes()),
        None => return "not checked: give --policy-key or --policy-secret to check the JWS".into(),
    };
    let expect = jws::Expectations {
        now: now_epoch(),
        leeway: LEEWAY_SECS,
        ..Default::default()
    };
    match jws::verify(&token, verifying, &expect) {
        Ok(_) => "verified (JWS signature)".into(),
        Err(error) => format!("NOT VERIFIED: {error}"),
    }
}
