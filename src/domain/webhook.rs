//! Webhooks: the record, what creating and changing one may hold, and field rules (§4).

use serde::{Deserialize, Serialize};

use super::account::AccountId;
use super::event_name::EventName;
use super::target::WebhookUri;

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_DESCRIPTION_BYTES: usize = 64 * 1024;
pub const MAX_SOURCE_CHARS: usize = 30;
pub const MAX_SOURCE_ID_CHARS: usize = 128;
/// Failure mails go to at most this many addresses of `mail_exceptions_to`,
/// written in at most this many characters: each becomes a recipient of
/// every mail queued for the webhook.
pub const MAX_MAIL_EXCEPTIONS: usize = 20;
pub const MAX_MAIL_EXCEPTIONS_CHARS: usize = 2000;
pub const DEFAULT_SOURCE: &str = "R-Service API";

/// An uploaded file referenced from the description.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesize: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<bool>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Webhook {
    pub id: i64,
    pub account: AccountId,
    pub name: String,
    pub event: EventName,
    pub uri: String,
    pub description: Option<String>,
    pub disabled: bool,
    pub mail_exceptions_to: Option<String>,
    pub source: String,
    pub source_id: Option<String>,
    pub webhook_policy_id: Option<i64>,
    /// The linked policy's name, as read (readonly).
    pub webhook_policy_name: Option<String>,
    pub attachments: Vec<Attachment>,
    pub last_error: Option<String>,
    pub verified: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Where a webhook stands in the `webhook.verify` handshake (§8).
#[derive(Clone, Debug)]
pub enum Verification {
    Verified,
    /// A new code (stored hashed) and the verify message to send.
    Pending {
        code_hash: String,
        expires_at: i64,
        /// `{"callback": ...}` with the code redacted: what is stored and
        /// shown.
        payload: serde_json::Value,
        /// The code, sealed with the server key, to go into what is sent.
        sealed_code: Vec<u8>,
    },
}

/// What stands for the code in a stored verification callback.
pub const REDACTED_CODE: &str = "REDACTED";

/// The verification callback of webhook `id` (§8), with `code` (or
/// [`REDACTED_CODE`]).
pub fn callback_url(public_url: &str, id: i64, code: &str, expires_at: i64) -> String {
    format!("{public_url}/v1/webhooks/{id}/verify?code={code}&expires_at={expires_at}")
}

/// `payload` (JSON text) with the redacted code of its callback replaced
/// by `code`.
pub fn reveal_code(payload: &str, code: &str) -> String {
    payload.replacen(
        &format!("?code={REDACTED_CODE}&"),
        &format!("?code={code}&"),
        1,
    )
}

/// `payload` (JSON text) with the code of its callback redacted, when it
/// holds one in plain text (as verification messages stored before codes
/// were sealed do); `None` when there is none to redact.
pub fn redact_code(payload: &str) -> Option<String> {
    let start = payload.find("?code=")? + "?code=".len();
    let end = start + payload[start..].find(['&', '"'])?;
    let code = &payload[start..end];
    (code != REDACTED_CODE && !code.is_empty())
        .then(|| format!("{}{REDACTED_CODE}{}", &payload[..start], &payload[end..]))
}

/// A validated new webhook.
#[derive(Clone, Debug)]
pub struct NewWebhook {
    pub name: Option<String>,
    pub event: EventName,
    pub uri: WebhookUri,
    pub description: Option<String>,
    pub disabled: bool,
    pub mail_exceptions_to: Option<String>,
    pub source: String,
    pub source_id: Option<String>,
    pub webhook_policy_id: Option<i64>,
    pub attachments: Vec<Attachment>,
}

/// A validated change: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct WebhookChanges {
    /// `Some(None)` resets the name to the event name.
    pub name: Option<Option<String>>,
    pub event: Option<EventName>,
    pub uri: Option<WebhookUri>,
    pub description: Option<Option<String>>,
    pub disabled: Option<bool>,
    pub mail_exceptions_to: Option<Option<String>>,
    pub source: Option<Option<String>>,
    pub source_id: Option<Option<String>>,
    pub webhook_policy_id: Option<Option<i64>>,
    pub attachments: Vec<Attachment>,
}

impl Webhook {
    /// The record a new webhook becomes once the store gives it an id.
    pub fn from_new(
        id: i64,
        account: AccountId,
        new: NewWebhook,
        verified: bool,
        now: i64,
    ) -> Webhook {
        Webhook {
            id,
            account,
            name: new.name.unwrap_or_else(|| new.event.to_string()),
            event: new.event,
            uri: new.uri.as_str().to_string(),
            description: new.description,
            disabled: new.disabled,
            mail_exceptions_to: new.mail_exceptions_to,
            source: new.source,
            source_id: new.source_id,
            webhook_policy_id: new.webhook_policy_id,
            webhook_policy_name: None,
            attachments: new.attachments,
            last_error: None,
            verified,
            created_at: now,
            updated_at: now,
        }
    }

