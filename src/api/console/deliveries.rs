//! A delivery's page: its message (or the one it will send), every
//! attempt with the receiver's answer, and redelivery.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde_json::Value;

use super::page::{self, Chrome, ConsoleError, PageId, PageResult};
use super::session::{ConsoleActor, Form, Session};
use crate::api::deliveries::message_of;
use crate::api::state::AppState;
use crate::domain::delivery::{AttemptRecord, DeliveryRecord, Redelivery};
use crate::domain::time::{now_epoch, now_millis};

#[derive(serde::Deserialize)]
pub struct ShowQuery {
    notice: Option<String>,
}

pub struct Attempt {
    pub number: usize,
    pub started: String,
    pub duration_ms: i64,
    pub trigger: &'static str,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub ip: Option<String>,
    pub headers: String,
    pub headers_truncated: bool,
    pub body: Option<String>,
    pub body_truncated: bool,
}

#[derive(Template)]
#[template(path = "console/delivery.html")]
struct DeliveryPage {
    chrome: Chrome,
    delivery: DeliveryRecord,
    status: String,
    created: String,
    next_attempt: Option<String>,
    message: String,
    sent: bool,
    attempts: Vec<Attempt>,
    problem: Option<&'static str>,
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    PageId(id): PageId,
    Query(query): Query<ShowQuery>,
) -> PageResult {
    let notice = page::notice(query.notice.as_deref(), None);
    let page = delivery_page(&state, &session, id, notice).await?;
    page::render(&page)
}

async fn delivery_page(
    state: &AppState,
    session: &Session,
    id: i64,
    notice: Option<String>,
) -> Result<DeliveryPage, ConsoleError> {
    let (delivery, attempts) = state
        .store
        .get_delivery(&session.caller.account, id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let message = message_of(state, &session.caller.account, &delivery).await?;
    let message = match message {
        Value::Null => "No message: its webhook is gone.".to_string(),
        message => serde_json::to_string_pretty(&message).unwrap_or_default(),
    };
    Ok(DeliveryPage {
        chrome: session.chrome("webhooks", notice),
        status: delivery.status.as_str().replace('_', " "),
        created: page::when(delivery.created_at),
        next_attempt: (!delivery.status.is_final())
            .then(|| page::when(delivery.next_attempt_at / 1000)),
        message,
        sent: delivery.message.is_some(),
        attempts: attempts
            .iter()
            .enumerate()
            .map(|(i, a)| attempt(i + 1, a))
            .collect(),
        problem: None,
        delivery,
    })
}

fn attempt(number: usize, attempt: &AttemptRecord) -> Attempt {
    let headers = match &attempt.response_headers {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(name, value)| match value {
                Value::String(text) => format!("{name}: {text}"),
                other => format!("{name}: {other}"),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let started = attempt.started_at;
    Attempt {
        number,
        started: format!(
            "{}.{:03}",
            &page::when(started / 1000)[..19],
            started % 1000
        ),
        duration_ms: attempt.duration_ms,
        trigger: attempt.trigger.as_str(),
        status: attempt.response_status,
        error: attempt.error.clone(),
        ip: attempt.remote_ip.clone(),
        headers,
        headers_truncated: attempt.response_headers_truncated,
        body: attempt.response_body.clone(),
        body_truncated: attempt.response_truncated,
    }
}

/// Sends a finished delivery's message again as a new delivery, as
/// `POST /v1/webhook_deliveries/:id/redeliver`, and shows the new one.
pub async fn redeliver(
    State(state): State<AppState>,
    session: Session,
    ConsoleActor(actor): ConsoleActor,
    PageId(id): PageId,
    Form(_): Form,
) -> PageResult {
    let account = &session.caller.account;
    match state
        .store
        .redeliver(account, id, &actor, now_epoch(), now_millis())
        .await?
    {
        Redelivery::Queued(delivery) => {
            state.wake.notify_one();
            page::see_other(&format!(
                "/console/deliveries/{}?notice=redelivered",
                delivery.id
            ))
        }
        Redelivery::NotFound => Err(ConsoleError::NotFound),
        Redelivery::NotFinished => {
            let mut page = delivery_page(&state, &session, id, None).await?;
            page.problem = Some("Only succeeded or given up deliveries can be redelivered.");
            page::render_with(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}
