//! Recording finished attempts: each delivery's outcome (only while its
//! lease holds), the attempt's record, and what it does to its webhook.

use std::collections::HashSet;

use serde_json::json;

use super::backend::{Conn, on_db};
use super::params::{IdList, MAX_ROWS_JSON, json_row_chunks};
use super::{Store, StoreResult, audit, postgres, rows, sqlite, webhooks};
use crate::domain::audit::{Action, Actor, AuditEntry, Change, RecordType};
use crate::domain::delivery::{AttemptResult, FailurePolicy, WebhookEffects};
use crate::domain::event::EventKind;

/// A webhook with its failure bookkeeping, by id `$1`.
const WEBHOOK_FAILURES: &str = "SELECT id, account_id, name, event, uri, description, disabled, \
     mail_exceptions_to, source, source_id, webhook_policy_id, \
     (SELECT p.name FROM webhook_policies p WHERE p.id = webhooks.webhook_policy_id) \
     AS webhook_policy_name, attachments, last_error, verified, created_at, updated_at, \
     consecutive_failures, last_failure_mail_at FROM webhooks WHERE id = $1";

/// Counts a failed attempt of webhook `$6` (`$1` failures in a row, error
/// `$2`) at `$5`: `$3` disables it, `$4` marks a failure mail sent.
const COUNT_FAILURE: &str = "UPDATE webhooks \
     SET consecutive_failures = $1, last_error = $2, disabled = (disabled OR $3), \
     last_failure_mail_at = CASE WHEN $4 THEN $5 ELSE last_failure_mail_at END, \
     updated_at = CASE WHEN $3 THEN $5 ELSE updated_at END WHERE id = $6";

impl Store {
    /// Records finished attempts (each only if its lease still holds) and
    /// their effect on webhooks, in one transaction.
    #[tracing::instrument(skip(self, results), fields(count = results.len()))]
    pub async fn finish_attempts(
        &self,
        results: &[AttemptResult],
        policy: FailurePolicy,
        now: i64,
        now_ms: i64,
    ) -> StoreResult<Vec<WebhookEffects>> {
        let mut tx = self.db.begin_relaxed().await?;
        // Deliveries first; only rows whose lease still holds are recorded.
        let recorded = record_outcomes(&mut tx.conn(), results, now, now_ms).await?;
        let kept: Vec<&AttemptResult> = results
            .iter()
            .filter(|r| recorded.contains(&r.delivery_id))
            .collect();
        insert_attempts(&mut tx.conn(), &kept).await?;
        let counting: Vec<&AttemptResult> = kept
            .into_iter()
            .filter(|r| r.attempted && r.kind != EventKind::Test)
            .collect();
        let mut succeeded: Vec<i64> = counting
            .iter()
            .filter(|r| r.succeeded)
            .map(|r| r.webhook_id)
            .collect();
        succeeded.sort_unstable();
        succeeded.dedup();
        if !succeeded.is_empty() {
            let reset = tx.pick(sqlite::RESET_FAILURES, postgres::RESET_FAILURES);
            on_db!(&mut tx, |tx| {
                sqlx::query(reset)
                    .bind(IdList(&succeeded))
                    .execute(&mut **tx)
                    .await
                    .map(|done| done.rows_affected())
            })?;
        }
        let mut effects = Vec::new();
        for result in counting.into_iter().filter(|r| !r.succeeded) {
            if let Some(effect) = count_failure(&mut tx.conn(), result, policy, now).await? {
                effects.push(effect);
            }
        }
        tx.commit().await?;
        Ok(effects)
    }
}

/// Sets each delivery's outcome if its lease still holds, one statement per
/// 16 MiB of rows; returns the ids of those recorded.
async fn record_outcomes(
    conn: &mut Conn<'_>,
    results: &[AttemptResult],
    now: i64,
    now_ms: i64,
) -> StoreResult<HashSet<i64>> {
    let rows: Vec<_> = results
        .iter()
        .map(|result| {
            let status = if result.succeeded {
                "succeeded"
            } else if result.retry_at_ms.is_some() {
                "pending"
            } else {
                "given_up"
            };
            (
                result.delivery_id,
                result.lease_owner.as_str(),
                status,
                i64::from(result.attempted),
                result.retry_at_ms.unwrap_or(now_ms),
                result.error.as_deref(),
                result.message.as_deref(),
            )
        })
        .collect();
    let update = conn.pick(sqlite::RECORD_OUTCOMES, postgres::RECORD_OUTCOMES);
    let mut recorded = HashSet::new();
    for (range, json) in json_row_chunks(&rows, MAX_ROWS_JSON)? {
        let ids: Vec<i64> = results[range].iter().map(|r| r.delivery_id).collect();
        let ids: Vec<(i64,)> = on_db!(conn, |conn| {
            sqlx::query_as(update)
                .bind(IdList(&ids))
                .bind(&json)
                .bind(now)
                .fetch_all(&mut **conn)
                .await
        })?;
        recorded.extend(ids.into_iter().map(|(id,)| id));
    }
    Ok(recorded)
}

