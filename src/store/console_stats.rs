//! What the web console reads beyond the API's records: an account's
//! webhooks by state, its deliveries of the last hours by outcome, its
//! queue, and each webhook with its recent deliveries' outcomes.

use sqlx::{Database, Encode, QueryBuilder, Type};

use super::backend::on_db;
use super::{Store, StoreResult, rows};
use crate::domain::{AccountId, Webhook};

/// An account's webhooks: all, disabled, and enabled ones whose last
/// attempt failed (failing).
const ACCOUNT_WEBHOOKS: &str = "SELECT COUNT(*), COUNT(*) FILTER (WHERE disabled), \
     COUNT(*) FILTER (WHERE NOT disabled AND consecutive_failures > 0) FROM webhooks \
     WHERE account_id = $1";

/// An account's deliveries made since `$2`, by hour since then and status.
const DELIVERIES_BY_HOUR: &str = "SELECT (created_at - $2) / 3600 AS hour, status, COUNT(*) \
     FROM deliveries WHERE account_id = $1 AND created_at >= $2 GROUP BY 1, 2";

/// An account's queue at `$2` (epoch ms): pending and in-flight
/// deliveries, how many are due, and the earliest time one is due; from
/// the index of each account's queue alone (whose condition it repeats).
const ACCOUNT_QUEUE: &str = "SELECT COUNT(*), COUNT(*) FILTER (WHERE next_attempt_at <= $2), \
     MIN(next_attempt_at) FROM deliveries \
     WHERE account_id = $1 AND status IN ('pending', 'in_flight')";

/// How many webhooks of the account are on each event.
const WEBHOOKS_BY_EVENT: &str = "SELECT event, COUNT(*) FROM webhooks WHERE account_id = $1 \
     GROUP BY event";

/// How many webhooks of the account use each policy.
const WEBHOOKS_BY_POLICY: &str = "SELECT webhook_policy_id, COUNT(*) FROM webhooks \
     WHERE account_id = $1 AND webhook_policy_id IS NOT NULL GROUP BY webhook_policy_id";

/// A page of webhooks with their deliveries' outcomes since `s.since`
/// and their last delivery, in three parts: this head, the page of
/// webhooks (filters, order, limit), and [`SUMMARIES_TAIL`] binding `since`.
/// The page is picked first, so the outcomes are read for its rows only.
const SUMMARIES_HEAD: &str = "SELECT w.id, w.account_id, w.name, w.event, w.uri, \
     w.description, w.disabled, w.mail_exceptions_to, w.source, w.source_id, \
     w.webhook_policy_id, (SELECT p.name FROM webhook_policies p WHERE p.id = w.webhook_policy_id) \
     AS webhook_policy_name, w.attachments, w.last_error, w.verified, w.created_at, w.updated_at, \
     w.consecutive_failures, \
     (SELECT COUNT(*) FROM deliveries d WHERE d.webhook_id = w.id AND d.created_at >= s.since \
     AND d.status = 'succeeded') AS succeeded, \
     (SELECT COUNT(*) FROM deliveries d WHERE d.webhook_id = w.id AND d.created_at >= s.since \
     AND d.status = 'given_up') AS given_up, \
     (SELECT d.status FROM deliveries d WHERE d.webhook_id = w.id ORDER BY d.id DESC LIMIT 1) \
     AS last_delivery_status, \
     (SELECT d.created_at FROM deliveries d WHERE d.webhook_id = w.id ORDER BY d.id DESC LIMIT 1) \
     AS last_delivery_at \
     FROM (SELECT * FROM webhooks w WHERE w.account_id = ";

const SUMMARIES_TAIL: &str = ") w CROSS JOIN (SELECT ";

const WEBHOOK_COUNT: &str = "SELECT COUNT(*) FROM webhooks w WHERE w.account_id = ";

/// A webhook's state, as the console filters webhooks by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookState {
    Enabled,
    Disabled,
    /// Enabled, and its last attempt failed.
    Failing,
}

/// Which of an account's webhooks to list.
#[derive(Clone, Debug, Default)]
pub struct WebhookSearch {
    pub state: Option<WebhookState>,
    pub event: Option<String>,
    /// Part of the name or URI, any case.
    pub text: Option<String>,
    pub id: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

/// A webhook with what its deliveries did lately.
#[derive(Clone, Debug)]
pub struct WebhookSummary {
    pub webhook: Webhook,
    pub consecutive_failures: i64,
    /// Deliveries made in the window that succeeded, and that were given up.
    pub succeeded: i64,
    pub given_up: i64,
    /// The status and creation time of its newest delivery.
    pub last_delivery: Option<(String, i64)>,
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    #[sqlx(flatten)]
    webhook: rows::WebhookRow,
    consecutive_failures: i64,
    succeeded: i64,
    given_up: i64,
    last_delivery_status: Option<String>,
    last_delivery_at: Option<i64>,
}

/// An account's webhooks by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountWebhooks {
    pub all: i64,
    pub disabled: i64,
    pub failing: i64,
}

/// An account's queue at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountQueue {
    pub queued: i64,
    pub due: i64,
    /// Epoch ms the delivery due longest has been due since.
    pub oldest_due_ms: Option<i64>,
}

