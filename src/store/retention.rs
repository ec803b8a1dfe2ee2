//! Retention: deleting finished deliveries, and what they leave unneeded,
//! once they are older than the retention period.

use super::backend::on_db;
use super::{Store, StoreResult};

/// The attempts of up to `$2` finished deliveries last changed before `$1`
/// (those [`DELETE_DELIVERIES`] deletes next).
const DELETE_ATTEMPTS: &str = "DELETE FROM delivery_attempts WHERE delivery_id IN \
     (SELECT id FROM deliveries WHERE status IN ('succeeded', 'given_up') AND updated_at < $1 \
     ORDER BY updated_at LIMIT $2)";

const DELETE_DELIVERIES: &str = "DELETE FROM deliveries WHERE id IN \
     (SELECT id FROM deliveries WHERE status IN ('succeeded', 'given_up') AND updated_at < $1 \
     ORDER BY updated_at LIMIT $2)";

/// Events older than `$1` that no delivery refers to any more.
const DELETE_EVENTS: &str = "DELETE FROM events WHERE id IN \
     (SELECT e.id FROM events e WHERE e.created_at < $1 AND NOT EXISTS (SELECT 1 FROM deliveries d \
     WHERE d.event_id = e.id) LIMIT $2)";

const DELETE_MAILS: &str = "DELETE FROM mails WHERE id IN \
     (SELECT id FROM mails WHERE status <> 'pending' AND created_at < $1 LIMIT $2)";

const DELETE_IDEMPOTENCY_KEYS: &str = "DELETE FROM idempotency_keys WHERE (account_id, key) IN \
     (SELECT account_id, key FROM idempotency_keys WHERE created_at < $1 LIMIT $2)";

impl Store {
    /// Deletes up to `batch` finished deliveries (with their attempts) last
    /// changed before `cutoff`, then events, mails and idempotency keys no
    /// longer needed. Returns how many rows went; call again while it is `batch`.
    #[tracing::instrument(skip(self))]
    pub async fn purge(
        &self,
        cutoff: i64,
        idempotency_cutoff: i64,
        batch: i64,
    ) -> StoreResult<u64> {
        let mut tx = self.db.begin_write().await?;
        let mut removed = 0;
        for (delete, before) in [
            (DELETE_ATTEMPTS, cutoff),
            (DELETE_DELIVERIES, cutoff),
            (DELETE_EVENTS, cutoff),
            (DELETE_MAILS, cutoff),
            (DELETE_IDEMPOTENCY_KEYS, idempotency_cutoff),
        ] {
            removed += on_db!(&mut tx, |tx| {
                sqlx::query(delete)
                    .bind(before)
                    .bind(batch)
                    .execute(&mut **tx)
                    .await
                    .map(|done| done.rows_affected())
            })?;
        }
        tx.commit().await?;
        Ok(removed)
    }
}
