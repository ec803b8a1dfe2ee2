//! The policies page: the account's signing policies and how many webhooks
//! use each; making one (its key shown this once), disabling, enabling and
//! deleting one (refused while webhooks use it, naming them).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::page::{self, Chrome, ConsoleError, PageId, PageResult};
use super::session::{ConsoleActor, Fields, Form, Session};
use super::webhook::ConfirmPage;
use crate::api::state::AppState;
use crate::api::webhook_policies::{Created, create_policy};
use crate::domain::list::ListQuery;
use crate::domain::policy::{JwtAlg, PolicyChanges};
use crate::domain::time::now_epoch;
use crate::error::ApiError;
use crate::store::PolicyDeletion;

pub struct Row {
    pub id: i64,
    pub name: String,
    pub alg: &'static str,
    pub audience: String,
    pub expires_in: String,
    pub disabled: bool,
    pub webhooks: i64,
    pub created: String,
}

/// A policy just made: its name and what receivers need, shown once.
pub struct Made {
    pub name: String,
    pub what: &'static str,
    pub key: String,
}

#[derive(Template)]
#[template(path = "console/policies.html")]
struct PoliciesPage {
    chrome: Chrome,
    rows: Vec<Row>,
    algs: Vec<&'static str>,
    made: Option<Made>,
    /// The creation form as sent, and its problems.
    alg: String,
    audience: String,
    expires_in: String,
    errors: Vec<(String, String)>,
    problem: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct ListQueryParams {
    notice: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<ListQueryParams>,
) -> PageResult {
    let notice = page::notice(query.notice.as_deref(), None);
    page::render(&policies_page(&state, &session, notice).await?)
}

async fn policies_page(
    state: &AppState,
    session: &Session,
    notice: Option<String>,
) -> Result<PoliciesPage, ConsoleError> {
    let account = &session.caller.account;
    let query = ListQuery {
        per_page: 100,
        ..ListQuery::default()
    };
    let policies = state.store.list_policies(account, &query).await?.items;
    let uses: HashMap<i64, i64> = state
        .store
        .webhooks_by_policy(account)
        .await?
        .into_iter()
        .collect();
    let rows = policies
        .iter()
        .map(|p| Row {
            id: p.id,
            name: p.name.clone(),
            alg: p.jwt_alg.as_str(),
            audience: p.jwt_audience.clone().unwrap_or_else(|| "—".into()),
            expires_in: p
                .jwt_claim_expires_in
                .map_or_else(|| "—".into(), |m| format!("{m} min")),
            disabled: p.disabled,
            webhooks: uses.get(&p.id).copied().unwrap_or(0),
            created: page::when(p.created_at),
        })
        .collect();
    Ok(PoliciesPage {
        chrome: session.chrome("policies", notice),
        rows,
        algs: JwtAlg::ALL.iter().map(|a| a.as_str()).collect(),
        made: None,
        alg: String::new(),
        audience: String::new(),
        expires_in: String::new(),
        errors: Vec::new(),
        problem: None,
    })
}

/// Makes a policy through the API's function; the page that answers shows
/// its public key or secret, this once.
pub async fn create(
    State(state): State<AppState>,
    session: Session,
    ConsoleActor(actor): ConsoleActor,
    Form(form): Form,
) -> PageResult {
    match create_policy(&state, &session.caller, &actor, body_of(&form)).await {
        Ok(created) => {
            let mut page = policies_page(&state, &session, None).await?;
            page.made = Some(made(created));
            page::render_with(StatusCode::CREATED, &page)
        }
        Err(ApiError::Validation(errors)) => {
            let mut page = policies_page(&state, &session, None).await?;
            page.alg = form.get("jwt_alg").unwrap_or_default().to_string();
            page.audience = form.get("jwt_audience").unwrap_or_default().to_string();
            page.expires_in = form
                .get("jwt_claim_expires_in")
                .unwrap_or_default()
                .to_string();
            page.errors = errors.pairs().to_vec();
            page::render_with(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(other) => Err(other.into()),
    }
}

fn made(created: Created) -> Made {
    let generated = created.key.generated;
    let (what, key) = match (
        generated.public_key_pem,
        generated.jwt_secret,
        generated.webhook_secret,
    ) {
        (Some(pem), _, _) => ("public key (PEM)", pem),
        (None, Some(secret), _) => ("shared secret", secret),
        (None, None, Some(secret)) => ("Standard Webhooks secret", secret),
        (None, None, None) => ("key", String::new()),
    };
    Made {
        name: created.policy.name,
        what,
        key,
    }
}

fn body_of(form: &Fields) -> Map<String, Value> {
    let mut body = Map::new();
    let text = |name| match form.get(name) {
        None | Some("") => Value::Null,
        Some(text) => Value::String(text.to_string()),
    };
    body.insert("jwt_alg".into(), text("jwt_alg"));
    body.insert("jwt_audience".into(), text("jwt_audience"));
    let expires = match form.get("jwt_claim_expires_in") {
        None | Some("") => Value::Null,
        Some(text) => text
            .parse::<i64>()
            .map_or_else(|_| Value::String(text.to_string()), Value::from),
    };
    body.insert("jwt_claim_expires_in".into(), expires);
    body
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

/// As a PATCH of `disabled` would.
async fn set_disabled(
    State(state): State<AppState>,
    session: Session,
    ConsoleActor(actor): ConsoleActor,
    PageId(id): PageId,
    Form(_): Form,
    disabled: bool,
) -> PageResult {
    let changes = PolicyChanges {
        disabled: Some(disabled),
        jwt_audience: None,
        jwt_claim_expires_in: None,
        openid_connect_discovery: None,
    };
    state
        .store
        .update_policy(&session.caller.account, id, &changes, &actor, now_epoch())
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let notice = if disabled { "disabled" } else { "enabled" };
    page::see_other(&format!("/console/policies?notice={notice}"))
}

pub async fn confirm_delete(
    State(state): State<AppState>,
    session: Session,
    PageId(id): PageId,
) -> PageResult {
    let policy = state
        .store
        .get_policy(&session.caller.account, id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    page::render(&ConfirmPage {
        chrome: session.chrome("policies", None),
        title: format!("Delete policy {}", policy.id),
        question: format!(
            "Delete the policy {} ({})? Receivers that check its signatures will no longer get signed messages from it. This cannot be undone.",
            policy.name,
            policy.jwt_alg.as_str()
        ),
        action: format!("/console/policies/{id}/delete"),
        cancel: "/console/policies".into(),
    })
}

/// Deletes a policy no webhook uses, as `DELETE /v1/webhook_policies/:id`;
/// while webhooks use it, the page names them.
pub async fn delete(
    State(state): State<AppState>,
    session: Session,
    ConsoleActor(actor): ConsoleActor,
    PageId(id): PageId,
    Form(_): Form,
) -> PageResult {
    let account = &session.caller.account;
    match state
        .store
        .delete_policy(account, id, &actor, now_epoch())
        .await?
    {
        PolicyDeletion::Deleted => page::see_other("/console/policies?notice=deleted"),
        PolicyDeletion::NotFound => Err(ConsoleError::NotFound),
        PolicyDeletion::InUse(ids) => {
            let mut names = Vec::new();
            for hook_id in ids.iter().take(20) {
                if let Some(hook) = state.store.get_webhook(account, *hook_id).await? {
                    names.push(format!("“{}” (id {})", hook.name, hook.id));
                }
            }
            if ids.len() > 20 {
                names.push(format!("and {} more", ids.len() - 20));
            }
            let mut page = policies_page(&state, &session, None).await?;
            page.problem = Some(format!(
                "Policy {id} is not deleted: webhooks use it: {}. Link them to another policy or none first.",
                names.join(", ")
            ));
            page::render_with(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}
