//! Published events (§6) and the messages made from them (§7).

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::event_name::{EventName, VERIFY_EVENT};
use super::node_id::node_id;
use super::webhook::Webhook;

/// The `object_id` of every test message (§8).
pub const TEST_OBJECT_ID: i64 = 12345;

/// How long an idempotency key is remembered (§6).
pub const IDEMPOTENCY_WINDOW_SECS: i64 = 24 * 3600;

/// Why an event exists: published by the host application, or made by
/// Herald for a test or a verification handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Event,
    Test,
    Verify,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Event => "event",
            EventKind::Test => "test",
            EventKind::Verify => "verify",
        }
    }

    pub fn from_stored(text: &str) -> EventKind {
        match text {
            "test" => EventKind::Test,
            "verify" => EventKind::Verify,
            _ => EventKind::Event,
        }
    }
}

/// The `links` of an event, which become the message's `Link` header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Links {
    pub canonical: Option<String>,
    pub resource: Option<String>,
    pub related: Option<String>,
}

impl Links {
    pub const NAMES: [&'static str; 3] = ["canonical", "resource", "related"];

    pub fn is_empty(&self) -> bool {
        self.canonical.is_none() && self.resource.is_none() && self.related.is_none()
    }

    /// `<url>; rel="canonical", <url>; rel="resource"`, or `None` when empty.
    pub fn header_value(&self) -> Option<String> {
        let parts: Vec<String> = [
            (&self.canonical, "canonical"),
            (&self.resource, "resource"),
            (&self.related, "related"),
        ]
        .into_iter()
        .filter_map(|(url, rel)| url.as_ref().map(|u| format!("<{u}>; rel=\"{rel}\"")))
        .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        for (name, url) in Self::NAMES
            .iter()
            .zip([&self.canonical, &self.resource, &self.related])
        {
            if let Some(url) = url {
                map.insert(name.to_string(), Value::String(url.clone()));
            }
        }
        Value::Object(map)
    }

    pub fn from_json(value: &Value) -> Links {
        let get = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_string);
        Links {
            canonical: get("canonical"),
            resource: get("resource"),
            related: get("related"),
        }
    }
}

/// A validated event to publish.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub event: EventName,
    pub object_id: i64,
    pub person_id: Option<i64>,
    pub person_name: Option<String>,
    /// Always a JSON object.
    pub payload: Value,
    pub links: Links,
    pub idempotency_key: Option<String>,
    /// The target of an `automation_rule` event.
    pub webhook_id: Option<i64>,
}

impl NewEvent {
    /// An event Herald makes itself for one webhook (a test or a
    /// verification): no person, no links, no idempotency key.
    pub fn direct(event: EventName, object_id: i64, payload: Value, webhook_id: i64) -> NewEvent {
        NewEvent {
            event,
            object_id,
            person_id: None,
            person_name: None,
            payload,
            links: Links::default(),
            idempotency_key: None,
            webhook_id: Some(webhook_id),
        }
    }
}

/// Most events one publish takes (§6).
pub const MAX_BATCH: usize = 1000;

/// What publishing one event did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Published {
    pub id: i64,
    pub deliveries: i64,
    pub duplicate: bool,
}

/// An event as stored, enough to build its message.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    pub id: i64,
    pub kind: EventKind,
    pub event: String,
    pub object_id: i64,
    pub person_id: Option<i64>,
    pub person_name: Option<String>,
    /// JSON text, as stored.
    pub payload: Box<RawValue>,
    pub links: Links,
    /// A verification message's code, sealed with the server key: its
    /// payload holds the callback with the code redacted
    /// ([`crate::domain::webhook::REDACTED_CODE`]), and the code goes only
    /// into what is sent.
    pub sealed_code: Option<Vec<u8>>,
    /// When it was published, in epoch milliseconds; `None` for tests,
    /// verifications and events stored before Herald kept it.
    pub published_at_ms: Option<i64>,
}

impl StoredEvent {
    /// A `request.create` event with an empty payload, for unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(id: i64) -> StoredEvent {
        StoredEvent {
            id,
            kind: EventKind::Event,
            event: "request.create".into(),
            object_id: id,
            person_id: None,
            person_name: None,
            payload: serde_json::value::RawValue::from_string("{}".into()).expect("valid JSON"),
            links: Links::default(),
            sealed_code: None,
            published_at_ms: None,
        }
    }
}

/// The type part of an object's nodeID, from the event's noun.
pub fn object_type(event: &str) -> String {
    if event == VERIFY_EVENT {
        return "Webhook".into();
    }
    let noun = event.split('.').next().unwrap_or(event);
    match noun {
        "ci" => "ConfigurationItem".into(),
        "sla" => "ServiceLevelAgreement".into(),
        "flsa" => "FirstLineSupportAgreement".into(),
        other => other
            .split('_')
            .map(|part| {
                let mut chars = part.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            })
            .collect(),
    }
}

/// The message body (§7), which is also the `data` claim when signed.
#[derive(serde::Serialize)]
struct Message<'a> {
    webhook_id: i64,
    #[serde(rename = "webhook_nodeID")]
    webhook_node_id: String,
    account_id: &'a str,
    account: &'a str,
    name: &'a str,
    event: &'a str,
    object_id: i64,
    #[serde(rename = "object_nodeID")]
    object_node_id: String,
    person_id: Option<i64>,
    #[serde(rename = "person_nodeID")]
    person_node_id: Option<String>,
    person_name: Option<&'a str>,
    payload: &'a RawValue,
}

/// The message `webhook` gets about `event` (§7), as JSON text; the stored
/// payload goes in as it is, never parsed, and the text is not parsed
/// again to sign it.
pub fn message_body(
    event: &StoredEvent,
    webhook: &Webhook,
    account_url: &str,
    domain: &str,
) -> Result<Box<RawValue>, serde_json::Error> {
    let person = event.person_id;
    serde_json::value::to_raw_value(&Message {
        webhook_id: webhook.id,
        webhook_node_id: node_id(domain, "Webhook", webhook.id),
        account_id: webhook.account.as_str(),
        account: account_url,
        name: &webhook.name,
        event: &event.event,
        object_id: event.object_id,
        object_node_id: node_id(domain, &object_type(&event.event), event.object_id),
        person_id: person,
        person_node_id: person.map(|id| node_id(domain, "Person", id)),
        person_name: event.person_name.as_deref(),
        payload: &event.payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_types_follow_the_noun() {
        assert_eq!(object_type("request.create"), "Request");
        assert_eq!(object_type("project_task.update"), "ProjectTask");
        assert_eq!(object_type("ci.update"), "ConfigurationItem");
        assert_eq!(object_type("webhook.verify"), "Webhook");
    }

    #[test]
    fn link_header_lists_given_links_in_order() {
        let links = Links {
            canonical: Some("https://a/1".into()),
            resource: None,
            related: Some("https://c/3".into()),
        };
        assert_eq!(
            links.header_value().unwrap(),
            "<https://a/1>; rel=\"canonical\", <https://c/3>; rel=\"related\""
        );
        assert_eq!(Links::default().header_value(), None);
        assert_eq!(Links::from_json(&links.to_json()), links);
    }
}
