//! Builds the HTTP request of a message (§7): headers and JSON body.

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, LINK};
use serde_json::value::RawValue;

use super::signing::{Signer, SigningContext};
use crate::config::Config;
use crate::domain::Webhook;
use crate::domain::delivery::Claimed;
use crate::domain::event::EventKind;
use crate::domain::event::{StoredEvent, message_body};
use crate::domain::policy::discovery_issuer;
use crate::domain::time::now_epoch;
use crate::domain::webhook::{redact_code, reveal_code};

pub const DELIVERY_HEADER: &str = "x-r-service-delivery";
pub const ORIGIN_HEADER: &str = "x-r-service-delivery-origin";

/// A message ready to send.
pub struct Outgoing {
    pub headers: HeaderMap,
    /// What goes on the wire: the message, or `{"jwt": ...}` when signed.
    pub body: Vec<u8>,
    /// The unsigned message, kept with the delivery.
    pub message: String,
}

/// The message `claimed` carries to `webhook`, signed when the webhook has a
/// policy. Fails only when the policy's key cannot be read.
pub fn build(
    claimed: &Claimed,
    webhook: &Webhook,
    config: &Config,
    signer: &Signer,
) -> Result<Outgoing, String> {
    let account_url = config.account_url(webhook.account.as_str());
    let build = |event: &StoredEvent| {
        message_body(event, webhook, &account_url, &config.instance_domain)
            .map_err(|e| format!("cannot build the message: {e}"))
    };
    // A verification code goes only into what is sent: what is kept has it
    // redacted (a code sealed apart, or one stored in plain text before).
    let event = &claimed.event;
    let (message, revealed) = match (claimed.kind, &event.sealed_code) {
        (EventKind::Verify, Some(sealed)) => {
            let code = signer.unseal_text(sealed)?;
            let sent = with_payload(event, reveal_code(event.payload.get(), &code))?;
            (build(event)?, Some(build(&sent)?))
        }
        (EventKind::Verify, None) => match redact_code(event.payload.get()) {
            Some(redacted) => (build(&with_payload(event, redacted)?)?, Some(build(event)?)),
            None => (build(event)?, None),
        },
        _ => (build(event)?, None),
    };
    let sent = revealed.as_deref().unwrap_or(&message);
    let mut headers = HeaderMap::with_capacity(7);
    let body = match &claimed.policy {
        Some(policy) => {
            let issuer = policy
                .openid_connect_discovery
                .then(|| discovery_issuer(&config.public_url, &webhook.account, policy.id));
            let context = SigningContext {
                webhook_id: webhook.id,
                issuer: issuer.as_deref().unwrap_or(&account_url),
                message_id: &claimed.uuid,
                now: now_epoch(),
            };
            let signed = signer.sign(policy, sent, &context)?;
            for (name, value) in signed.headers {
                insert(&mut headers, HeaderName::from_static(name), &value);
            }
            signed.body.into_bytes()
        }
        None => sent.get().as_bytes().to_vec(),
    };
    let message = String::from(Box::<str>::from(message));
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    insert(
        &mut headers,
        HeaderName::from_static(DELIVERY_HEADER),
        &claimed.uuid,
    );
    if let Some(origin) = &claimed.origin_uuid {
        insert(&mut headers, HeaderName::from_static(ORIGIN_HEADER), origin);
    }
    if let Some(link) = claimed.event.links.header_value() {
        insert(&mut headers, LINK, &link);
    }
    Ok(Outgoing {
        headers,
        body,
        message,
    })
}

/// The unsigned message `event` makes for `webhook`: what its delivery
/// keeps once sent (a verification's code redacted, as stored).
pub fn unsigned(
    event: &StoredEvent,
    webhook: &Webhook,
    config: &Config,
) -> Result<serde_json::Value, String> {
    let account_url = config.account_url(webhook.account.as_str());
    let body = message_body(event, webhook, &account_url, &config.instance_domain)
        .map_err(|e| format!("cannot build the message: {e}"))?;
    serde_json::from_str(body.get()).map_err(|e| format!("cannot build the message: {e}"))
}

/// `event` with another payload (JSON text).
fn with_payload(event: &StoredEvent, payload: String) -> Result<StoredEvent, String> {
    let payload =
        RawValue::from_string(payload).map_err(|e| format!("cannot build the message: {e}"))?;
    Ok(StoredEvent {
        payload,
        links: event.links.clone(),
        event: event.event.clone(),
        person_name: event.person_name.clone(),
        sealed_code: None,
        ..*event
    })
}

/// Values that cannot be a header (a link with a newline...) are left out.
fn insert(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}
