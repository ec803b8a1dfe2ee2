//! The fields a client may write to a webhook, read from a JSON object by
//! the rules of §4.

use serde_json::{Map, Value};

use crate::api::state::AppState;
use crate::domain::target::WebhookUri;
use crate::domain::webhook::rules;
use crate::domain::{AccountId, Attachment, ValidationErrors};
use crate::error::ApiResult;

/// Fields a client may write, read from a JSON object. For each optional
/// field: `None` absent, `Some(None)` null or blank, `Some(Some(v))` a value.
#[derive(Default)]
pub(super) struct Input {
    pub(super) name: Option<Option<String>>,
    pub(super) event: Option<crate::domain::EventName>,
    pub(super) event_cleared: bool,
    pub(super) uri: Option<WebhookUri>,
    pub(super) uri_cleared: bool,
    pub(super) description: Option<Option<String>>,
    pub(super) disabled: Option<bool>,
    pub(super) mail_exceptions_to: Option<Option<String>>,
    pub(super) source: Option<Option<String>>,
    pub(super) source_id: Option<Option<String>>,
    pub(super) webhook_policy_id: Option<Option<i64>>,
    pub(super) attachments: Vec<Attachment>,
    pub(super) errors: ValidationErrors,
}

/// Readonly fields a client may send back unchanged (GET, edit, PUT); ignored.
const READONLY: [&str; 9] = [
    "id",
    "nodeID",
    "created_at",
    "updated_at",
    "last_error",
    "verified",
    "attachments",
    "webhook_policy",
    "account",
];

impl Input {
    /// Reads the body; a policy must be an enabled one of `account`.
    pub(super) async fn read(
        body: Map<String, Value>,
        state: &AppState,
        account: &AccountId,
    ) -> ApiResult<Input> {
        let mut input = Input::read_fields(body, state);
        if let Some(Some(policy)) = input.webhook_policy_id
            && !state.store.policy_linkable(account, policy).await?
        {
            input.errors.add(
                "webhook_policy_id",
                "Webhook policy is invalid: no enabled policy has that id",
            );
        }
        Ok(input)
    }

    fn read_fields(body: Map<String, Value>, state: &AppState) -> Input {
        let mut input = Input::default();
        for (key, value) in body {
            match key.as_str() {
                "name" => input.name = input.text(&key, "Name", &value, rules::name),
                "event" => match text_of(&value) {
                    Ok(None) => input.event_cleared = true,
                    Ok(Some(text)) => match rules::event(text) {
                        Ok(event) => input.event = Some(event),
                        Err(message) => input.errors.add("event", message),
                    },
                    Err(()) => input.errors.add("event", "Event must be a string"),
                },
                "uri" => match text_of(&value) {
                    Ok(None) => input.uri_cleared = true,
                    Ok(Some(text)) => match WebhookUri::parse(text) {
                        Ok(uri) => {
                            match uri.literal_ip().map(|ip| state.config.targets.check(ip)) {
                                Some(Err(reason)) => {
                                    input.errors.add("uri", format!("Uri is refused: {reason}"))
                                }
                                _ => input.uri = Some(uri),
                            }
                        }
                        Err(message) => input.errors.add("uri", message),
                    },
                    Err(()) => input.errors.add("uri", "Uri must be a string"),
                },
                "description" => {
                    input.description = input.text(&key, "Description", &value, rules::description)
                }
                "disabled" => match &value {
                    Value::Bool(b) => input.disabled = Some(*b),
                    Value::String(s) => {
                        input.disabled = Some(crate::domain::list::parse_bool_text(s))
                    }
                    Value::Null => input.disabled = Some(false),
                    _ => input
                        .errors
                        .add("disabled", "Disabled must be true or false"),
                },
                "mail_exceptions_to" => {
                    input.mail_exceptions_to = input.text(
                        &key,
                        "Mail exceptions to",
                        &value,
                        rules::mail_exceptions_to,
                    )
                }
                "source" => input.source = input.text(&key, "Source", &value, rules::source),
                "sourceID" => {
                    input.source_id = input.text(&key, "Source ID", &value, rules::source_id)
                }
                "webhook_policy_id" => match &value {
                    Value::Null => input.webhook_policy_id = Some(None),
                    Value::Number(n) if n.is_i64() => input.webhook_policy_id = Some(n.as_i64()),
                    _ => input
                        .errors
                        .add("webhook_policy_id", "Webhook policy must be an id or null"),
                },
                "description_attachments" => match serde_json::from_value::<Vec<Attachment>>(value)
                {
                    Ok(list) if list.iter().all(|a| !a.key.trim().is_empty()) => {
                        input.attachments = list
                    }
                    _ => input.errors.add(
                        "description_attachments",
                        "Description attachments must be a list of {\"key\": ...} objects",
                    ),
                },
                k if READONLY.contains(&k) => {}
                _ => input
                    .errors
                    .add(key.clone(), format!("{key} is not a known field")),
            }
        }
        input
    }

    /// A string field: null clears, a string goes through `rule`, anything
    /// else is a type error named after the field.
    fn text(
        &mut self,
        key: &str,
        label: &str,
        value: &Value,
        rule: fn(&str) -> Result<Option<String>, String>,
    ) -> Option<Option<String>> {
        match text_of(value) {
            Ok(None) => Some(None),
            Ok(Some(text)) => match rule(text) {
                Ok(v) => Some(v),
                Err(message) => {
                    self.errors.add(key, message);
                    None
                }
            },
            Err(()) => {
                self.errors.add(key, format!("{label} must be a string"));
                None
            }
        }
    }
}

/// `Ok(None)` for null, `Ok(Some)` for a string, `Err` for other JSON types.
fn text_of(value: &Value) -> Result<Option<&str>, ()> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(()),
    }
}
