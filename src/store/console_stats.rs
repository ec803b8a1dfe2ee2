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

/// An account's deliveries made since `$2`, by hour since then; from the
/// index of every delivery by the time it was made, read from `$2` on.
const MADE_BY_HOUR: &str = "SELECT (created_at - $2) / 3600 AS hour, COUNT(*) FROM deliveries \
     WHERE account_id = $1 AND created_at >= $2 GROUP BY 1";

/// Of those, the ones given up; from the same index of given-up deliveries.
const GIVEN_UP_BY_HOUR: &str = "SELECT (created_at - $2) / 3600 AS hour, COUNT(*) \
     FROM deliveries WHERE account_id = $1 AND created_at >= $2 AND status = 'given_up' \
     GROUP BY 1";

/// Of those, the ones queued (pending or in flight): the due index, which
/// holds every account's queue, from the first delivery the account made
/// since `$2` on, and the rows it points to. SQLite is told the index, so
/// that its estimates (it keeps no statistics) cannot pick one that reads
/// the deliveries made rather than the queue.
const QUEUED_BY_HOUR_SQLITE: &str = "SELECT (created_at - $2) / 3600 AS hour, COUNT(*) \
     FROM deliveries INDEXED BY deliveries_due WHERE status IN ('pending', 'in_flight') \
     AND id >= (SELECT id FROM deliveries WHERE account_id = $1 AND created_at >= $2 \
     ORDER BY created_at, id LIMIT 1) AND account_id = $1 AND created_at >= $2 GROUP BY 1";

const QUEUED_BY_HOUR_POSTGRES: &str = "SELECT (created_at - $2) / 3600 AS hour, COUNT(*) \
     FROM deliveries WHERE status IN ('pending', 'in_flight') \
     AND id >= (SELECT id FROM deliveries WHERE account_id = $1 AND created_at >= $2 \
     ORDER BY created_at, id LIMIT 1) AND account_id = $1 AND created_at >= $2 GROUP BY 1";

/// An account's queue at `$2` (epoch ms): pending and in-flight
/// deliveries, how many are due, and the earliest time one is due; the due
/// index read whole, its deliveries picked by the account's webhooks. On
/// SQLite the index is named, as in [`QUEUED_BY_HOUR_SQLITE`].
const ACCOUNT_QUEUE_SQLITE: &str = "SELECT COUNT(*), \
     COUNT(*) FILTER (WHERE next_attempt_at <= $2), MIN(next_attempt_at) \
     FROM deliveries INDEXED BY deliveries_due WHERE status IN ('pending', 'in_flight') \
     AND webhook_id IN (SELECT id FROM webhooks WHERE account_id = $1)";

const ACCOUNT_QUEUE_POSTGRES: &str = "SELECT COUNT(*), \
     COUNT(*) FILTER (WHERE next_attempt_at <= $2), MIN(next_attempt_at) \
     FROM deliveries WHERE status IN ('pending', 'in_flight') \
     AND webhook_id IN (SELECT id FROM webhooks WHERE account_id = $1)";

/// How many webhooks of the account are on each event.
const WEBHOOKS_BY_EVENT: &str = "SELECT event, COUNT(*) FROM webhooks WHERE account_id = $1 \
     GROUP BY event";

/// How many webhooks of the account use each policy.
const WEBHOOKS_BY_POLICY: &str = "SELECT webhook_policy_id, COUNT(*) FROM webhooks \
     WHERE account_id = $1 AND webhook_policy_id IS NOT NULL GROUP BY webhook_policy_id";

/// A page of webhooks with their deliveries' outcomes since `s.since`
/// and their last delivery, in three parts: this head, the page of
/// webhooks (filters, order, limit), and [`SUMMARIES_TAIL`] followed by
/// the window: `since`, and `first_id`, the first delivery the account
/// made since then. The page is picked first, so the outcomes are read for
/// its rows only: the given-up ones from their own index, the succeeded
/// ones from the webhook's deliveries from `first_id` on (ids grow with
/// the time a delivery is made).
const SUMMARIES_HEAD: &str = "SELECT w.id, w.account_id, w.name, w.event, w.uri, \
     w.description, w.disabled, w.mail_exceptions_to, w.source, w.source_id, \
     w.webhook_policy_id, (SELECT p.name FROM webhook_policies p WHERE p.id = w.webhook_policy_id) \
     AS webhook_policy_name, w.attachments, w.last_error, w.verified, w.created_at, w.updated_at, \
     w.consecutive_failures, \
     (SELECT COUNT(*) FROM deliveries d WHERE d.webhook_id = w.id AND d.id >= s.first_id \
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

/// Deliveries made in an hour of a window: (hour since its start, outcome,
/// count).
pub type HourCount = (i64, &'static str, i64);

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

    /// The account's deliveries made since `since`, by hour since then and
    /// outcome (`succeeded`, `given_up`, `queued`), and its queue at
    /// `now_ms`. Succeeded are the made that are neither given up nor queued.
    #[tracing::instrument(skip(self))]
    pub async fn account_deliveries(
        &self,
        account: &AccountId,
        since: i64,
        now_ms: i64,
    ) -> StoreResult<(Vec<HourCount>, AccountQueue)> {
        let queued_by_hour = self.db.pick(QUEUED_BY_HOUR_SQLITE, QUEUED_BY_HOUR_POSTGRES);
        let account_queue = self.db.pick(ACCOUNT_QUEUE_SQLITE, ACCOUNT_QUEUE_POSTGRES);
        let (made, given_up, queued, (waiting, due, earliest)) = on_db!(&self.db, |db| {
            let by_hour = |sql| {
                sqlx::query_as::<_, (i64, i64)>(sql)
                    .bind(account.as_str())
                    .bind(since)
                    .fetch_all(&db.read)
            };
            tokio::try_join!(
                by_hour(MADE_BY_HOUR),
                by_hour(GIVEN_UP_BY_HOUR),
                by_hour(queued_by_hour),
                sqlx::query_as::<_, (i64, i64, Option<i64>)>(account_queue)
                    .bind(account.as_str())
                    .bind(now_ms)
                    .fetch_one(&db.read),
            )?
        });
        let count_at = |rows: &[(i64, i64)], hour: i64| -> i64 {
            rows.iter().filter(|r| r.0 == hour).map(|r| r.1).sum()
        };
        let mut counts = Vec::with_capacity(made.len() * 3);
        for &(hour, all) in &made {
            let failed = count_at(&given_up, hour);
            let queued = count_at(&queued, hour);
            counts.push((hour, "succeeded", (all - failed - queued).max(0)));
            counts.push((hour, "given_up", failed));
            counts.push((hour, "queued", queued));
        }
        let queue = AccountQueue {
            queued: waiting,
            due,
            oldest_due_ms: earliest.filter(|&at| at <= now_ms),
        };
        Ok((counts, queue))
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
                .push(" AS since, (SELECT id FROM deliveries WHERE account_id = ")
                .push_bind(account.as_str().to_string())
                .push(" AND created_at >= ")
                .push_bind(since)
                .push(" ORDER BY created_at, id LIMIT 1) AS first_id) s ORDER BY w.id DESC");
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
