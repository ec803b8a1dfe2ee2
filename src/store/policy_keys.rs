//! A policy's keys over time: rotation, the keys a rotation retired (kept
//! sealed for their overlap), and erasing them once it is over.

use serde_json::Value;

use super::backend::on_db;
use super::policies::GET_POLICY;
use super::{Store, StoreResult, audit, postgres, rows};
use crate::domain::AccountId;
use crate::domain::audit::{Action, Actor, AuditEntry, RecordType, diff, policy_fields};
use crate::domain::policy::{Policy, RetiredKey};

/// Keeps the current key of policy `$1` as retired at `$2` until `$3`.
const RETIRE_KEY: &str = "INSERT INTO webhook_policy_retired_keys \
     (policy_id, sealed_key, retired_at, expires_at) \
     SELECT id, sealed_key, $2, $3 FROM webhook_policies WHERE id = $1";

/// Every retired key of policy `$1`: a rotation without overlap trusts the
/// new key alone.
const ERASE_RETIRED_KEYS: &str = "DELETE FROM webhook_policy_retired_keys WHERE policy_id = $1";

const SET_KEY: &str = "UPDATE webhook_policies SET sealed_key = $1, updated_at = $2 WHERE id = $3";

const CURRENT_KEY: &str = "SELECT sealed_key FROM webhook_policies WHERE id = $1";

/// The retired keys of policy `$1` whose overlap is not over at `$2`,
/// newest first.
const RETIRED_KEYS: &str = "SELECT policy_id, sealed_key, retired_at, expires_at \
     FROM webhook_policy_retired_keys WHERE policy_id = $1 AND expires_at > $2 ORDER BY id DESC";

/// Retired keys whose overlap ended by `$1`, key and all.
const ERASE_EXPIRED_KEYS: &str = "DELETE FROM webhook_policy_retired_keys WHERE expires_at <= $1";

/// A policy with its sealed keys: the current one, and those retired whose
/// overlap is not over.
pub struct PolicyKeys {
    pub policy: Policy,
    pub current: Vec<u8>,
    pub retired: Vec<RetiredKey>,
}

impl Store {
    /// Gives policy `id` the key `sealed` from `now` on; the one it had is
    /// kept for `overlap_secs` (none: it and every earlier one go now).
    /// Recorded in the audit trail with `details` (never a key). `None`
    /// when no such policy is in the account.
    #[tracing::instrument(skip(self, sealed, details))]
    #[allow(clippy::too_many_arguments)]
    pub async fn rotate_policy_key(
        &self,
        account: &AccountId,
        id: i64,
        sealed: &[u8],
        overlap_secs: i64,
        details: Value,
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
        on_db!(&mut tx, |tx| {
            let retire = if overlap_secs > 0 {
                sqlx::query(RETIRE_KEY)
                    .bind(id)
                    .bind(now)
                    .bind(now + overlap_secs)
            } else {
                sqlx::query(ERASE_RETIRED_KEYS).bind(id)
            };
            retire.execute(&mut **tx).await?;
            sqlx::query(SET_KEY)
                .bind(sealed)
                .bind(now)
                .bind(id)
                .execute(&mut **tx)
                .await
                .map(|done| done.rows_affected())
        })?;
        policy.updated_at = now.max(policy.created_at);
        let entry = AuditEntry::new(RecordType::WebhookPolicy, id, Action::Rotate)
            .with_changes(diff(before, policy_fields(&policy)))
            .with_details(details);
        audit::record(&mut tx.conn(), account, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(Some(policy))
    }

    /// Policy `id` of the account with its keys in use at `now`.
    pub async fn policy_keys(
        &self,
        account: &AccountId,
        id: i64,
        now: i64,
    ) -> StoreResult<Option<PolicyKeys>> {
        let Some(policy) = self.get_policy(account, id).await? else {
            return Ok(None);
        };
        let (current, retired): (Option<(Vec<u8>,)>, Vec<rows::RetiredKeyRow>) =
            on_db!(&self.db, |db| {
                let current = sqlx::query_as(CURRENT_KEY)
                    .bind(id)
                    .fetch_optional(&db.read)
                    .await?;
                let retired = sqlx::query_as(RETIRED_KEYS)
                    .bind(id)
                    .bind(now)
                    .fetch_all(&db.read)
                    .await?;
                Ok::<_, sqlx::Error>((current, retired))
            })?;
        // Deleted between the two reads.
        let Some((current,)) = current else {
            return Ok(None);
        };
        Ok(Some(PolicyKeys {
            policy,
            current,
            retired: retired
                .into_iter()
                .map(rows::RetiredKeyRow::into_domain)
                .collect(),
        }))
    }

    /// Erases the retired keys whose overlap ended by `now`; returns how
    /// many went.
    #[tracing::instrument(skip(self))]
    pub async fn erase_expired_policy_keys(&self, now: i64) -> StoreResult<u64> {
        let mut tx = self.db.begin_write().await?;
        let erased = on_db!(&mut tx, |tx| {
            sqlx::query(ERASE_EXPIRED_KEYS)
                .bind(now)
                .execute(&mut **tx)
                .await
                .map(|done| done.rows_affected())
        })?;
        tx.commit().await?;
        Ok(erased)
    }
}
