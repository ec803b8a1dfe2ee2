//! A webhook's page: every field, its recent outcomes and deliveries, and
//! what can be done to it (enable, disable, test, verify again, recover
//! what it gave up, delete).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::page::{self, Chrome, ConsoleError, PageId, PageResult};
use super::session::{ConsoleActor, Form, Session};
use super::webhooks::{StateLabel, WINDOW_SECS, rate};
use crate::api::deliveries::recover_given_up;
use crate::api::state::AppState;
use crate::api::webhooks::{send_verification, update_webhook};
use crate::domain::delivery::{DeliveryRecord, DeliveryStatus, of_webhook};
use crate::domain::list::{
    Condition, FieldKind, Filter, ListField, ListQuery, SortKey, Value as V,
};
use crate::domain::time::{now_epoch, now_millis};
use crate::error::ApiError;
use crate::store::{WebhookSearch, WebhookSummary};

const PER_PAGE: u32 = 25;

#[derive(Default, serde::Deserialize)]
pub struct ShowQuery {
    status: Option<String>,
    page: Option<String>,
    notice: Option<String>,
    n: Option<i64>,
}

/// A delivery as a row of the webhook's list.
pub struct DeliveryRow {
    pub id: i64,
    pub event: String,
    pub object_id: i64,
    pub kind: &'static str,
    pub status: String,
    pub status_class: &'static str,
    pub attempts: i64,
    pub created: String,
    pub last_error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/webhook.html")]
struct WebhookPage {
    chrome: Chrome,
    summary: WebhookSummary,
    state: StateLabel,
    rate: String,
    fields: Vec<(&'static str, String)>,
    deliveries: Vec<DeliveryRow>,
    total: i64,
    status: String,
    page: u32,
    previous: Option<String>,
    next: Option<String>,
    since: String,
    recover_error: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    PageId(id): PageId,
    Query(query): Query<ShowQuery>,
) -> PageResult {
    let notice = page::notice(query.notice.as_deref(), query.n);
    let page = webhook_page(&state, &session, id, &query, notice).await?;
    page::render(&page)
}

/// The account's webhook `id` with its outcomes of the window, or the 404 page.
pub async fn summary(
    state: &AppState,
    session: &Session,
    id: i64,
) -> Result<WebhookSummary, ConsoleError> {
    let search = WebhookSearch {
        id: Some(id),
        limit: 1,
        ..WebhookSearch::default()
    };
    let since = now_epoch() - WINDOW_SECS;
    let (mut found, _) = state
        .store
        .webhook_summaries(&session.caller.account, &search, since)
        .await?;
    found.pop().ok_or(ConsoleError::NotFound)
}

async fn webhook_page(
    state: &AppState,
    session: &Session,
    id: i64,
    query: &ShowQuery,
    notice: Option<String>,
) -> Result<WebhookPage, ConsoleError> {
    let summary = summary(state, session, id).await?;
    let status = query
        .status
        .as_deref()
        .and_then(DeliveryStatus::parse)
        .map(|s| s.as_str().to_string());
    let page = query
        .page
        .as_deref()
        .and_then(|p| p.parse::<u32>().ok())
        .filter(|&p| (1..=100_000).contains(&p))
        .unwrap_or(1);
    let mut list = ListQuery {
        filters: vec![of_webhook(id)],
        sort: vec![SortKey {
            column: "id",
            descending: true,
        }],
        page,
        per_page: PER_PAGE,
    };
    if let Some(status) = &status {
        list.filters.push(status_filter(status));
    }
    let deliveries = state
        .store
        .list_deliveries(&session.caller.account, &list)
        .await?;
    let link = |page: u32| {
        let status = status.as_deref().unwrap_or_default();
        format!("/console/webhooks/{id}?status={status}&page={page}#deliveries")
    };
    let last_page = (deliveries.total as u32).div_ceil(PER_PAGE).max(1);
    Ok(WebhookPage {
        chrome: session.chrome("webhooks", notice),
        state: StateLabel::of(&summary),
        rate: rate(&summary),
        fields: fields(&summary),
        deliveries: deliveries.items.iter().map(delivery_row).collect(),
        total: deliveries.total,
        status: status.clone().unwrap_or_default(),
        page,
        previous: (page > 1).then(|| link(page - 1)),
        next: (page < last_page).then(|| link(page + 1)),
        since: String::new(),
        recover_error: None,
        summary,
    })
}

fn status_filter(status: &str) -> Filter {
    Filter {
        field: ListField {
            name: "status",
            column: "status",
            kind: FieldKind::Enum,
            case_insensitive: false,
        },
        conditions: vec![Condition::Eq(V::Text(status.to_string()))],
    }
}

/// Every field of the record, by the API's names, as text.
fn fields(summary: &WebhookSummary) -> Vec<(&'static str, String)> {
    let hook = &summary.webhook;
    let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    let policy = match (&hook.webhook_policy_id, &hook.webhook_policy_name) {
        (Some(id), Some(name)) => format!("{name} (id {id})"),
        (Some(id), None) => format!("id {id}"),
        _ => "none: messages are not signed".into(),
    };
    let attachments: Vec<&str> = hook.attachments.iter().map(|a| a.key.as_str()).collect();
    vec![
        ("id", hook.id.to_string()),
        ("name", hook.name.clone()),
        ("event", hook.event.as_str().to_string()),
        ("uri", hook.uri.clone()),
        ("description", or_none(&hook.description)),
        ("disabled", if hook.disabled { "yes" } else { "no" }.into()),
        ("verified", if hook.verified { "yes" } else { "no" }.into()),
        ("last_error", or_none(&hook.last_error)),
        (
            "consecutive failures",
            summary.consecutive_failures.to_string(),
        ),
        ("mail_exceptions_to", or_none(&hook.mail_exceptions_to)),
        ("source", hook.source.clone()),
        ("sourceID", or_none(&hook.source_id)),
        ("webhook_policy", policy),
        ("attachments", attachments.join(", ")),
        ("created_at", page::when(hook.created_at)),
        ("updated_at", page::when(hook.updated_at)),
    ]
}

pub fn delivery_row(delivery: &DeliveryRecord) -> DeliveryRow {
    DeliveryRow {
        id: delivery.id,
        event: delivery.event.clone(),
        object_id: delivery.object_id,
        kind: delivery.kind.as_str(),
        status: delivery.status.as_str().replace('_', " "),
        status_class: delivery.status.as_str(),
        attempts: delivery.attempts,
        created: page::when(delivery.created_at),
        last_error: delivery.last_error.clone(),
    }
}

pub async fn enable(
    state: State<AppState>,
    session: Session,
    actor: ConsoleActor,
    id: PageId,
    form: Form,
) -> PageResult {
    set_disabled(state, session, actor, id, form, false).await
}

pub async fn disable(
    state: State<AppState>,
    session: Session,
    actor: ConsoleActor,
    id: PageId,
    form: Form,
) -> PageResult {
    set_disabled(state, session, actor, id, form, true).await
}

/// Enables or disables the webhook as a PATCH of `disabled` would.
async fn set_disabled(
    State(state): State<AppState>,
    session: Session,
    ConsoleActor(actor): ConsoleActor,
    PageId(id): PageId,
    Form(_): Form,
    disabled: bool,
) -> PageResult {
    let mut body = Map::new();
    body.insert("disabled".into(), Value::Bool(disabled));
    update_webhook(&state, &session.caller, &actor, id, body).await?;
    let notice = if disabled { "disabled" } else { "enabled" };
    page::see_other(&format!("/console/webhooks/{id}?notice={notice}"))
}

/// Queues a test message, as `POST /v1/webhooks/:id/test`.
pub async fn test(
    State(state): State<AppState>,
    session: Session,
    ConsoleActor(actor): ConsoleActor,
    PageId(id): PageId,
    Form(_): Form,
) -> PageResult {
    let queued = state
        .store
        .enqueue_test(
            &session.caller.account,
            id,
            &actor,
            now_epoch(),
            now_millis(),
        )
        .await?;
    if !queued {
        return Err(ConsoleError::NotFound);
    }
    state.wake.notify_one();
    page::see_other(&format!(
        "/console/webhooks/{id}?notice=test_sent#deliveries"
    ))
}

/// Sends the verification handshake again with a new code (the old one
/// is void), unless the URI is verified already.
pub async fn verify(
    State(state): State<AppState>,
    session: Session,
    ConsoleActor(actor): ConsoleActor,
    PageId(id): PageId,
    Form(_): Form,
) -> PageResult {
    let summary = summary(&state, &session, id).await?;
    let verified =
        summary.webhook.verified || send_verification(&state, &summary.webhook, &actor).await?;
    let notice = if verified {
        "verified"
    } else {
        "verification_sent"
    };
    page::see_other(&format!("/console/webhooks/{id}?notice={notice}"))
}

/// Redelivers what the webhook gave up since the time given, as
/// `POST /v1/webhooks/:id/recover`; a bad time is shown beside its field.
pub async fn recover(
    State(state): State<AppState>,
    session: Session,
    ConsoleActor(actor): ConsoleActor,
    PageId(id): PageId,
    Form(fields): Form,
) -> PageResult {
    let since = fields.get("since").unwrap_or_default().to_string();
    let body = recovery_body(&since);
    match recover_given_up(&state, &session.caller.account, &actor, id, &body).await {
        Ok(queued) => page::see_other(&format!(
            "/console/webhooks/{id}?notice=recovered&n={queued}"
        )),
        Err(ApiError::Validation(errors)) => {
            let mut page = webhook_page(&state, &session, id, &ShowQuery::default(), None).await?;
            page.recover_error = Some(
                errors
                    .pairs()
                    .iter()
                    .map(|(_, m)| m.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            );
            page.since = since;
            page::render_with(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(other) => Err(other.into()),
    }
}

/// The API's body of a recovery from the form's time: a browser's
/// `datetime-local` (no zone) is taken as UTC.
fn recovery_body(since: &str) -> Map<String, Value> {
    let since = match since.len() {
        0 => Value::Null,
        16 if since.as_bytes()[10] == b'T' => json!(format!("{since}:00Z")),
        19 if since.as_bytes()[10] == b'T' => json!(format!("{since}Z")),
        _ => json!(since),
    };
    let mut body = Map::new();
    body.insert("since".into(), since);
    body
}

#[derive(Template)]
#[template(path = "console/confirm.html")]
pub struct ConfirmPage {
    pub chrome: Chrome,
    pub title: String,
    pub question: String,
    pub action: String,
    pub cancel: String,
}

pub async fn confirm_delete(
    State(state): State<AppState>,
    session: Session,
    PageId(id): PageId,
) -> PageResult {
    let summary = summary(&state, &session, id).await?;
    let hook = summary.webhook;
    page::render(&ConfirmPage {
        chrome: session.chrome("webhooks", None),
        title: format!("Delete webhook {}", hook.id),
        question: format!(
            "Delete the webhook “{}” on {} to {}? Its pending deliveries are given up. This cannot be undone.",
            hook.name,
            hook.event.as_str(),
            hook.uri
        ),
        action: format!("/console/webhooks/{id}/delete"),
        cancel: format!("/console/webhooks/{id}"),
    })
}

/// Deletes the webhook, as `DELETE /v1/webhooks/:id`.
pub async fn delete(
    State(state): State<AppState>,
    session: Session,
    ConsoleActor(actor): ConsoleActor,
    PageId(id): PageId,
    Form(_): Form,
) -> PageResult {
    let deleted = state
        .store
        .delete_webhook(&session.caller.account, id, &actor, now_epoch())
        .await?;
    if !deleted {
        return Err(ConsoleError::NotFound);
    }
    page::see_other("/console/webhooks?notice=deleted")
}
