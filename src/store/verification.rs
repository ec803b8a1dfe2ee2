//! A webhook's verification handshake and its test messages: events Herald
//! makes itself for one webhook, queued whatever the webhook's state.

use serde_json::json;

use super::backend::{Conn, on_db};
use super::{Store, StoreResult, audit, postgres, queue, sqlite};
use crate::domain::audit::{Action, Actor, AuditEntry, Change, RecordType};
use crate::domain::event::{EventKind, NewEvent, TEST_OBJECT_ID};
use crate::domain::{AccountId, EventName, Verification};

const MARK_VERIFIED: &str = "UPDATE webhooks \
     SET verified = TRUE, verify_code_hash = NULL, verify_expires_at = NULL WHERE account_id = $1 \
     AND id = $2 AND verified = FALSE";

const SET_VERIFY_CODE: &str = "UPDATE webhooks \
     SET verified = FALSE, verify_code_hash = $1, verify_expires_at = $2 WHERE account_id = $3 \
     AND id = $4";

const CODE_MATCHES: &str = "SELECT id FROM webhooks WHERE id = $1 AND verify_code_hash = $2 \
     AND verify_expires_at > $3";

const CONFIRM_CODE: &str = "UPDATE webhooks \
     SET verified = TRUE, verify_code_hash = NULL, verify_expires_at = NULL WHERE id = $1 \
     AND verify_code_hash = $2 AND verify_expires_at > $3 RETURNING account_id";

const WEBHOOK_EVENT: &str = "SELECT event FROM webhooks WHERE account_id = $1 AND id = $2";

const INSERT_EVENT: &str = "INSERT INTO events (account_id, kind, event, object_id, person_id, \
     person_name, payload, links, webhook_id, created_at, sealed_code) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id";

