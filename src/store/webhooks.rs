//! Webhooks: reading, creating, changing and deleting them; what happens
//! to their deliveries when they are disabled or deleted.

use super::backend::{Conn, on_db};
use super::{Store, StoreResult, audit, list_sql, postgres, rows, sqlite};
use crate::domain::audit::{
    Action, Actor, AuditEntry, RecordType, created, deleted, diff, update_action, webhook_fields,
};
use crate::domain::list::{ListQuery, Page};
use crate::domain::{AccountId, NewWebhook, Webhook, WebhookChanges};

const COUNT_WEBHOOKS: &str = "SELECT COUNT(*) FROM webhooks";

/// The head of a list of webhooks; `list_sql` adds the filters.
const LIST_WEBHOOKS: &str = "SELECT id, account_id, name, event, uri, description, disabled, \
     mail_exceptions_to, source, source_id, webhook_policy_id, \
     (SELECT p.name FROM webhook_policies p WHERE p.id = webhooks.webhook_policy_id) \
     AS webhook_policy_name, attachments, last_error, verified, created_at, updated_at \
     FROM webhooks";

const GET_WEBHOOK: &str = "SELECT id, account_id, name, event, uri, description, disabled, \
     mail_exceptions_to, source, source_id, webhook_policy_id, \
     (SELECT p.name FROM webhook_policies p WHERE p.id = webhooks.webhook_policy_id) \
     AS webhook_policy_name, attachments, last_error, verified, created_at, updated_at \
     FROM webhooks WHERE account_id = $1 AND id = $2";

const INSERT_WEBHOOK: &str = "INSERT INTO webhooks (account_id, name, event, uri, description, \
     disabled, mail_exceptions_to, source, source_id, webhook_policy_id, attachments, last_error, \
     verified, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id";

/// Writes a changed webhook; `$13` when it is enabled again (its failures
/// start over), `$14` whether it is verified (its code goes when not).
const UPDATE_WEBHOOK: &str = "UPDATE webhooks \
     SET name = $1, event = $2, uri = $3, description = $4, disabled = $5, \
     mail_exceptions_to = $6, source = $7, source_id = $8, webhook_policy_id = $9, \
     attachments = $10, updated_at = $11, \
     consecutive_failures = CASE WHEN $13 THEN 0 ELSE consecutive_failures END, verified = $14, \
     verify_code_hash = CASE WHEN $14 THEN verify_code_hash ELSE NULL END WHERE id = $12";

const DELETE_WEBHOOK: &str = "DELETE FROM webhooks WHERE account_id = $1 AND id = $2";

const POLICY_NAME: &str = "SELECT name FROM webhook_policies WHERE id = $1";

const URI_VERIFIED: &str = "SELECT id FROM webhooks WHERE account_id = $1 AND uri = $2 \
     AND verified = TRUE AND id <> $3 LIMIT 1";

impl Store {
    #[tracing::instrument(skip(self))]
    pub async fn list_webhooks(
        &self,
        account: &AccountId,
        query: &ListQuery,
    ) -> StoreResult<Page<Webhook>> {
        let into_domain = rows::WebhookRow::into_domain;
        list_sql::fetch_page(
            &self.db,
            COUNT_WEBHOOKS,
            LIST_WEBHOOKS,
            account,
            query,
            into_domain,
        )
        .await
    }

    #[tracing::instrument(skip(self))]
    pub async fn get_webhook(&self, account: &AccountId, id: i64) -> StoreResult<Option<Webhook>> {
        let row: Option<rows::WebhookRow> = on_db!(&self.db, |db| {
            sqlx::query_as(GET_WEBHOOK)
                .bind(account.as_str())
                .bind(id)
                .fetch_optional(&db.read)
                .await
        })?;
        row.map(rows::WebhookRow::into_domain).transpose()
    }

