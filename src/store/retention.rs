//! Retention: deleting finished deliveries, and what they leave unneeded,
//! once they are older than the retention period.

use super::backend::on_db;
use super::{Store, StoreMethods, StoreResult};

impl Store {
    /// Deletes up to `batch` finished deliveries (with their attempts) last
    /// changed before `cutoff`, then events, mails and idempotency keys no
    /// longer needed. Returns how many rows went; call again while it is `batch`.
    pub async fn purge(
        &self,
        cutoff: i64,
        idempotency_cutoff: i64,
        batch: i64,
    ) -> StoreResult<u64> {
        on_db!(&self.db, |db| db
            .purge(cutoff, idempotency_cutoff, batch)
            .await)
    }
}
