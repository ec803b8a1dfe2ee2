//! Making and changing a webhook in a form: the fields go through the
//! API's own function, so the same rules give the same 422 messages, shown
//! beside their fields.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::page::{self, Chrome, PageId, PageResult};
use super::session::{ConsoleActor, Fields, Form, Session};
use super::webhook::summary;
use crate::api::state::AppState;
use crate::api::webhooks::{create_webhook, update_webhook};
use crate::domain::list::ListQuery;
use crate::domain::{EventName, ValidationErrors, Webhook};
use crate::error::ApiError;

/// The form's fields: their names in the API, and in the form.
const FIELDS: [&str; 8] = [
    "name",
    "event",
    "uri",
    "description",
    "mail_exceptions_to",
    "source",
    "sourceID",
    "webhook_policy_id",
];

/// Each field's value as typed, and its problems.
#[derive(Default)]
pub struct Field {
    pub value: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/webhook_form.html")]
struct FormPage {
    chrome: Chrome,
    title: String,
    action: String,
    cancel: String,
    submit: &'static str,
    /// In the order of [`FIELDS`].
    fields: Vec<Field>,
    /// Problems with no field of the form.
    other_errors: Vec<String>,
    has_field_errors: bool,
    events: Vec<&'static str>,
    policies: Vec<(String, String)>,
}

impl FormPage {
    fn field(&self, name: &str) -> &Field {
        let index = FIELDS.iter().position(|f| *f == name).unwrap_or(0);
        &self.fields[index]
    }
}

pub async fn new(State(state): State<AppState>, session: Session) -> PageResult {
    let fields = FIELDS.iter().map(|_| Field::default()).collect();
    let page = form_page(&state, &session, None, fields, Vec::new()).await?;
    page::render(&page)
}

pub async fn create(
    State(state): State<AppState>,
    session: Session,
    ConsoleActor(actor): ConsoleActor,
    Form(form): Form,
) -> PageResult {
    let body = body_of(&form);
    match create_webhook(&state, &session.caller, &actor, body, None).await {
        Ok(hook) => page::see_other(&format!("/console/webhooks/{}?notice=created", hook.id)),
        Err(ApiError::Validation(errors)) => {
            let (fields, other) = with_problems(&form, &errors);
            let page = form_page(&state, &session, None, fields, other).await?;
            page::render_with(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn edit(
    State(state): State<AppState>,
    session: Session,
    PageId(id): PageId,
) -> PageResult {
    let hook = summary(&state, &session, id).await?.webhook;
    let fields = values_of(&hook)
        .into_iter()
        .map(|value| Field { value, error: None })
        .collect();
    let page = form_page(&state, &session, Some(&hook), fields, Vec::new()).await?;
    page::render(&page)
}

pub async fn update(
    State(state): State<AppState>,
    session: Session,
    ConsoleActor(actor): ConsoleActor,
    PageId(id): PageId,
    Form(form): Form,
) -> PageResult {
    let hook = summary(&state, &session, id).await?.webhook;
    let body = body_of(&form);
    match update_webhook(&state, &session.caller, &actor, id, body).await {
        Ok(_) => page::see_other(&format!("/console/webhooks/{id}?notice=saved")),
        Err(ApiError::Validation(errors)) => {
            let (fields, other) = with_problems(&form, &errors);
            let page = form_page(&state, &session, Some(&hook), fields, other).await?;
            page::render_with(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(other) => Err(other.into()),
    }
}

/// The page of the form: to make a webhook, or to change `hook`.
async fn form_page(
    state: &AppState,
    session: &Session,
    hook: Option<&Webhook>,
    fields: Vec<Field>,
    other_errors: Vec<String>,
) -> Result<FormPage, super::page::ConsoleError> {
    let query = ListQuery {
        per_page: 100,
        ..ListQuery::default()
    };
    let policies = state
        .store
        .list_policies(&session.caller.account, &query)
        .await?
        .items
        .into_iter()
        .filter(|p| !p.disabled)
        .map(|p| {
            (
                p.id.to_string(),
                format!("{} ({})", p.name, p.jwt_alg.as_str()),
            )
        })
        .collect();
    let (title, action, cancel, submit) = match hook {
        Some(hook) => (
            format!("Edit webhook {}", hook.id),
            format!("/console/webhooks/{}/edit", hook.id),
            format!("/console/webhooks/{}", hook.id),
            "Save",
        ),
        None => (
            "New webhook".to_string(),
            "/console/webhooks/new".to_string(),
            "/console/webhooks".to_string(),
            "Create",
        ),
    };
    Ok(FormPage {
        chrome: session.chrome("webhooks", None),
        title,
        action,
        cancel,
        submit,
        has_field_errors: fields.iter().any(|f| f.error.is_some()),
        fields,
        other_errors,
        events: EventName::catalogue().collect(),
        policies,
    })
}

/// The API's body of the form: a blank field is null (cleared, or left
/// to its default for a new webhook), a policy id a number.
fn body_of(form: &Fields) -> Map<String, Value> {
    let mut body = Map::new();
    for name in FIELDS {
        let value = match form.get(name) {
            None | Some("") => Value::Null,
            Some(text) if name == "webhook_policy_id" => match text.parse::<i64>() {
                Ok(id) => Value::from(id),
                Err(_) => Value::String(text.to_string()),
            },
            Some(text) => Value::String(text.to_string()),
        };
        body.insert(name.to_string(), value);
    }
    body
}

/// The form as sent with each problem beside its field, and the problems
/// of no field of the form.
fn with_problems(form: &Fields, errors: &ValidationErrors) -> (Vec<Field>, Vec<String>) {
    let mut fields: Vec<Field> = FIELDS
        .iter()
        .map(|name| Field {
            value: form.get(name).unwrap_or_default().to_string(),
            error: None,
        })
        .collect();
    let mut other = Vec::new();
    for (field, message) in errors.pairs() {
        match FIELDS.iter().position(|f| f == field) {
            Some(i) => {
                let error = &mut fields[i].error;
                *error = Some(match error.take() {
                    Some(before) => format!("{before}; {message}"),
                    None => message.clone(),
                });
            }
            None => other.push(message.clone()),
        }
    }
    (fields, other)
}

/// A webhook's values in the form's fields.
fn values_of(hook: &Webhook) -> Vec<String> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        hook.name.clone(),
        hook.event.as_str().to_string(),
        hook.uri.clone(),
        text(&hook.description),
        text(&hook.mail_exceptions_to),
        hook.source.clone(),
        text(&hook.source_id),
        hook.webhook_policy_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
    ]
}