impl Store {
    #[tracing::instrument(skip(self))]
    pub async fn account_webhooks(&self, account: &AccountId) -> StoreResult<AccountWebhooks> {
        let (all, disabled, failing): (i64, i64, i64) = on_db!(&self.db, |db| {
            sqlx::query_as(ACCOUNT_WEBHOOKS)
                .bind(account.as_str())
                .fetch_one(&db.read)
                .await
        })?;
        Ok(AccountWebhooks {
            all,
            disabled,
            failing,
        })
    }

    /// The account's deliveries made since `since`: (hour since then,
    /// status, count).
    #[tracing::instrument(skip(self))]
    pub async fn deliveries_by_hour(
        &self,
        account: &AccountId,
        since: i64,
    ) -> StoreResult<Vec<(i64, String, i64)>> {
        Ok(on_db!(&self.db, |db| {
            sqlx::query_as(DELIVERIES_BY_HOUR)
                .bind(account.as_str())
                .bind(since)
                .fetch_all(&db.read)
                .await
        })?)
    }

    #[tracing::instrument(skip(self))]
    pub async fn account_queue(
        &self,
        account: &AccountId,
        now_ms: i64,
    ) -> StoreResult<AccountQueue> {
        let (queued, due, earliest): (i64, i64, Option<i64>) = on_db!(&self.db, |db| {
            sqlx::query_as(ACCOUNT_QUEUE)
                .bind(account.as_str())
                .bind(now_ms)
                .fetch_one(&db.read)
                .await
        })?;
        Ok(AccountQueue {
            queued,
            due,
            oldest_due_ms: earliest.filter(|&at| at <= now_ms),
        })
    }

    /// How many of the account's webhooks are on each event.
    #[tracing::instrument(skip(self))]
    pub async fn webhooks_by_event(&self, account: &AccountId) -> StoreResult<Vec<(String, i64)>> {
        Ok(on_db!(&self.db, |db| {
            sqlx::query_as(WEBHOOKS_BY_EVENT)
                .bind(account.as_str())
                .fetch_all(&db.read)
                .await
        })?)
    }

    /// How many of the account's webhooks use each policy.
    #[tracing::instrument(skip(self))]
    pub async fn webhooks_by_policy(&self, account: &AccountId) -> StoreResult<Vec<(i64, i64)>> {
        Ok(on_db!(&self.db, |db| {
            sqlx::query_as(WEBHOOKS_BY_POLICY)
                .bind(account.as_str())
                .fetch_all(&db.read)
                .await
        })?)
    }

    /// A page of the account's webhooks that `search` picks, newest first,
    /// with their deliveries' outcomes since `since`; and how many it picks
    /// in all.
    #[tracing::instrument(skip(self))]
    pub async fn webhook_summaries(
        &self,
        account: &AccountId,
        search: &WebhookSearch,
        since: i64,
    ) -> StoreResult<(Vec<WebhookSummary>, i64)> {
        // Any case: SQLite's LIKE folds ASCII letters (as its lower() does),
        // PostgreSQL's ILIKE every letter.
        let like = self.db.pick(" LIKE ", " ILIKE ");
        let (rows, total): (Vec<SummaryRow>, i64) = on_db!(&self.db, |db| {
            let mut select = QueryBuilder::new(SUMMARIES_HEAD);
            push_search(&mut select, account, search, like);
            select
                .push(" ORDER BY w.id DESC LIMIT ")
                .push_bind(search.limit)
                .push(" OFFSET ")
                .push_bind(search.offset)
                .push(SUMMARIES_TAIL)
                .push_bind(since)
                .push(" AS since) s ORDER BY w.id DESC");
            let mut count = QueryBuilder::new(WEBHOOK_COUNT);
            push_search(&mut count, account, search, like);
            // The page and the count on two connections at once.
            let (rows, (total,)) = tokio::try_join!(
                select.build_query_as().fetch_all(&db.read),
                count.build_query_as().fetch_one(&db.read),
            )?;
            (rows, total)
        });
        let summaries = rows
            .into_iter()
            .map(|row| {
                Ok(WebhookSummary {
                    webhook: row.webhook.into_domain()?,
                    consecutive_failures: row.consecutive_failures,
                    succeeded: row.succeeded,
                    given_up: row.given_up,
                    last_delivery: row.last_delivery_status.zip(row.last_delivery_at),
                })
            })
            .collect::<StoreResult<_>>()?;
        Ok((summaries, total))
    }
}

/// The account (its value) and the conditions of `search`, every value
/// bound; `like` is the backend's operator that matches text in any case.
fn push_search<'a, DB>(
    qb: &mut QueryBuilder<'a, DB>,
    account: &AccountId,
    search: &WebhookSearch,
    like: &str,
) where
    DB: Database,
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
    qb.push_bind(account.as_str().to_string());
    match search.state {
        Some(WebhookState::Enabled) => qb.push(" AND NOT w.disabled"),
        Some(WebhookState::Disabled) => qb.push(" AND w.disabled"),
        Some(WebhookState::Failing) => {
            qb.push(" AND NOT w.disabled AND w.consecutive_failures > 0")
        }
        None => qb,
    };
    if let Some(event) = &search.event {
        qb.push(" AND w.event = ").push_bind(event.clone());
    }
    if let Some(text) = &search.text {
        let pattern = format!("%{}%", like_escaped(text));
        qb.push(" AND (w.name")
            .push(like)
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR w.uri")
            .push(like)
            .push_bind(pattern)
            .push(" ESCAPE '\\')");
    }
    if let Some(id) = search.id {
        qb.push(" AND w.id = ").push_bind(id);
    }
}

/// `text` with LIKE's wildcards and escape taken literally.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
