//! `POST /v1/events` (§6): the host application publishes events.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::Publisher;
use crate::api::json::JsonBody;
use crate::api::openapi::errors::{Authenticated, BadBody, Forbidden};
use crate::api::openapi::events::{Publication, PublishAnswer};
use crate::api::state::AppState;
use crate::domain::event::{Links, NewEvent, Published};
use crate::domain::{AccountId, EventName, ValidationErrors};
use crate::error::{ApiError, ApiResult};

pub use crate::domain::event::MAX_BATCH;

const MAX_TEXT: usize = 255;
const AUTOMATION_RULE: &str = "automation_rule";

/// Publishing (§6).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(publish))
}

/// 202 once the events and all their deliveries are committed: one
/// delivery for each enabled, verified webhook of the account with the
/// event's name (an `automation_rule` event: the webhook it names). A
/// batch with any invalid event is refused whole, its 422 naming fields
/// by index (`[3].event`).
#[utoipa::path(
    post,
    path = "/events",
    tag = "events",
    operation_id = "publishEvents",
    summary = "Publish one event, or a batch of up to 1000",
    request_body(
        content = Publication,
        description = "One event, or an array of 1 to 1000",
        examples(
            ("one" = (summary = "One event", value = json!({
                "event": "request.note-added", "object_id": 219, "person_id": 8543,
                "person_name": "Howard Tanner",
                "payload": { "note_id": 3455, "status": "workflow_pending" },
                "links": { "canonical": "https://wdc.example.com/requests/219" },
                "idempotency_key": "req-219-note-3455"
            }))),
            ("batch" = (summary = "A batch", value = json!([
                { "event": "request.create", "object_id": 220 },
                { "event": "problem.update", "object_id": 17, "payload": { "priority": 2 } }
            ]))),
        )
    ),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Committed with their deliveries: one answer per event, an array for an array", body = PublishAnswer),
        BadBody, Authenticated, Forbidden,
    )
)]
pub async fn publish(
    State(state): State<AppState>,
    Publisher(caller): Publisher,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (items, batch) = match body {
        Value::Object(map) => (vec![map], false),
        Value::Array(list) => {
            if list.is_empty() || list.len() > MAX_BATCH {
                return Err(ValidationErrors::single(
                    "events",
                    format!("A batch holds 1 to {MAX_BATCH} events, not {}", list.len()),
                )
                .into());
            }
            let mut maps = Vec::with_capacity(list.len());
            for (i, item) in list.into_iter().enumerate() {
                match item {
                    Value::Object(map) => maps.push(map),
                    _ => {
                        return Err(ValidationErrors::single(
                            format!("[{i}]"),
                            "An event must be a JSON object",
                        )
                        .into());
                    }
                }
            }
            (maps, true)
        }
        _ => {
            return Err(ApiError::BadRequest(
                "The request body must be an event or an array of events".into(),
            ));
        }
    };

    let mut errors = ValidationErrors::new();
    let mut events = Vec::with_capacity(items.len());
    for (i, map) in items.into_iter().enumerate() {
        let prefix = if batch {
            format!("[{i}].")
        } else {
            String::new()
        };
        if let Some(event) = read_event(map, &prefix, &mut errors) {
            events.push(event);
        }
    }
    check_automation_targets(&state, &caller.account, &events, batch, &mut errors).await?;
    let events = errors.into_result(events)?;

    let published = state.publisher.publish(&caller.account, events).await?;
    let fresh = published.iter().filter(|p| !p.duplicate);
    let (events, deliveries) = fresh.fold((0, 0), |(e, d), p| (e + 1, d + p.deliveries));
    state
        .ops
        .metrics
        .published(events, deliveries.max(0).unsigned_abs());
    let answer = if batch {
        Value::Array(published.iter().map(answer_of).collect())
    } else {
        answer_of(&published[0])
    };
    Ok((StatusCode::ACCEPTED, Json(answer)))
}

fn answer_of(published: &Published) -> Value {
    if published.duplicate {
        json!({ "id": published.id, "deliveries": 0, "duplicate": true })
    } else {
        json!({ "id": published.id, "deliveries": published.deliveries })
    }
}

/// An `automation_rule` event names its webhook, which must be one of the
/// account's `automation_rule` webhooks.
async fn check_automation_targets(
    state: &AppState,
    account: &AccountId,
    events: &[NewEvent],
    batch: bool,
    errors: &mut ValidationErrors,
) -> ApiResult<()> {
    for (i, event) in events.iter().enumerate() {
        let Some(id) = event.webhook_id else { continue };
        let target = state.store.get_webhook(account, id).await?;
        if target.is_none_or(|w| w.event.as_str() != AUTOMATION_RULE) {
            let field = if batch {
                format!("[{i}].webhook_id")
            } else {
                "webhook_id".into()
            };
            errors.add(
                field,
                "Webhook is not an automation_rule webhook of this account",
            );
        }
    }
    Ok(())
}

/// An event's fields as read so far, before the checks across fields.
#[derive(Default)]
struct Draft {
    event: Option<EventName>,
    object_id: Option<i64>,
    person_id: Option<i64>,
    person_name: Option<String>,
    payload: Option<Value>,
    links: Links,
    idempotency_key: Option<String>,
    webhook_id: Option<i64>,
}

