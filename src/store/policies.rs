//! Webhook policies: how messages to a webhook are signed.

use super::backend::on_db;
use super::{PolicyDeletion, Store, StoreResult, audit, list_sql, postgres, rows};
use crate::domain::AccountId;
use crate::domain::audit::{
    Action, Actor, AuditEntry, RecordType, created, deleted, diff, policy_fields, update_action,
};
use crate::domain::list::{ListQuery, Page};
use crate::domain::policy::{NewPolicy, Policy, PolicyChanges};

const COUNT_POLICIES: &str = "SELECT COUNT(*) FROM webhook_policies";

/// The head of a list of policies; `list_sql` adds the filters.
const LIST_POLICIES: &str = "SELECT id, account_id, name, disabled, jwt_alg, jwt_audience, \
     jwt_claim_expires_in, signature_scheme, openid_connect_discovery, created_at, updated_at \
     FROM webhook_policies";

pub(super) const GET_POLICY: &str = "SELECT id, account_id, name, disabled, jwt_alg, \
     jwt_audience, jwt_claim_expires_in, signature_scheme, openid_connect_discovery, created_at, \
     updated_at FROM webhook_policies WHERE account_id = $1 AND id = $2";

const INSERT_POLICY: &str = "INSERT INTO webhook_policies (account_id, name, disabled, jwt_alg, \
     jwt_audience, jwt_claim_expires_in, signature_scheme, openid_connect_discovery, sealed_key, \
     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id";

const UPDATE_POLICY: &str = "UPDATE webhook_policies \
     SET disabled = $1, jwt_audience = $2, jwt_claim_expires_in = $3, \
     openid_connect_discovery = $4, updated_at = $5 WHERE id = $6";

const POLICY_USERS: &str = "SELECT id FROM webhooks WHERE webhook_policy_id = $1 ORDER BY id";

/// The keys a rotation of policy `$1` replaced: they go with it.
const DELETE_RETIRED_KEYS: &str = "DELETE FROM webhook_policy_retired_keys WHERE policy_id = $1";

const DELETE_POLICY: &str = "DELETE FROM webhook_policies WHERE account_id = $1 AND id = $2";

const POLICY_LINKABLE: &str = "SELECT id FROM webhook_policies WHERE account_id = $1 AND id = $2 \
     AND disabled = FALSE";

