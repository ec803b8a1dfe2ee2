//! The Webhooks API (§4): list, get, create, update, delete and test.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use crate::api::auth::{Admin, hash_token};
use crate::api::collection::{self, CollectionSpec, State as ListState};
use crate::api::json::JsonObject;
use crate::api::listener::client_key;
use crate::api::{ClientIp, RecordId};
use crate::app::AppState;
use crate::domain::list::{FieldKind, ListField};
use crate::domain::node_id::node_id;
use crate::domain::target::WebhookUri;
use crate::domain::time::{format_epoch, now_epoch, now_millis};
use crate::domain::webhook::{DEFAULT_SOURCE, REDACTED_CODE, callback_url, rules};
use crate::domain::{
    AccountId, Attachment, NewWebhook, ValidationErrors, Verification, Webhook, WebhookChanges,
};
use crate::error::{ApiError, ApiResult};

pub const SOURCE_HEADER: &str = "x-r-service-source";

const fn field(name: &'static str, kind: FieldKind) -> ListField {
    ListField {
        name,
        column: name,
        kind,
        case_insensitive: false,
    }
}

pub const COLLECTION: CollectionSpec = CollectionSpec {
    fields: &[
        "id",
        "nodeID",
        "name",
        "event",
        "uri",
        "description",
        "disabled",
        "mail_exceptions_to",
        "source",
        "sourceID",
        "webhook_policy",
        "attachments",
        "last_error",
        "verified",
        "created_at",
        "updated_at",
    ],
    filters: &[
        field("id", FieldKind::Id),
        field("name", FieldKind::Text),
        field("event", FieldKind::Enum),
        field("uri", FieldKind::Text),
        field("disabled", FieldKind::Bool),
        field("created_at", FieldKind::Date),
        field("updated_at", FieldKind::Date),
    ],
    sorts: &[
        field("id", FieldKind::Id),
        field("name", FieldKind::Text),
        field("event", FieldKind::Enum),
        field("uri", FieldKind::Text),
        field("created_at", FieldKind::Date),
        field("updated_at", FieldKind::Date),
    ],
    states: true,
};

const DEFAULT_FIELDS: [&str; 6] = ["id", "name", "event", "uri", "created_at", "updated_at"];

pub async fn list(
    state: State<AppState>,
    admin: Admin,
    raw: RawQuery,
) -> ApiResult<impl IntoResponse> {
    list_in_state(state, admin, raw, None).await
}

pub async fn list_enabled(
    state: State<AppState>,
    admin: Admin,
    raw: RawQuery,
) -> ApiResult<impl IntoResponse> {
    list_in_state(state, admin, raw, Some(ListState::Enabled)).await
}

pub async fn list_disabled(
    state: State<AppState>,
    admin: Admin,
    raw: RawQuery,
) -> ApiResult<impl IntoResponse> {
    list_in_state(state, admin, raw, Some(ListState::Disabled)).await
}

async fn list_in_state(
    State(state): State<AppState>,
    Admin(caller): Admin,
    RawQuery(raw): RawQuery,
    path_state: Option<ListState>,
) -> ApiResult<impl IntoResponse> {
    let request = COLLECTION.parse(raw.as_deref(), path_state)?;
    let page = state
        .store
        .list_webhooks(&caller.account, &request.query)
        .await?;
    let base = format!(
        "{}{}",
        state.config.public_url,
        collection::state_path("/v1/webhooks", path_state)
    );
    Ok(collection::respond(
        &page,
        &request,
        &base,
        raw.as_deref(),
        |hook| record(&state, hook),
        default_fields,
    ))
}

/// The seed's list shape: `disabled` and `last_error` only on disabled records.
fn default_fields(hook: &Webhook, record: Map<String, Value>) -> Value {
    if hook.disabled {
        collection::keep(
            record,
            &[&DEFAULT_FIELDS[..], &["disabled", "last_error"]].concat(),
        )
    } else {
        collection::keep(record, &DEFAULT_FIELDS)
    }
}

