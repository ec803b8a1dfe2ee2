//! The delivery queue: claiming due deliveries under a lease, loading what
//! sending them takes, handing them back, recording attempts, deferring.

use super::backend::{Backend, Conn, on_db};
use super::{Store, StoreMethods, StoreResult, postgres};
use crate::domain::delivery::{
    AttemptResult, Claimed, FailurePolicy, LeasedDelivery, WebhookEffects,
};

impl Store {
    /// Leases up to `limit` due deliveries to `lease_owner` until
    /// `lease_until_ms`, none of the webhooks in `skip_webhooks`.
    pub async fn claim_due(
        &self,
        lease_owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
        skip_webhooks: &[i64],
    ) -> StoreResult<Vec<Claimed>> {
        on_db!(&self.db, |db| db
            .claim_due(lease_owner, now_ms, lease_until_ms, limit, skip_webhooks)
            .await)
    }

    /// Those of `ids` still leased to `lease_owner`, with what sending them
    /// takes: event, webhook (`None` if deleted) and policy. Read outside
    /// any write transaction.
    pub async fn load_claimed(&self, lease_owner: &str, ids: &[i64]) -> StoreResult<Vec<Claimed>> {
        on_db!(&self.db, |db| db.load_claimed(lease_owner, ids).await)
    }

    /// Deliveries a publish leased to `lease_owner` ([`PublishOutcome`]),
    /// with what sending them takes: their webhooks (`None` if deleted) and
    /// policies, each read once. Read outside any write transaction.
    pub async fn with_webhooks(
        &self,
        lease_owner: &str,
        leased: Vec<LeasedDelivery>,
    ) -> StoreResult<Vec<Claimed>> {
        on_db!(&self.db, |db| db.with_webhooks(lease_owner, leased).await)
    }

    /// Hands back leased deliveries that were not attempted: due again at
    /// `due_ms`, no attempt counted. Only leases of owners starting with
    /// `owner_prefix` are touched.
    pub async fn release_claims(
        &self,
        owner_prefix: &str,
        ids: &[i64],
        due_ms: i64,
    ) -> StoreResult<u64> {
        on_db!(&self.db, |db| db
            .release_claims(owner_prefix, ids, due_ms)
            .await)
    }

    /// Records finished attempts (each only if its lease still holds) and
    /// their effect on webhooks, in one transaction.
    pub async fn finish_attempts(
        &self,
        results: &[AttemptResult],
        policy: FailurePolicy,
        now: i64,
        now_ms: i64,
    ) -> StoreResult<Vec<WebhookEffects>> {
        on_db!(&self.db, |db| db
            .finish_attempts(results, policy, now, now_ms)
            .await)
    }

    /// Makes deliveries leased by owners starting with `owner_prefix` due now.
    pub async fn release_leases(&self, owner_prefix: &str, now_ms: i64) -> StoreResult<u64> {
        on_db!(&self.db, |db| db.release_leases(owner_prefix, now_ms).await)
    }

    /// Moves the queued (not leased) deliveries of `webhook_id` that fall
    /// due before `until_ms` to `until_ms`, 10,000 rows a transaction, but
    /// those another transaction holds; returns how many moved.
    pub async fn defer_queued(&self, webhook_id: i64, until_ms: i64) -> StoreResult<u64> {
        on_db!(&self.db, |db| db.defer_queued(webhook_id, until_ms).await)
    }

    /// When the next pending delivery falls due.
    pub async fn next_due_at(&self) -> StoreResult<Option<i64>> {
        on_db!(&self.db, |db| db.next_due_at().await)
    }
}

/// Tells other processes that work was queued (delivered on commit, or at
/// once outside a transaction): PostgreSQL's `NOTIFY`. Other SQLite
/// processes poll; this process's workers are woken in-process.
pub(super) async fn notify_work(conn: &mut Conn<'_>) -> StoreResult<()> {
    if let Backend::Postgres(conn) = conn {
        sqlx::query(postgres::NOTIFY_WORK)
            .execute(&mut **conn)
            .await?;
    }
    Ok(())
}
