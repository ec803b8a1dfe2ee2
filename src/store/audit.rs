//! The audit trail: a row for each change, written in the change's own
//! transaction; reading it back; deleting rows past their retention.

use super::backend::{Conn, on_db};
use super::{Store, StoreResult, list_sql};
use crate::domain::AccountId;
use crate::domain::audit::{Actor, AuditEntry, AuditEvent};
use crate::domain::list::{ListQuery, Page};

const INSERT_AUDIT_EVENT: &str = "INSERT INTO audit_events (account_id, actor, token_id, \
     person_id, client_ip, record_type, record_id, action, changes, details, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

const COUNT_AUDIT_EVENTS: &str = "SELECT COUNT(*) FROM audit_events";

/// The head of a list of audit events with their persons' names; `list_sql`
/// adds the filters.
const LIST_AUDIT_EVENTS: &str = "SELECT id, account_id, actor, token_id, person_id, person_name, \
     client_ip, record_type, record_id, action, changes, details, created_at FROM \
     (SELECT a.id, a.account_id, a.actor, a.token_id, a.person_id, p.name AS person_name, \
     a.client_ip, a.record_type, a.record_id, a.action, a.changes, a.details, a.created_at \
     FROM audit_events a LEFT JOIN people p ON p.id = a.person_id) AS audit_events";

const GET_AUDIT_EVENT: &str = "SELECT a.id, a.account_id, a.actor, a.token_id, a.person_id, \
     p.name AS person_name, a.client_ip, a.record_type, a.record_id, a.action, a.changes, \
     a.details, a.created_at FROM audit_events a LEFT JOIN people p ON p.id = a.person_id \
     WHERE a.account_id = $1 AND a.id = $2";

/// Up to `$2` audit events made before `$1`.
const DELETE_AUDIT_EVENTS: &str = "DELETE FROM audit_events WHERE id IN \
     (SELECT id FROM audit_events WHERE created_at < $1 ORDER BY created_at LIMIT $2)";

#[derive(sqlx::FromRow)]
struct AuditEventRow {
    id: i64,
    account_id: String,
    actor: String,
    token_id: Option<i64>,
    person_id: Option<i64>,
    person_name: Option<String>,
    client_ip: Option<String>,
    record_type: String,
    record_id: i64,
    action: String,
    changes: String,
    details: Option<String>,
    created_at: i64,
}

impl AuditEventRow {
    fn into_domain(self) -> StoreResult<AuditEvent> {
        let corrupt = |what: &str, e: serde_json::Error| {
            super::StoreError::Corrupt(format!("audit event {} {what}: {e}", self.id))
        };
        let changes = serde_json::from_str(&self.changes).map_err(|e| corrupt("changes", e))?;
        let details = match &self.details {
            Some(text) => Some(serde_json::from_str(text).map_err(|e| corrupt("details", e))?),
            None => None,
        };
        Ok(AuditEvent {
            id: self.id,
            account: AccountId::from_trusted(self.account_id),
            actor: self.actor,
            token_id: self.token_id,
            person_id: self.person_id,
            person_name: self.person_name,
            client_ip: self.client_ip,
            record_type: self.record_type,
            record_id: self.record_id,
            action: self.action,
            changes,
            details,
            created_at: self.created_at,
        })
    }
}

impl Store {
    /// A page of the account's audit trail.
    #[tracing::instrument(skip(self))]
    pub async fn list_audit_events(
        &self,
        account: &AccountId,
        query: &ListQuery,
    ) -> StoreResult<Page<AuditEvent>> {
        list_sql::fetch_page(
            &self.db,
            COUNT_AUDIT_EVENTS,
            LIST_AUDIT_EVENTS,
            account,
            query,
            AuditEventRow::into_domain,
        )
        .await
    }

    /// One change of the account's audit trail.
    pub async fn get_audit_event(
        &self,
        account: &AccountId,
        id: i64,
    ) -> StoreResult<Option<AuditEvent>> {
        let row: Option<AuditEventRow> = on_db!(&self.db, |db| {
            sqlx::query_as(GET_AUDIT_EVENT)
                .bind(account.as_str())
                .bind(id)
                .fetch_optional(&db.read)
                .await
        })?;
        row.map(AuditEventRow::into_domain).transpose()
    }

    /// Deletes up to `batch` audit events made before `cutoff`; returns how
    /// many went. Call again while it is `batch`.
    #[tracing::instrument(skip(self))]
    pub async fn purge_audit_events(&self, cutoff: i64, batch: i64) -> StoreResult<u64> {
        let mut tx = self.db.begin_write().await?;
        let removed = on_db!(&mut tx, |tx| {
            sqlx::query(DELETE_AUDIT_EVENTS)
                .bind(cutoff)
                .bind(batch)
                .execute(&mut **tx)
                .await
                .map(|done| done.rows_affected())
        })?;
        tx.commit().await?;
        Ok(removed)
    }
}

/// Records `entry`, made by `actor` in `account` at `now`, on the
/// connection of the change's transaction: no change without its record.
pub(super) async fn record(
    conn: &mut Conn<'_>,
    account: &AccountId,
    actor: &Actor,
    entry: &AuditEntry,
    now: i64,
) -> StoreResult<()> {
    let changes = entry.changes_json().to_string();
    let details = entry.details.as_ref().map(|d| d.to_string());
    let client_ip = actor.client_ip.map(|ip| ip.to_string());
    on_db!(conn, |conn| {
        sqlx::query(INSERT_AUDIT_EVENT)
            .bind(account.as_str())
            .bind(actor.kind.as_str())
            .bind(actor.token_id)
            .bind(actor.person_id)
            .bind(&client_ip)
            .bind(entry.record_type.as_str())
            .bind(entry.record_id)
            .bind(entry.action.as_str())
            .bind(&changes)
            .bind(&details)
            .bind(now)
            .execute(&mut **conn)
            .await
            .map(|done| done.rows_affected())
    })?;
    Ok(())
}