impl Store {
    /// Marks the webhook verified, or voids its code and queues a
    /// `webhook.verify` message with a new one; either is recorded in the
    /// audit trail (by `actor`, who created or changed the webhook).
    #[tracing::instrument(skip(self, verification, actor))]
    pub async fn set_verification(
        &self,
        account: &AccountId,
        webhook_id: i64,
        verification: &Verification,
        actor: &Actor,
        now: i64,
        now_ms: i64,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        let entry = AuditEntry::new(RecordType::Webhook, webhook_id, Action::Verify);
        let entry = match verification {
            Verification::Verified => {
                let updated = on_db!(&mut tx, |tx| {
                    sqlx::query(MARK_VERIFIED)
                        .bind(account.as_str())
                        .bind(webhook_id)
                        .execute(&mut **tx)
                        .await
                        .map(|done| done.rows_affected())
                })?;
                let change = Change {
                    field: "verified",
                    old: json!(false),
                    new: json!(true),
                };
                let details = json!({ "reason": "the account verified this URI already" });
                (updated > 0).then(|| entry.with_changes(vec![change]).with_details(details))
            }
            Verification::Pending {
                code_hash,
                expires_at,
                payload,
                sealed_code,
            } => {
                let updated = on_db!(&mut tx, |tx| {
                    sqlx::query(SET_VERIFY_CODE)
                        .bind(code_hash)
                        .bind(expires_at)
                        .bind(account.as_str())
                        .bind(webhook_id)
                        .execute(&mut **tx)
                        .await
                        .map(|done| done.rows_affected())
                })?;
                if updated > 0 {
                    let event = NewEvent::direct(
                        EventName::verify(),
                        webhook_id,
                        payload.clone(),
                        webhook_id,
                    );
                    let kind = (EventKind::Verify, Some(sealed_code.as_slice()));
                    insert_direct(&mut tx.conn(), account, &event, kind, now, now_ms).await?;
                }
                let details = json!({ "reason": "webhook.verify sent", "expires_at": expires_at });
                (updated > 0).then(|| entry.with_details(details))
            }
        };
        if let Some(entry) = entry {
            audit::record(&mut tx.conn(), account, actor, &entry, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Verifies the webhook when `code_hash` is its current, unexpired
    /// code, and records it (by `actor`, the receiver).
    pub async fn confirm_verification(
        &self,
        webhook_id: i64,
        code_hash: &str,
        actor: &Actor,
        now: i64,
    ) -> StoreResult<bool> {
        // Wrong codes, the common case of abuse, cost a read, not the
        // writer: the write transaction begins only on a match.
        let matches: Option<(i64,)> = on_db!(&self.db, |db| {
            sqlx::query_as(CODE_MATCHES)
                .bind(webhook_id)
                .bind(code_hash)
                .bind(now)
                .fetch_optional(&db.read)
                .await
        })?;
        if matches.is_none() {
            return Ok(false);
        }
        let mut tx = self.db.begin_write().await?;
        let confirmed: Option<(String,)> = on_db!(&mut tx, |tx| {
            sqlx::query_as(CONFIRM_CODE)
                .bind(webhook_id)
                .bind(code_hash)
                .bind(now)
                .fetch_optional(&mut **tx)
                .await
        })?;
        let Some((account,)) = confirmed else {
            return Ok(false);
        };
        let change = Change {
            field: "verified",
            old: json!(false),
            new: json!(true),
        };
        let entry = AuditEntry::new(RecordType::Webhook, webhook_id, Action::Verify)
            .with_changes(vec![change]);
        let account = AccountId::from_trusted(account);
        audit::record(&mut tx.conn(), &account, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Queues a test message (object_id 12345), and records it; `false`
    /// when no such webhook.
    #[tracing::instrument(skip(self))]
    pub async fn enqueue_test(
        &self,
        account: &AccountId,
        webhook_id: i64,
        actor: &Actor,
        now: i64,
        now_ms: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.db.begin_write().await?;
        let found: Option<(String,)> = on_db!(&mut tx, |tx| {
            sqlx::query_as(WEBHOOK_EVENT)
                .bind(account.as_str())
                .bind(webhook_id)
                .fetch_optional(&mut **tx)
                .await
        })?;
        let Some((event_name,)) = found else {
            return Ok(false);
        };
        let event = NewEvent::direct(
            EventName::from_trusted(event_name),
            TEST_OBJECT_ID,
            serde_json::json!({}),
            webhook_id,
        );
        let delivery_id = insert_direct(
            &mut tx.conn(),
            account,
            &event,
            (EventKind::Test, None),
            now,
            now_ms,
        )
        .await?;
        let entry = AuditEntry::new(RecordType::Webhook, webhook_id, Action::Test)
            .with_details(json!({ "delivery_id": delivery_id }));
        audit::record(&mut tx.conn(), account, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// An event for one webhook and its delivery, whatever the webhook's state
/// (tests; verification, with its code sealed). Returns the delivery's id.
async fn insert_direct(
    conn: &mut Conn<'_>,
    account: &AccountId,
    event: &NewEvent,
    (kind, sealed_code): (EventKind, Option<&[u8]>),
    now: i64,
    now_ms: i64,
) -> StoreResult<i64> {
    let links = (!event.links.is_empty()).then(|| event.links.to_json().to_string());
    let (event_id,): (i64,) = on_db!(conn, |conn| {
        sqlx::query_as(INSERT_EVENT)
            .bind(account.as_str())
            .bind(kind.as_str())
            .bind(event.event.as_str())
            .bind(event.object_id)
            .bind(event.person_id)
            .bind(&event.person_name)
            .bind(event.payload.to_string())
            .bind(&links)
            .bind(event.webhook_id)
            .bind(now)
            .bind(sealed_code)
            .fetch_one(&mut **conn)
            .await
    })?;
    let insert = conn.pick(
        sqlite::INSERT_DIRECT_DELIVERY,
        postgres::INSERT_DIRECT_DELIVERY,
    );
    let (delivery_id,): (i64,) = on_db!(conn, |conn| {
        sqlx::query_as(insert)
            .bind(account.as_str())
            .bind(event.webhook_id)
            .bind(event_id)
            .bind(kind.as_str())
            .bind(now_ms)
            .bind(now)
            .bind(event.event.as_str())
            .bind(event.object_id)
            .fetch_one(&mut **conn)
            .await
    })?;
    queue::notify_work(conn).await?;
    Ok(delivery_id)
}