    /// Stores a new webhook, and its record in the audit trail.
    #[tracing::instrument(skip(self, new))]
    pub async fn insert_webhook(
        &self,
        account: &AccountId,
        new: NewWebhook,
        verified: bool,
        actor: &Actor,
        now: i64,
    ) -> StoreResult<Webhook> {
        let mut tx = self.db.begin_write().await?;
        let hook = Webhook::from_new(0, account.clone(), new, verified, now);
        let attachments = rows::attachments_json(&hook.attachments);
        let (id,): (i64,) = on_db!(&mut tx, |tx| {
            sqlx::query_as(INSERT_WEBHOOK)
                .bind(account.as_str())
                .bind(&hook.name)
                .bind(hook.event.as_str())
                .bind(&hook.uri)
                .bind(&hook.description)
                .bind(hook.disabled)
                .bind(&hook.mail_exceptions_to)
                .bind(&hook.source)
                .bind(&hook.source_id)
                .bind(hook.webhook_policy_id)
                .bind(&attachments)
                .bind(&hook.last_error)
                .bind(hook.verified)
                .bind(hook.created_at)
                .bind(hook.updated_at)
                .fetch_one(&mut **tx)
                .await
        })?;
        let mut hook = Webhook { id, ..hook };
        hook.webhook_policy_name = policy_name(&mut tx.conn(), hook.webhook_policy_id).await?;
        let entry = AuditEntry::new(RecordType::Webhook, id, Action::Create)
            .with_changes(created(webhook_fields(&hook)));
        audit::record(&mut tx.conn(), account, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(hook)
    }

    /// Applies `changes` atomically, with their record in the audit trail
    /// when they change anything; `None` when no such webhook is in the
    /// account.
    #[tracing::instrument(skip(self, changes))]
    pub async fn update_webhook(
        &self,
        account: &AccountId,
        id: i64,
        changes: &WebhookChanges,
        actor: &Actor,
        now: i64,
    ) -> StoreResult<Option<Webhook>> {
        let mut tx = self.db.begin_write().await?;
        let row: Option<rows::WebhookRow> = tx
            .row_to_change(GET_WEBHOOK, postgres::LOCK_WEBHOOK, account, id)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut hook = row.into_domain()?;
        let was_disabled = hook.disabled;
        let before = webhook_fields(&hook);
        if hook.apply(changes, now) {
            let enabled_again = was_disabled && !hook.disabled;
            write_changes(&mut tx.conn(), &hook, enabled_again).await?;
            if changes.webhook_policy_id.is_some() {
                hook.webhook_policy_name =
                    policy_name(&mut tx.conn(), hook.webhook_policy_id).await?;
            }
            if hook.disabled && !was_disabled {
                give_up(&mut tx.conn(), hook.id, "webhook disabled", true).await?;
            }
            let changes = diff(before, webhook_fields(&hook));
            if !changes.is_empty() {
                let entry = AuditEntry::new(RecordType::Webhook, id, update_action(&changes))
                    .with_changes(changes);
                audit::record(&mut tx.conn(), account, actor, &entry, now).await?;
            }
        }
        tx.commit().await?;
        Ok(Some(hook))
    }

    /// `false` when no such webhook is in the account. Its pending
    /// deliveries are given up; the audit trail keeps what it was.
    #[tracing::instrument(skip(self))]
    pub async fn delete_webhook(
        &self,
        account: &AccountId,
        id: i64,
        actor: &Actor,
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.db.begin_write().await?;
        let row: Option<rows::WebhookRow> = tx
            .row_to_change(GET_WEBHOOK, postgres::LOCK_WEBHOOK, account, id)
            .await?;
        let Some(row) = row else { return Ok(false) };
        let hook = row.into_domain()?;
        let removed = on_db!(&mut tx, |tx| {
            sqlx::query(DELETE_WEBHOOK)
                .bind(account.as_str())
                .bind(id)
                .execute(&mut **tx)
                .await
                .map(|done| done.rows_affected())
        })?;
        if removed > 0 {
            give_up(&mut tx.conn(), id, "webhook deleted", false).await?;
            let entry = AuditEntry::new(RecordType::Webhook, id, Action::Delete)
                .with_changes(deleted(webhook_fields(&hook)));
            audit::record(&mut tx.conn(), account, actor, &entry, now).await?;
        }
        tx.commit().await?;
        Ok(removed > 0)
    }

    /// Whether another webhook of the account with this URI is verified.
    pub async fn uri_verified(
        &self,
        account: &AccountId,
        uri: &str,
        except_id: i64,
    ) -> StoreResult<bool> {
        let row: Option<(i64,)> = on_db!(&self.db, |db| {
            sqlx::query_as(URI_VERIFIED)
                .bind(account.as_str())
                .bind(uri)
                .bind(except_id)
                .fetch_optional(&db.read)
                .await
        })?;
        Ok(row.is_some())
    }
}

/// Writes `hook` as changed; `enabled_again` starts its failures over.
async fn write_changes(
    conn: &mut Conn<'_>,
    hook: &Webhook,
    enabled_again: bool,
) -> StoreResult<()> {
    let attachments = rows::attachments_json(&hook.attachments);
    on_db!(conn, |conn| {
        sqlx::query(UPDATE_WEBHOOK)
            .bind(&hook.name)
            .bind(hook.event.as_str())
            .bind(&hook.uri)
            .bind(&hook.description)
            .bind(hook.disabled)
            .bind(&hook.mail_exceptions_to)
            .bind(&hook.source)
            .bind(&hook.source_id)
            .bind(hook.webhook_policy_id)
            .bind(&attachments)
            .bind(hook.updated_at)
            .bind(hook.id)
            .bind(enabled_again)
            .bind(hook.verified)
            .execute(&mut **conn)
            .await
            .map(|done| done.rows_affected())
    })?;
    Ok(())
}

/// The name of the policy `id` names, if any.
async fn policy_name(conn: &mut Conn<'_>, id: Option<i64>) -> StoreResult<Option<String>> {
    let Some(id) = id else { return Ok(None) };
    let found: Option<(String,)> = on_db!(conn, |conn| {
        sqlx::query_as(POLICY_NAME)
            .bind(id)
            .fetch_optional(&mut **conn)
            .await
    })?;
    Ok(found.map(|(name,)| name))
}

/// Gives up the webhook's queued and in-flight deliveries (with
/// `events_only`, those of events: tests and verifications of a disabled
/// webhook still go out). Rows another transaction holds are left to it,
/// so this never waits for a recording or a claim in the other order (a
/// deadlock on PostgreSQL, when a webhook was deleted while its outcomes
/// were recorded): such a delivery is given up when next claimed, since
/// its webhook is gone or disabled by then.
pub(super) async fn give_up(
    conn: &mut Conn<'_>,
    webhook_id: i64,
    reason: &str,
    events_only: bool,
) -> StoreResult<()> {
    let give_up = if events_only {
        conn.pick(sqlite::GIVE_UP_EVENTS, postgres::GIVE_UP_EVENTS)
    } else {
        conn.pick(sqlite::GIVE_UP, postgres::GIVE_UP)
    };
    on_db!(conn, |conn| {
        sqlx::query(give_up)
            .bind(reason)
            .bind(webhook_id)
            .execute(&mut **conn)
            .await
            .map(|done| done.rows_affected())
    })?;
    Ok(())
}
