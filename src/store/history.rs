//! Delivery history: listing and reading deliveries with their attempts,
//! redelivering one, recovering what a webhook gave up.

use serde_json::json;

use super::backend::{Conn, on_db};
use super::{Store, StoreResult, audit, list_sql, postgres, queue, rows, sqlite};
use crate::domain::AccountId;
use crate::domain::audit::{Action, Actor, AuditEntry, RecordType};
use crate::domain::delivery::{AttemptRecord, DeliveryRecord, Redelivery};
use crate::domain::event::{EventKind, StoredEvent};
use crate::domain::list::{ListQuery, Page};
use crate::domain::time::format_epoch;

const COUNT_DELIVERIES: &str = "SELECT COUNT(*) FROM deliveries";

/// The head of a list of deliveries; `list_sql` adds the filters.
const LIST_DELIVERIES: &str = "SELECT id, uuid, origin_uuid, webhook_id, event_id, event, \
     object_id, kind, status, attempts, next_attempt_at, last_error, message, created_at, \
     updated_at FROM deliveries";

const GET_DELIVERY: &str = "SELECT id, uuid, origin_uuid, webhook_id, event_id, event, object_id, \
     kind, status, attempts, next_attempt_at, last_error, message, created_at, updated_at \
     FROM deliveries WHERE account_id = $1 AND id = $2";

const DELIVERY_BY_ID: &str = "SELECT id, uuid, origin_uuid, webhook_id, event_id, event, \
     object_id, kind, status, attempts, next_attempt_at, last_error, message, created_at, \
     updated_at FROM deliveries WHERE id = $1";

const DELIVERY_ATTEMPTS: &str = "SELECT started_at, duration_ms, response_status, \
     response_headers, response_headers_truncated, response_body, response_truncated, error, \
     remote_ip, trigger FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id";

/// The event delivery `$2` of account `$1` carries, and the delivery's kind.
const DELIVERY_EVENT: &str = "SELECT d.kind, e.id AS event_id, e.event, e.object_id, \
     e.person_id, e.person_name, e.payload, e.links, e.sealed_code, e.published_at_ms \
     FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.account_id = $1 AND d.id = $2";

const DELIVERY_STATUS: &str = "SELECT status FROM deliveries WHERE account_id = $1 AND id = $2";

const WEBHOOK_EXISTS: &str = "SELECT id FROM webhooks WHERE account_id = $1 AND id = $2";

/// The newest given-up delivery of each message (grouped by its first
/// uuid) of webhook `$1`, given up between `$2` and `$3`, whose message was
/// not delivered or queued again since.
const GIVEN_UP_MESSAGES: &str = "SELECT MAX(d.id) FROM deliveries d WHERE d.webhook_id = $1 \
     AND d.kind = 'event' AND d.status = 'given_up' AND d.updated_at >= $2 AND d.updated_at <= $3 \
     AND NOT EXISTS \
     (SELECT 1 FROM deliveries x WHERE x.webhook_id = d.webhook_id AND COALESCE(x.origin_uuid, \
     x.uuid) = COALESCE(d.origin_uuid, d.uuid) AND x.status IN ('succeeded', 'pending', \
     'in_flight')) GROUP BY COALESCE(d.origin_uuid, d.uuid) ORDER BY 1";

#[derive(sqlx::FromRow)]
struct DeliveryEventRow {
    kind: String,
    #[sqlx(flatten)]
    event: rows::EventRow,
}

impl Store {
    /// A page of the account's deliveries (filter by `webhook_id` for one webhook's).
    #[tracing::instrument(skip(self))]
    pub async fn list_deliveries(
        &self,
        account: &AccountId,
        query: &ListQuery,
    ) -> StoreResult<Page<DeliveryRecord>> {
        let into_domain = rows::DeliveryRow::into_domain;
        list_sql::fetch_page(
            &self.db,
            COUNT_DELIVERIES,
            LIST_DELIVERIES,
            account,
            query,
            into_domain,
        )
        .await
    }

    /// A delivery with its attempts, oldest first.
    pub async fn get_delivery(
        &self,
        account: &AccountId,
        id: i64,
    ) -> StoreResult<Option<(DeliveryRecord, Vec<AttemptRecord>)>> {
        let row: Option<rows::DeliveryRow> = on_db!(&self.db, |db| {
            sqlx::query_as(GET_DELIVERY)
                .bind(account.as_str())
                .bind(id)
                .fetch_optional(&db.read)
                .await
        })?;
        let Some(row) = row else { return Ok(None) };
        let attempts: Vec<rows::AttemptRow> = on_db!(&self.db, |db| {
            sqlx::query_as(DELIVERY_ATTEMPTS)
                .bind(id)
                .fetch_all(&db.read)
                .await
        })?;
        let attempts = attempts.into_iter().map(rows::AttemptRow::into_domain);
        Ok(Some((row.into_domain()?, attempts.collect())))
    }

