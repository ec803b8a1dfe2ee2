//! Webhook policies: how messages to a webhook are signed.

use super::backend::on_db;
use super::{PolicyDeletion, Store, StoreMethods, StoreResult};
use crate::domain::AccountId;
use crate::domain::list::{ListQuery, Page};
use crate::domain::policy::{NewPolicy, Policy, PolicyChanges};

impl Store {
    pub async fn insert_policy(
        &self,
        account: &AccountId,
        new: &NewPolicy,
        now: i64,
    ) -> StoreResult<Policy> {
        on_db!(&self.db, |db| db.insert_policy(account, new, now).await)
    }

    pub async fn get_policy(&self, account: &AccountId, id: i64) -> StoreResult<Option<Policy>> {
        on_db!(&self.db, |db| db.get_policy(account, id).await)
    }

    pub async fn list_policies(
        &self,
        account: &AccountId,
        query: &ListQuery,
    ) -> StoreResult<Page<Policy>> {
        on_db!(&self.db, |db| db.list_policies(account, query).await)
    }

    pub async fn update_policy(
        &self,
        account: &AccountId,
        id: i64,
        changes: &PolicyChanges,
        now: i64,
    ) -> StoreResult<Option<Policy>> {
        on_db!(&self.db, |db| db
            .update_policy(account, id, changes, now)
            .await)
    }

    /// Deletes an unused policy; `InUse` names the webhooks using it.
    pub async fn delete_policy(&self, account: &AccountId, id: i64) -> StoreResult<PolicyDeletion> {
        on_db!(&self.db, |db| db.delete_policy(account, id).await)
    }

    /// Whether the id names an enabled policy of the account.
    pub async fn policy_linkable(&self, account: &AccountId, id: i64) -> StoreResult<bool> {
        on_db!(&self.db, |db| db.policy_linkable(account, id).await)
    }
}
