//! Builds the HTTP request of a message (§7): headers and JSON body.

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, LINK};

use crate::config::Config;
use crate::domain::Webhook;
use crate::domain::delivery::Claimed;
use crate::domain::event::message_body;

pub const DELIVERY_HEADER: &str = "x-r-service-delivery";
pub const ORIGIN_HEADER: &str = "x-r-service-delivery-origin";

/// The headers and body of the message `claimed` carries to `webhook`.
pub fn build(claimed: &Claimed, webhook: &Webhook, config: &Config) -> (HeaderMap, Vec<u8>) {
    let data = message_body(
        &claimed.event,
        webhook,
        &config.account_url(webhook.account.as_str()),
        &config.instance_domain,
    );
    let body = serde_json::to_vec(&data).expect("a JSON value serialises");
    let mut headers = HeaderMap::with_capacity(4);
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
    (headers, body)
}

/// Values that cannot be a header (a link with a newline...) are left out.
fn insert(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}
