//! Delivery history: listing and reading deliveries with their attempts,
//! redelivering one, recovering what a webhook gave up.

use super::backend::on_db;
use super::{Store, StoreMethods, StoreResult};
use crate::domain::AccountId;
use crate::domain::delivery::{AttemptRecord, DeliveryRecord, Redelivery};
use crate::domain::list::{ListQuery, Page};

impl Store {
    /// A page of the account's deliveries (filter by `webhook_id` for one webhook's).
    pub async fn list_deliveries(
        &self,
        account: &AccountId,
        query: &ListQuery,
    ) -> StoreResult<Page<DeliveryRecord>> {
        on_db!(&self.db, |db| db.list_deliveries(account, query).await)
    }

    /// A delivery with its attempts, oldest first.
    pub async fn get_delivery(
        &self,
        account: &AccountId,
        id: i64,
    ) -> StoreResult<Option<(DeliveryRecord, Vec<AttemptRecord>)>> {
        on_db!(&self.db, |db| db.get_delivery(account, id).await)
    }

    /// Queues a new delivery of a finished delivery's message, with a new
    /// uuid and the first delivery's uuid as its origin.
    pub async fn redeliver(
        &self,
        account: &AccountId,
        id: i64,
        now: i64,
        now_ms: i64,
    ) -> StoreResult<Redelivery> {
        on_db!(&self.db, |db| db.redeliver(account, id, now, now_ms).await)
    }

    /// Redelivers, once each, the messages of a webhook given up between
    /// `since` and `until` (epoch seconds) and not delivered or queued again
    /// since; `None` when no such webhook is in the account.
    pub async fn recover(
        &self,
        account: &AccountId,
        webhook_id: i64,
        since: i64,
        until: i64,
        now: i64,
        now_ms: i64,
    ) -> StoreResult<Option<i64>> {
        on_db!(&self.db, |db| db
            .recover(account, webhook_id, since, until, now, now_ms)
            .await)
    }
}