    /// The event delivery `id` carries (to show the message it will send
    /// before its first attempt keeps one).
    #[tracing::instrument(skip(self))]
    pub async fn delivery_event(
        &self,
        account: &AccountId,
        id: i64,
    ) -> StoreResult<Option<StoredEvent>> {
        let row: Option<DeliveryEventRow> = on_db!(&self.db, |db| {
            sqlx::query_as(DELIVERY_EVENT)
                .bind(account.as_str())
                .bind(id)
                .fetch_optional(&db.read)
                .await
        })?;
        row.map(|row| row.event.into_domain(EventKind::from_stored(&row.kind)))
            .transpose()
    }

    /// Queues a new delivery of a finished delivery's message, with a new
    /// uuid and the first delivery's uuid as its origin, and records it.
    #[tracing::instrument(skip(self))]
    pub async fn redeliver(
        &self,
        account: &AccountId,
        id: i64,
        actor: &Actor,
        now: i64,
        now_ms: i64,
    ) -> StoreResult<Redelivery> {
        let mut tx = self.db.begin_write().await?;
        let found: Option<(String,)> = on_db!(&mut tx, |tx| {
            sqlx::query_as(DELIVERY_STATUS)
                .bind(account.as_str())
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
        })?;
        match found.as_ref().map(|(s,)| s.as_str()) {
            None => return Ok(Redelivery::NotFound),
            Some("succeeded" | "given_up") => {}
            Some(_) => return Ok(Redelivery::NotFinished),
        }
        let new_id = insert_redelivery(&mut tx.conn(), id, now, now_ms).await?;
        queue::notify_work(&mut tx.conn()).await?;
        let entry = AuditEntry::new(RecordType::WebhookDelivery, id, Action::Redeliver)
            .with_details(json!({ "redelivery_id": new_id }));
        audit::record(&mut tx.conn(), account, actor, &entry, now).await?;
        let row: rows::DeliveryRow = on_db!(&mut tx, |tx| {
            sqlx::query_as(DELIVERY_BY_ID)
                .bind(new_id)
                .fetch_one(&mut **tx)
                .await
        })?;
        tx.commit().await?;
        Ok(Redelivery::Queued(Box::new(row.into_domain()?)))
    }

    /// Redelivers, once each, the messages of a webhook given up between
    /// `since` and `until` (epoch seconds) and not delivered or queued again
    /// since, and records it; `None` when no such webhook is in the account.
    #[tracing::instrument(skip(self))]
    pub async fn recover(
        &self,
        account: &AccountId,
        webhook_id: i64,
        (since, until): (i64, i64),
        actor: &Actor,
        now: i64,
        now_ms: i64,
    ) -> StoreResult<Option<i64>> {
        let mut tx = self.db.begin_write().await?;
        let hook: Option<(i64,)> = on_db!(&mut tx, |tx| {
            sqlx::query_as(WEBHOOK_EXISTS)
                .bind(account.as_str())
                .bind(webhook_id)
                .fetch_optional(&mut **tx)
                .await
        })?;
        if hook.is_none() {
            return Ok(None);
        }
        let lost: Vec<(i64,)> = on_db!(&mut tx, |tx| {
            sqlx::query_as(GIVEN_UP_MESSAGES)
                .bind(webhook_id)
                .bind(since)
                .bind(until)
                .fetch_all(&mut **tx)
                .await
        })?;
        for (id,) in &lost {
            insert_redelivery(&mut tx.conn(), *id, now, now_ms).await?;
        }
        if !lost.is_empty() {
            queue::notify_work(&mut tx.conn()).await?;
        }
        let details = json!({
            "since": format_epoch(since),
            "until": format_epoch(until),
            "queued": lost.len(),
        });
        let entry =
            AuditEntry::new(RecordType::Webhook, webhook_id, Action::Recover).with_details(details);
        audit::record(&mut tx.conn(), account, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(Some(lost.len() as i64))
    }
}

/// A new pending delivery of delivery `id`'s message; returns its id.
async fn insert_redelivery(
    conn: &mut Conn<'_>,
    id: i64,
    now: i64,
    now_ms: i64,
) -> StoreResult<i64> {
    let insert = conn.pick(sqlite::INSERT_REDELIVERY, postgres::INSERT_REDELIVERY);
    let (new_id,): (i64,) = on_db!(conn, |conn| {
        sqlx::query_as(insert)
            .bind(now_ms)
            .bind(now)
            .bind(id)
            .fetch_one(&mut **conn)
            .await
    })?;
    Ok(new_id)
}
