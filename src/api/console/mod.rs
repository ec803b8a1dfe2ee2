//! The web console at `/console`: pages rendered on the server from the
//! compiled templates of `templates/console/`, for an administrator signed
//! in with their token. One module per group of pages; each action goes
//! through the same functions as the API's, so the same rules and audit
//! trail apply.

mod assets;
mod deliveries;
mod events;
mod overview;
mod page;
mod policies;
mod session;
mod webhook;
mod webhook_form;
mod webhooks;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};

use crate::api::state::AppState;

pub use page::CONTENT_SECURITY_POLICY;

/// Every route of the console: the sign-in page and the assets for
/// anyone, the rest in a session.
pub fn router(state: &AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/console", get(overview::show))
        .route("/console/sign-out", post(session::sign_out))
        .route("/console/webhooks", get(webhooks::list))
        .route(
            "/console/webhooks/new",
            get(webhook_form::new).post(webhook_form::create),
        )
        .route("/console/webhooks/{id}", get(webhook::show))
        .route(
            "/console/webhooks/{id}/edit",
            get(webhook_form::edit).post(webhook_form::update),
        )
        .route("/console/webhooks/{id}/enable", post(webhook::enable))
        .route("/console/webhooks/{id}/disable", post(webhook::disable))
        .route("/console/webhooks/{id}/test", post(webhook::test))
        .route("/console/webhooks/{id}/verify", post(webhook::verify))
        .route("/console/webhooks/{id}/recover", post(webhook::recover))
        .route(
            "/console/webhooks/{id}/delete",
            get(webhook::confirm_delete).post(webhook::delete),
        )
        .route("/console/deliveries/{id}", get(deliveries::show))
        .route(
            "/console/deliveries/{id}/redeliver",
            post(deliveries::redeliver),
        )
        .route(
            "/console/policies",
            get(policies::list).post(policies::create),
        )
        .route("/console/policies/{id}/enable", post(policies::enable))
        .route("/console/policies/{id}/disable", post(policies::disable))
        .route(
            "/console/policies/{id}/delete",
            get(policies::confirm_delete).post(policies::delete),
        )
        .route("/console/events", get(events::list))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            session::require_session,
        ));
    Router::new()
        .route(
            session::SIGN_IN_PATH,
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/console/assets/{file}", get(assets::serve))
        .route("/console/{*rest}", get(page::not_found))
        .merge(pages)
        .layer(middleware::map_response(page::security_headers))
}