/// Stores what each attempt saw, one statement per 16 MiB of rows.
async fn insert_attempts(conn: &mut Conn<'_>, kept: &[&AttemptResult]) -> StoreResult<()> {
    let attempts: Vec<_> = kept
        .iter()
        .filter_map(|r| r.record.as_ref().map(|record| (*r, record)))
        .map(|(result, record)| {
            (
                result.delivery_id,
                record.started_at,
                record.duration_ms,
                record.response_status,
                record.response_headers.as_ref().map(|h| h.to_string()),
                record.response_body.as_deref(),
                i64::from(record.response_truncated),
                record.error.as_deref(),
                record.remote_ip.as_deref(),
                record.trigger.as_str(),
                i64::from(record.response_headers_truncated),
            )
        })
        .collect();
    let insert = conn.pick(sqlite::INSERT_ATTEMPTS, postgres::INSERT_ATTEMPTS);
    for (_, json) in json_row_chunks(&attempts, MAX_ROWS_JSON)? {
        on_db!(conn, |conn| {
            sqlx::query(insert)
                .bind(&json)
                .execute(&mut **conn)
                .await
                .map(|done| done.rows_affected())
        })?;
    }
    Ok(())
}

/// Counts a failed attempt against its webhook, disabling it (and giving
/// up its deliveries) at the policy's threshold or on a `410 Gone`; `None`
/// when the webhook is gone.
async fn count_failure(
    conn: &mut Conn<'_>,
    result: &AttemptResult,
    policy: FailurePolicy,
    now: i64,
) -> StoreResult<Option<WebhookEffects>> {
    // SQLite's one writer is alone: the plain read is enough there.
    let select = conn.pick(WEBHOOK_FAILURES, postgres::LOCK_WEBHOOK_FAILURES);
    let row: Option<rows::WebhookFailureRow> = on_db!(conn, |conn| {
        sqlx::query_as(select)
            .bind(result.webhook_id)
            .fetch_optional(&mut **conn)
            .await
    })?;
    let Some(row) = row else { return Ok(None) };
    let (mut webhook, failures, last_mail) = row.into_parts()?;
    let failures = failures + 1;
    let threshold = policy.disable_after_failures;
    let disabled_now =
        !webhook.disabled && (result.gone || (threshold > 0 && failures >= threshold));
    let failure_mail_due = last_mail.is_none_or(|t| now - t >= policy.mail_interval_secs);
    on_db!(conn, |conn| {
        sqlx::query(COUNT_FAILURE)
            .bind(failures)
            .bind(&result.error)
            .bind(disabled_now)
            .bind(failure_mail_due)
            .bind(now)
            .bind(result.webhook_id)
            .execute(&mut **conn)
            .await
            .map(|done| done.rows_affected())
    })?;
    if disabled_now {
        webhooks::give_up(conn, result.webhook_id, "webhook disabled", true).await?;
        record_disabling(conn, &webhook, result, failures, now).await?;
    }
    webhook.last_error = result.error.clone();
    if disabled_now {
        webhook.disabled = true;
        webhook.updated_at = now;
    }
    Ok(Some(WebhookEffects {
        webhook,
        disabled_now,
        failure_mail_due,
        failures,
    }))
}

/// Records that Herald disabled a failing webhook: by `410 Gone`, or after
/// `failures` failed attempts in a row.
async fn record_disabling(
    conn: &mut Conn<'_>,
    webhook: &crate::domain::Webhook,
    result: &AttemptResult,
    failures: i64,
    now: i64,
) -> StoreResult<()> {
    let change = Change {
        field: "disabled",
        old: json!(false),
        new: json!(true),
    };
    let reason = if result.gone {
        "410 Gone".to_string()
    } else {
        format!("{failures} failed attempts in a row")
    };
    let entry = AuditEntry::new(RecordType::Webhook, webhook.id, Action::Disable)
        .with_changes(vec![change])
        .with_details(json!({ "reason": reason, "last_error": result.error }));
    audit::record(conn, &webhook.account, &Actor::system(), &entry, now).await
}
