//! The events page: the catalogue, with how many of the account's
//! webhooks are on each event.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;

use super::page::{self, Chrome, PageResult};
use super::session::Session;
use crate::api::state::AppState;
use crate::domain::EventName;

#[derive(Template)]
#[template(path = "console/events.html")]
struct EventsPage {
    chrome: Chrome,
    events: Vec<(&'static str, i64)>,
}

pub async fn list(State(state): State<AppState>, session: Session) -> PageResult {
    let counts: HashMap<String, i64> = state
        .store
        .webhooks_by_event(&session.caller.account)
        .await?
        .into_iter()
        .collect();
    let events = EventName::catalogue()
        .map(|name| (name, counts.get(name).copied().unwrap_or(0)))
        .collect();
    page::render(&EventsPage {
        chrome: session.chrome("events", None),
        events,
    })
}