impl Store {
    /// Stores a new policy, and its record in the audit trail (never its
    /// key).
    #[tracing::instrument(skip(self, new))]
    pub async fn insert_policy(
        &self,
        account: &AccountId,
        new: &NewPolicy,
        actor: &Actor,
        now: i64,
    ) -> StoreResult<Policy> {
        let mut tx = self.db.begin_write().await?;
        let (id,): (i64,) = on_db!(&mut tx, |tx| {
            sqlx::query_as(INSERT_POLICY)
                .bind(account.as_str())
                .bind(&new.name)
                .bind(new.disabled)
                .bind(new.jwt_alg.as_str())
                .bind(&new.jwt_audience)
                .bind(new.jwt_claim_expires_in)
                .bind(new.signature_scheme.as_str())
                .bind(new.openid_connect_discovery)
                .bind(&new.sealed_key)
                .bind(now)
                .fetch_one(&mut **tx)
                .await
        })?;
        let policy = Policy {
            id,
            account: account.clone(),
            name: new.name.clone(),
            disabled: new.disabled,
            jwt_alg: new.jwt_alg,
            jwt_audience: new.jwt_audience.clone(),
            jwt_claim_expires_in: new.jwt_claim_expires_in,
            signature_scheme: new.signature_scheme,
            openid_connect_discovery: new.openid_connect_discovery,
            created_at: now,
            updated_at: now,
        };
        let entry = AuditEntry::new(RecordType::WebhookPolicy, id, Action::Create)
            .with_changes(created(policy_fields(&policy)));
        audit::record(&mut tx.conn(), account, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(policy)
    }

    pub async fn get_policy(&self, account: &AccountId, id: i64) -> StoreResult<Option<Policy>> {
        let row: Option<rows::PolicyRow> = on_db!(&self.db, |db| {
            sqlx::query_as(GET_POLICY)
                .bind(account.as_str())
                .bind(id)
                .fetch_optional(&db.read)
                .await
        })?;
        row.map(rows::PolicyRow::into_domain).transpose()
    }

    #[tracing::instrument(skip(self))]
    pub async fn list_policies(
        &self,
        account: &AccountId,
        query: &ListQuery,
    ) -> StoreResult<Page<Policy>> {
        let into_domain = rows::PolicyRow::into_domain;
        list_sql::fetch_page(
            &self.db,
            COUNT_POLICIES,
            LIST_POLICIES,
            account,
            query,
            into_domain,
        )
        .await
    }

    /// Applies `changes`, with their record in the audit trail when they
    /// change anything; `None` when no such policy is in the account.
    #[tracing::instrument(skip(self, changes))]
    pub async fn update_policy(
        &self,
        account: &AccountId,
        id: i64,
        changes: &PolicyChanges,
        actor: &Actor,
        now: i64,
    ) -> StoreResult<Option<Policy>> {
        let mut tx = self.db.begin_write().await?;
        let row: Option<rows::PolicyRow> = tx
            .row_to_change(GET_POLICY, postgres::LOCK_POLICY, account, id)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut policy = row.into_domain()?;
        let before = policy_fields(&policy);
        if policy.apply(changes, now) {
            on_db!(&mut tx, |tx| {
                sqlx::query(UPDATE_POLICY)
                    .bind(policy.disabled)
                    .bind(&policy.jwt_audience)
                    .bind(policy.jwt_claim_expires_in)
                    .bind(policy.openid_connect_discovery)
                    .bind(policy.updated_at)
                    .bind(policy.id)
                    .execute(&mut **tx)
                    .await
                    .map(|done| done.rows_affected())
            })?;
            let changes = diff(before, policy_fields(&policy));
            let entry = AuditEntry::new(RecordType::WebhookPolicy, id, update_action(&changes))
                .with_changes(changes);
            audit::record(&mut tx.conn(), account, actor, &entry, now).await?;
        }
        tx.commit().await?;
        Ok(Some(policy))
    }

    /// Deletes an unused policy, and records what it was; `InUse` names
    /// the webhooks using it.
    #[tracing::instrument(skip(self))]
    pub async fn delete_policy(
        &self,
        account: &AccountId,
        id: i64,
        actor: &Actor,
        now: i64,
    ) -> StoreResult<PolicyDeletion> {
        let mut tx = self.db.begin_write().await?;
        let row: Option<rows::PolicyRow> = tx
            .row_to_change(GET_POLICY, postgres::LOCK_POLICY, account, id)
            .await?;
        let Some(policy) = row.map(rows::PolicyRow::into_domain).transpose()? else {
            return Ok(PolicyDeletion::NotFound);
        };
        let users: Vec<(i64,)> = on_db!(&mut tx, |tx| {
            sqlx::query_as(POLICY_USERS)
                .bind(id)
                .fetch_all(&mut **tx)
                .await
        })?;
        if !users.is_empty() {
            return Ok(PolicyDeletion::InUse(
                users.into_iter().map(|(id,)| id).collect(),
            ));
        }
        on_db!(&mut tx, |tx| {
            sqlx::query(DELETE_RETIRED_KEYS)
                .bind(id)
                .execute(&mut **tx)
                .await
                .map(|done| done.rows_affected())
        })?;
        on_db!(&mut tx, |tx| {
            sqlx::query(DELETE_POLICY)
                .bind(account.as_str())
                .bind(id)
                .execute(&mut **tx)
                .await
                .map(|done| done.rows_affected())
        })?;
        let entry = AuditEntry::new(RecordType::WebhookPolicy, id, Action::Delete)
            .with_changes(deleted(policy_fields(&policy)));
        audit::record(&mut tx.conn(), account, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(PolicyDeletion::Deleted)
    }

    /// Whether the id names an enabled policy of the account.
    pub async fn policy_linkable(&self, account: &AccountId, id: i64) -> StoreResult<bool> {
        let found: Option<(i64,)> = on_db!(&self.db, |db| {
            sqlx::query_as(POLICY_LINKABLE)
                .bind(account.as_str())
                .bind(id)
                .fetch_optional(&db.read)
                .await
        })?;
        Ok(found.is_some())
    }
}
