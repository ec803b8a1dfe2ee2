//! Publishing: events stored with a delivery for each webhook they match,
//! in one commit for a group of requests.

use super::backend::on_db;
use super::{PublishRequest, Store, StoreMethods, StoreResult};
use crate::domain::delivery::{Lease, PublishOutcome};

impl Store {
    /// Stores the events of every request and one delivery for each matching
    /// webhook, in one transaction (or one statement, which commits alone):
    /// when this returns, all of it is durable.
    /// One answer per request, in order.
    /// With `lease`, up to its limit of the new deliveries are stored
    /// already leased to it, so the worker offering it can send them
    /// without claiming them first.
    pub async fn publish(
        &self,
        requests: &[PublishRequest],
        idempotency_window_secs: i64,
        now: i64,
        now_ms: i64,
        lease: Option<&Lease>,
    ) -> StoreResult<PublishOutcome> {
        on_db!(&self.db, |db| db
            .publish(requests, idempotency_window_secs, now, now_ms, lease)
            .await)
    }
}