pub async fn get(
    State(state): State<AppState>,
    Admin(caller): Admin,
    RecordId(id): RecordId,
) -> ApiResult<Json<Value>> {
    let hook = state
        .store
        .get_webhook(&caller.account, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(Value::Object(record(&state, &hook))))
}

pub async fn create(
    State(state): State<AppState>,
    Admin(caller): Admin,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<Value>> {
    let input = Input::read(body, &state, &caller.account).await?;
    let mut errors = input.errors;
    let event = match input.event {
        Some(event) => Some(event),
        None => {
            if !errors.pairs().iter().any(|(f, _)| f == "event") {
                errors.add("event", "Event can't be blank");
            }
            None
        }
    };
    let uri = match input.uri {
        Some(uri) => Some(uri),
        None => {
            if !errors.pairs().iter().any(|(f, _)| f == "uri") {
                errors.add("uri", "Uri can't be blank");
            }
            None
        }
    };
    let (Some(event), Some(uri)) = (event, uri) else {
        return Err(errors.into());
    };
    let header_source = headers
        .get(SOURCE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let source = match (input.source.flatten(), header_source) {
        (Some(source), _) => source,
        (None, Some(header)) => match rules::source(header) {
            Ok(source) => source.unwrap_or_else(|| DEFAULT_SOURCE.to_string()),
            Err(message) => {
                errors.add("source", message);
                String::new()
            }
        },
        (None, None) => DEFAULT_SOURCE.to_string(),
    };
    let new = NewWebhook {
        name: input.name.flatten(),
        event,
        uri,
        description: input.description.flatten(),
        disabled: input.disabled.unwrap_or(false),
        mail_exceptions_to: input.mail_exceptions_to.flatten(),
        source,
        source_id: input.source_id.flatten(),
        webhook_policy_id: input.webhook_policy_id.flatten(),
        attachments: input.attachments,
    };
    let new = errors.into_result(new)?;
    // Verified from the start when no handshake is needed, so no event
    // published meanwhile passes it by.
    let verified = !state.config.delivery.require_verification
        || state
            .store
            .uri_verified(&caller.account, new.uri.as_str(), 0)
            .await?;
    let mut hook = state
        .store
        .insert_webhook(&caller.account, new, verified, now_epoch())
        .await?;
    if !hook.verified {
        hook.verified = verify(&state, &hook).await?;
    }
    Ok(Json(Value::Object(record(&state, &hook))))
}

/// PATCH, and PUT as its alias (§2): fields absent stay as they are.
pub async fn update(
    State(state): State<AppState>,
    Admin(caller): Admin,
    RecordId(id): RecordId,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<Value>> {
    let input = Input::read(body, &state, &caller.account).await?;
    let mut errors = input.errors;
    if input.event_cleared {
        errors.add("event", "Event can't be blank");
    }
    if input.uri_cleared {
        errors.add("uri", "Uri can't be blank");
    }
    let changes = WebhookChanges {
        name: input.name,
        event: input.event,
        uri: input.uri,
        description: input.description,
        disabled: input.disabled,
        mail_exceptions_to: input.mail_exceptions_to,
        source: input.source,
        source_id: input.source_id,
        webhook_policy_id: input.webhook_policy_id,
        attachments: input.attachments,
    };
    let changes = errors.into_result(changes)?;
    let mut hook = state
        .store
        .update_webhook(&caller.account, id, &changes, now_epoch())
        .await?
        .ok_or(ApiError::NotFound)?;
    if !hook.verified {
        hook.verified = verify(&state, &hook).await?;
    }
    Ok(Json(Value::Object(record(&state, &hook))))
}

pub async fn delete(
    State(state): State<AppState>,
    Admin(caller): Admin,
    RecordId(id): RecordId,
) -> ApiResult<StatusCode> {
    if state.store.delete_webhook(&caller.account, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

/// `POST /webhooks/:id/test` (§8): a message with `object_id` 12345, sent
/// at once, whatever the webhook's state.
pub async fn test(
    State(state): State<AppState>,
    Admin(caller): Admin,
    RecordId(id): RecordId,
) -> ApiResult<StatusCode> {
    if !state
        .store
        .enqueue_test(&caller.account, id, now_epoch(), now_millis())
        .await?
    {
        return Err(ApiError::NotFound);
    }
    state.wake.notify_one();
    Ok(StatusCode::NO_CONTENT)
}

/// `GET|POST /webhooks/:id/verify?code=...` (§8): the receiver proves it
/// wants our messages. No token: the code is the credential, so attempts
/// are limited per client address (429 past `--verify-rate-limit` a minute).
pub async fn verify_callback(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    RecordId(id): RecordId,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let now = now_epoch();
    if let Some(budget) = state.verify_limiter.check(client_key(client), now)
        && !budget.allowed
    {
        return Err(ApiError::TooManyRequests {
            retry_after_secs: (budget.reset - now).max(1) as u64,
        });
    }
    let code = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .filter(|c| !c.is_empty())
        .ok_or(ApiError::NotFound)?;
    if state
        .store
        .confirm_verification(id, &hash_token(&code), now)
        .await?
    {
        Ok(Json(json!({ "message": "Webhook verified" })))
    } else {
        Err(ApiError::NotFound)
    }
}

/// Sends the `webhook.verify` handshake for a webhook whose URI is not yet
/// verified, unless verification is off or the account verified that URI
/// already. Returns whether the webhook is verified now.
async fn verify(state: &AppState, hook: &Webhook) -> ApiResult<bool> {
    let config = &state.config;
    let verified = !config.delivery.require_verification
        || state
            .store
            .uri_verified(&hook.account, &hook.uri, hook.id)
            .await?;
    let verification = if verified {
        Verification::Verified
    } else {
        let code = verification_code();
        let expires_at = now_epoch() + VERIFY_VALID_SECS;
        let callback = callback_url(&config.public_url, hook.id, REDACTED_CODE, expires_at);
        Verification::Pending {
            code_hash: hash_token(&code),
            expires_at,
            payload: json!({ "callback": callback }),
            sealed_code: state.sealer.seal(code.as_bytes()),
        }
    };
    state
        .store
        .set_verification(
            &hook.account,
            hook.id,
            &verification,
            now_epoch(),
            now_millis(),
        )
        .await?;
    if !verified {
        state.wake.notify_one();
    }
    Ok(verified)
}

/// A verification code lives 24 hours.
const VERIFY_VALID_SECS: i64 = 24 * 3600;

/// 24 URL-safe random characters.
fn verification_code() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 18];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The full record (§4): every field, blank ones as null.
fn record(state: &AppState, hook: &Webhook) -> Map<String, Value> {
    let json = json!({
        "id": hook.id,
        "nodeID": node_id(&state.config.instance_domain, "Webhook", hook.id),
        "name": hook.name,
        "event": hook.event.as_str(),
        "uri": hook.uri,
        "description": hook.description,
        "disabled": hook.disabled,
        "mail_exceptions_to": hook.mail_exceptions_to,
        "source": hook.source,
        "sourceID": hook.source_id,
        "webhook_policy": hook.webhook_policy_id.map(|id| json!({ "id": id, "name": hook.webhook_policy_name })),
        "attachments": hook.attachments,
        "last_error": hook.last_error,
        "verified": hook.verified,
        "created_at": format_epoch(hook.created_at),
        "updated_at": format_epoch(hook.updated_at),
    });
    match json {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal"),
    }
}

/// Fields a client may write, read from a JSON object. For each optional
/// field: `None` absent, `Some(None)` null or blank, `Some(Some(v))` a value.
#[derive(Default)]
struct Input {
    name: Option<Option<String>>,
    event: Option<crate::domain::EventName>,
    event_cleared: bool,
    uri: Option<WebhookUri>,
    uri_cleared: bool,
    description: Option<Option<String>>,
    disabled: Option<bool>,
    mail_exceptions_to: Option<Option<String>>,
    source: Option<Option<String>>,
    source_id: Option<Option<String>>,
    webhook_policy_id: Option<Option<i64>>,
    attachments: Vec<Attachment>,
    errors: ValidationErrors,
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
    async fn read(
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