    /// Applies a change; returns whether anything differs. `updated_at`
    /// moves only when something did.
    pub fn apply(&mut self, changes: &WebhookChanges, now: i64) -> bool {
        let before = self.clone();
        if let Some(event) = &changes.event {
            self.event = event.clone();
        }
        match &changes.name {
            Some(Some(name)) => self.name = name.clone(),
            Some(None) => self.name = self.event.to_string(),
            None => {}
        }
        if let Some(uri) = &changes.uri
            && self.uri != uri.as_str()
        {
            // A new URI has to prove itself again (§8).
            self.uri = uri.as_str().to_string();
            self.verified = false;
        }
        if let Some(description) = &changes.description {
            self.description = description.clone();
        }
        if let Some(disabled) = changes.disabled {
            self.disabled = disabled;
        }
        if let Some(mail) = &changes.mail_exceptions_to {
            self.mail_exceptions_to = mail.clone();
        }
        if let Some(source) = &changes.source {
            self.source = source.clone().unwrap_or_else(|| DEFAULT_SOURCE.to_string());
        }
        if let Some(source_id) = &changes.source_id {
            self.source_id = source_id.clone();
        }
        if let Some(policy) = changes.webhook_policy_id {
            self.webhook_policy_id = policy;
        }
        for attachment in &changes.attachments {
            if !self.attachments.iter().any(|a| a.key == attachment.key) {
                self.attachments.push(attachment.clone());
            }
        }
        let changed = *self != before;
        if changed {
            self.updated_at = now.max(self.created_at);
        }
        changed
    }
}

/// Field rules shared by create and update. Each returns the contract's
/// message on failure.
pub mod rules {
    use super::*;

    pub fn name(value: &str) -> Result<Option<String>, String> {
        let value = value.trim();
        if value.chars().count() > MAX_NAME_CHARS {
            return Err(format!(
                "Name is too long (maximum is {MAX_NAME_CHARS} characters)"
            ));
        }
        Ok((!value.is_empty()).then(|| value.to_string()))
    }

    pub fn event(value: &str) -> Result<EventName, String> {
        if value.trim().is_empty() {
            return Err("Event can't be blank".into());
        }
        EventName::parse(value).ok_or_else(|| "Event is not included in the list".into())
    }

    pub fn description(value: &str) -> Result<Option<String>, String> {
        if value.len() > MAX_DESCRIPTION_BYTES {
            return Err("Description is too long (maximum is 64KB)".into());
        }
        Ok((!value.is_empty()).then(|| value.to_string()))
    }

    /// Normalises `a@x.com, b@y.com` to `a@x.com,b@y.com`.
    pub fn mail_exceptions_to(value: &str) -> Result<Option<String>, String> {
        if value.chars().count() > MAX_MAIL_EXCEPTIONS_CHARS {
            return Err(format!(
                "Mail exceptions to is too long (maximum is {MAX_MAIL_EXCEPTIONS_CHARS} characters)"
            ));
        }
        let addresses: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .collect();
        if addresses.len() > MAX_MAIL_EXCEPTIONS {
            return Err(format!(
                "Mail exceptions to has too many addresses (maximum is {MAX_MAIL_EXCEPTIONS})"
            ));
        }
        for address in &addresses {
            if !email_address::EmailAddress::is_valid(address) || !address.contains('.') {
                return Err(format!(
                    "Mail exceptions to is invalid: {address:?} is not an e-mail address"
                ));
            }
        }
        Ok((!addresses.is_empty()).then(|| addresses.join(",")))
    }

    pub fn source(value: &str) -> Result<Option<String>, String> {
        if value.chars().count() > MAX_SOURCE_CHARS {
            return Err(format!(
                "Source is too long (maximum is {MAX_SOURCE_CHARS} characters)"
            ));
        }
        Ok((!value.is_empty()).then(|| value.to_string()))
    }

    pub fn source_id(value: &str) -> Result<Option<String>, String> {
        if value.chars().count() > MAX_SOURCE_ID_CHARS {
            return Err(format!(
                "Source ID is too long (maximum is {MAX_SOURCE_ID_CHARS} characters)"
            ));
        }
        Ok((!value.is_empty()).then(|| value.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_redacted_and_revealed_in_the_callback_alone() {
        let plain = r#"{"callback":"https://h/v1/webhooks/7/verify?code=abcDEF123_-xyzABC456789&expires_at=9"}"#;
        let redacted = redact_code(plain).unwrap();
        assert_eq!(
            redacted,
            r#"{"callback":"https://h/v1/webhooks/7/verify?code=REDACTED&expires_at=9"}"#
        );
        assert_eq!(redact_code(&redacted), None, "nothing left to redact");
        assert_eq!(reveal_code(&redacted, "abcDEF123_-xyzABC456789"), plain);
        assert_eq!(redact_code(r#"{"note":"no callback"}"#), None);
    }

    fn sample() -> Webhook {
        let new = NewWebhook {
            name: None,
            event: EventName::parse("request.create").unwrap(),
            uri: WebhookUri::parse("https://example.com/h").unwrap(),
            description: None,
            disabled: false,
            mail_exceptions_to: None,
            source: DEFAULT_SOURCE.into(),
            source_id: None,
            webhook_policy_id: None,
            attachments: vec![],
        };
        Webhook::from_new(1, AccountId::from_trusted("a".into()), new, true, 100)
    }

    #[test]
    fn name_defaults_to_event() {
        assert_eq!(sample().name, "request.create");
    }

    #[test]
    fn unchanged_values_keep_updated_at() {
        let mut hook = sample();
        let changes = WebhookChanges {
            disabled: Some(false),
            ..Default::default()
        };
        assert!(!hook.apply(&changes, 200));
        assert_eq!(hook.updated_at, 100);
        let changes = WebhookChanges {
            disabled: Some(true),
            ..Default::default()
        };
        assert!(hook.apply(&changes, 200));
        assert_eq!(hook.updated_at, 200);
    }

    #[test]
    fn mail_exceptions_are_validated_and_normalised() {
        assert_eq!(
            rules::mail_exceptions_to(" a@x.com , b@y.org ").unwrap(),
            Some("a@x.com,b@y.org".to_string())
        );
        assert!(rules::mail_exceptions_to("a@x.com,nope").is_err());
        assert_eq!(rules::mail_exceptions_to("").unwrap(), None);
    }
}