/// Reads one event, adding `[field, message]` pairs (field names prefixed
/// with `[i].` in a batch) for each problem.
fn read_event(
    map: Map<String, Value>,
    prefix: &str,
    errors: &mut ValidationErrors,
) -> Option<NewEvent> {
    let before = errors.pairs().len();
    let mut draft = Draft::default();
    let mut add = |field: &str, message: String| errors.add(format!("{prefix}{field}"), message);
    for (key, value) in map {
        read_field(&mut draft, &key, value, &mut add);
    }
    check_across_fields(&draft, prefix, before, errors);
    if errors.pairs().len() > before {
        return None;
    }
    Some(NewEvent {
        event: draft.event?,
        object_id: draft.object_id?,
        person_id: draft.person_id,
        person_name: draft.person_name,
        payload: draft.payload.unwrap_or_else(|| Value::Object(Map::new())),
        links: draft.links,
        idempotency_key: draft.idempotency_key,
        webhook_id: draft.webhook_id,
    })
}

/// Reads one field of an event into `draft`, or names its problem.
fn read_field(draft: &mut Draft, key: &str, value: Value, add: &mut impl FnMut(&str, String)) {
    match key {
        "event" => match value.as_str() {
            Some(name) if !name.trim().is_empty() => match EventName::parse(name) {
                Some(name) => draft.event = Some(name),
                None => add("event", "Event is not included in the list".into()),
            },
            Some(_) | None if value.is_null() || value.as_str().is_some() => {
                add("event", "Event can't be blank".into())
            }
            _ => add("event", "Event must be a string".into()),
        },
        "object_id" => match value.as_i64() {
            Some(id) => draft.object_id = Some(id),
            None if value.is_null() => {}
            None => add("object_id", "Object ID must be an integer".into()),
        },
        "person_id" => match value.as_i64() {
            Some(id) => draft.person_id = Some(id),
            None if value.is_null() => {}
            None => add("person_id", "Person ID must be an integer".into()),
        },
        "person_name" => match value {
            Value::String(name) if name.chars().count() > MAX_TEXT => add(
                "person_name",
                format!("Person name is too long (maximum is {MAX_TEXT} characters)"),
            ),
            Value::String(name) => draft.person_name = (!name.is_empty()).then_some(name),
            Value::Null => {}
            _ => add("person_name", "Person name must be a string".into()),
        },
        "payload" => match value {
            Value::Object(_) => draft.payload = Some(value),
            Value::Null => {}
            _ => add("payload", "Payload must be a JSON object".into()),
        },
        "links" => match read_links(&value) {
            Ok(read) => draft.links = read,
            Err(message) => add("links", message),
        },
        "idempotency_key" => match value {
            Value::String(k) if k.is_empty() || k.chars().count() > MAX_TEXT => add(
                "idempotency_key",
                format!("Idempotency key must have 1 to {MAX_TEXT} characters"),
            ),
            Value::String(k) => draft.idempotency_key = Some(k),
            Value::Null => {}
            _ => add("idempotency_key", "Idempotency key must be a string".into()),
        },
        "webhook_id" => match value.as_i64() {
            Some(id) => draft.webhook_id = Some(id),
            None if value.is_null() => {}
            None => add("webhook_id", "Webhook ID must be an integer".into()),
        },
        _ => add(key, format!("{key} is not a known field")),
    }
}

/// The rules across an event's fields: `event` and `object_id` required
/// (unless already named), `webhook_id` for `automation_rule` events only.
fn check_across_fields(draft: &Draft, prefix: &str, before: usize, errors: &mut ValidationErrors) {
    if draft.event.is_none() && !errors_mention(errors, before, prefix, "event") {
        errors.add(format!("{prefix}event"), "Event can't be blank");
    }
    if draft.object_id.is_none() && !errors_mention(errors, before, prefix, "object_id") {
        errors.add(format!("{prefix}object_id"), "Object ID can't be blank");
    }
    let Some(name) = &draft.event else { return };
    let automation = name.as_str() == AUTOMATION_RULE;
    if automation
        && draft.webhook_id.is_none()
        && !errors_mention(errors, before, prefix, "webhook_id")
    {
        errors.add(
            format!("{prefix}webhook_id"),
            "Webhook ID can't be blank for automation_rule events",
        );
    }
    if !automation && draft.webhook_id.is_some() {
        errors.add(
            format!("{prefix}webhook_id"),
            "Webhook ID is only for automation_rule events",
        );
    }
}

fn errors_mention(errors: &ValidationErrors, from: usize, prefix: &str, field: &str) -> bool {
    let name = format!("{prefix}{field}");
    errors.pairs()[from..].iter().any(|(f, _)| *f == name)
}

/// `{"canonical": url, "resource": url, "related": url}`, each optional,
/// each an absolute http(s) URL.
fn read_links(value: &Value) -> Result<Links, String> {
    let map = match value {
        Value::Null => return Ok(Links::default()),
        Value::Object(map) => map,
        _ => return Err("Links must be an object of canonical, resource and related URLs".into()),
    };
    let mut links = Links::default();
    for (name, url) in map {
        let url = url
            .as_str()
            .ok_or_else(|| format!("Links {name} must be a URL"))?;
        let parsed = url::Url::parse(url).map_err(|_| format!("Links {name} is not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") || url.contains(['<', '>', '\r', '\n']) {
            return Err(format!("Links {name} must be an http(s) URL"));
        }
        let slot = match name.as_str() {
            "canonical" => &mut links.canonical,
            "resource" => &mut links.resource,
            "related" => &mut links.related,
            _ => {
                return Err(format!(
                    "Links {name} is not one of canonical, resource, related"
                ));
            }
        };
        *slot = Some(url.to_string());
    }
    Ok(links)
}
