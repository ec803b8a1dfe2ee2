//! The webhooks page: the account's webhooks with their state, success
//! rate and last delivery; filters by state and event, search by name or
//! URI, paging.

use askama::Template;
use axum::extract::{Query, State};

use super::page::{self, Chrome, PageResult};
use super::session::Session;
use crate::api::state::AppState;
use crate::domain::EventName;
use crate::domain::time::now_epoch;
use crate::store::{WebhookSearch, WebhookState, WebhookSummary};

pub const PER_PAGE: i64 = 25;
/// The window of the success rate and the outcomes shown.
pub const WINDOW_SECS: i64 = 24 * 3600;

#[derive(Default, serde::Deserialize)]
pub struct ListQuery {
    state: Option<String>,
    event: Option<String>,
    q: Option<String>,
    page: Option<String>,
    notice: Option<String>,
}

/// A webhook as a row of the table.
pub struct Row {
    pub id: i64,
    pub name: String,
    pub event: String,
    pub uri: String,
    pub state: StateLabel,
    pub rate: String,
    pub last: Option<(String, String)>,
}

/// A webhook's state in words (never colour alone) and its class.
pub struct StateLabel {
    pub text: &'static str,
    pub class: &'static str,
    pub error: Option<String>,
    pub verified: bool,
}

impl StateLabel {
    pub fn of(summary: &WebhookSummary) -> StateLabel {
        let hook = &summary.webhook;
        let (text, class) = if hook.disabled {
            ("Disabled", "off")
        } else if summary.consecutive_failures > 0 {
            ("Failing", "failing")
        } else {
            ("Enabled", "on")
        };
        StateLabel {
            text,
            class,
            error: hook.last_error.clone().filter(|_| text != "Enabled"),
            verified: hook.verified,
        }
    }
}

/// Succeeded of finished deliveries made in the window, as a percentage.
pub fn rate(summary: &WebhookSummary) -> String {
    let finished = summary.succeeded + summary.given_up;
    if finished == 0 {
        return "no finished deliveries".into();
    }
    let percent = summary.succeeded * 100 / finished;
    format!("{percent} % ({} of {finished})", summary.succeeded)
}

#[derive(Template)]
#[template(path = "console/webhooks.html")]
struct WebhooksPage {
    chrome: Chrome,
    rows: Vec<Row>,
    total: i64,
    state: String,
    event: String,
    q: String,
    events: Vec<&'static str>,
    page: i64,
    pages: i64,
    previous: Option<String>,
    next: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<ListQuery>,
) -> PageResult {
    let page_number = query
        .page
        .as_deref()
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| (1..=1_000_000).contains(p))
        .unwrap_or(1);
    let picked_state = query.state.as_deref().unwrap_or_default();
    let event = query
        .event
        .as_deref()
        .and_then(EventName::parse)
        .map(|e| e.as_str().to_string());
    let text = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let search = WebhookSearch {
        state: match picked_state {
            "enabled" => Some(WebhookState::Enabled),
            "disabled" => Some(WebhookState::Disabled),
            "failing" => Some(WebhookState::Failing),
            _ => None,
        },
        event: event.clone(),
        text: text.map(str::to_string),
        id: None,
        limit: PER_PAGE,
        offset: (page_number - 1) * PER_PAGE,
    };
    let since = now_epoch() - WINDOW_SECS;
    let (summaries, total) = state
        .store
        .webhook_summaries(&session.caller.account, &search, since)
        .await?;
    let pages = ((total + PER_PAGE - 1) / PER_PAGE).max(1);
    let link = |page: i64| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("state", picked_state);
        query.append_pair("event", event.as_deref().unwrap_or_default());
        query.append_pair("q", text.unwrap_or_default());
        query.append_pair("page", &page.to_string());
        format!("/console/webhooks?{}", query.finish())
    };
    let rows = summaries.iter().map(row).collect();
    page::render(&WebhooksPage {
        chrome: session.chrome("webhooks", page::notice(query.notice.as_deref(), None)),
        rows,
        total,
        state: picked_state.to_string(),
        event: event.clone().unwrap_or_default(),
        q: text.unwrap_or_default().to_string(),
        events: EventName::catalogue().collect(),
        page: page_number,
        pages,
        previous: (page_number > 1).then(|| link(page_number - 1)),
        next: (page_number < pages).then(|| link(page_number + 1)),
    })
}

fn row(summary: &WebhookSummary) -> Row {
    let hook = &summary.webhook;
    Row {
        id: hook.id,
        name: hook.name.clone(),
        event: hook.event.as_str().to_string(),
        uri: hook.uri.clone(),
        state: StateLabel::of(summary),
        rate: rate(summary),
        last: summary
            .last_delivery
            .as_ref()
            .map(|(status, at)| (status.replace('_', " "), page::when(*at))),
    }
}
