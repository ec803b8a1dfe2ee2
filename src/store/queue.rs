//! The delivery queue: claiming due deliveries under a lease, loading what
//! sending them takes, handing them back, deferring a failing webhook's.

// A delivery with a `lease_owner` is in flight: every write that sets the
// owner sets `status = 'in_flight'`, and every write that moves it out of
// flight clears the owner. So statements that find leased rows by key and
// owner (loading, recording, handing back) do not test `status` as well:
// on PostgreSQL that test let the planner read the whole partial index of
// due deliveries (`status IN ('pending', 'in_flight')`) into a bitmap to
// AND with the keys' (or join the rows to a batch of keys by a nested
// loop), where finding them by key and owner alone reads only those rows.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::FromRow;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use super::backend::{Backend, Conn, on_db};
use super::params::IdList;
use super::{Store, StoreResult, postgres, rows, sqlite};
use crate::domain::Webhook;
use crate::domain::delivery::{Claimed, LeasedDelivery};
use crate::domain::policy::{PolicyKey, SignatureScheme};
use crate::domain::time::now_epoch;

/// Makes the deliveries leased by owners starting with `$2` due at `$1`.
const RELEASE_LEASES: &str = "UPDATE deliveries \
     SET status = 'pending', next_attempt_at = $1, lease_owner = NULL WHERE status = 'in_flight' \
     AND lease_owner LIKE $2";

const NEXT_DUE: &str =
    "SELECT MIN(next_attempt_at) FROM deliveries WHERE status IN ('pending', 'in_flight')";

/// Most queued deliveries [`Store::defer_queued`] moves in one transaction.
const DEFER_CHUNK: i64 = 10_000;

impl Store {
    /// Leases up to `limit` due deliveries to `lease_owner` until
    /// `lease_until_ms`, none of the webhooks in `skip_webhooks`.
    #[tracing::instrument(skip(self))]
    pub async fn claim_due(
        &self,
        lease_owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
        skip_webhooks: &[i64],
    ) -> StoreResult<Vec<Claimed>> {
        // Webhooks in `skip` have all the attempts in flight they may
        // have; their deliveries stay queued for later claims. The due
        // rows are picked once (a materialized CTE), then updated by
        // primary key: a planner misled by stale statistics cannot
        // turn the pick into a per-row rescan. The picked rows are
        // locked (PostgreSQL) or the writer is alone (SQLite), so they
        // still match when updated. PostgreSQL returns the leased rows
        // with their events; SQLite reads them after, by id.
        let mut tx = self.db.begin_relaxed().await?;
        let leased = match &mut tx {
            Backend::Sqlite(tx) => Backend::Sqlite(
                sqlx::query_as::<_, (i64,)>(sqlite::CLAIM_DUE)
                    .bind(IdList(skip_webhooks))
                    .bind(lease_owner)
                    .bind(lease_until_ms)
                    .bind(now_ms)
                    .bind(limit)
                    .fetch_all(&mut **tx)
                    .await?,
            ),
            Backend::Postgres(tx) => Backend::Postgres(
                sqlx::query_as::<_, rows::ClaimRow>(postgres::CLAIM_DUE)
                    .bind(IdList(skip_webhooks))
                    .bind(lease_owner)
                    .bind(lease_until_ms)
                    .bind(now_ms)
                    .bind(limit)
                    .fetch_all(&mut **tx)
                    .await?,
            ),
        };
        tx.commit().await?;
        let (ids, loaded) = match leased {
            Backend::Sqlite(ids) => {
                let ids: Vec<i64> = ids.into_iter().map(|(id,)| id).collect();
                let loaded = self.load_claimed(lease_owner, &ids).await;
                (ids, loaded)
            }
            Backend::Postgres(rows) => {
                let ids: Vec<i64> = rows.iter().map(rows::ClaimRow::id).collect();
                (ids, self.claimed_rows_with_webhooks(rows).await)
            }
        };
        if loaded.is_err() {
            // Not sent, so not kept: due again for any worker.
            if let Err(release) = self.release_claims(lease_owner, &ids, now_ms).await {
                tracing::warn!(
                    error = %release,
                    "could not hand back deliveries; their leases will run out"
                );
            }
        }
        loaded
    }

    /// Those of `ids` still leased to `lease_owner`, with what sending them
    /// takes: event, webhook (`None` if deleted) and policy. Read outside
    /// any write transaction.
    pub async fn load_claimed(&self, lease_owner: &str, ids: &[i64]) -> StoreResult<Vec<Claimed>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // The leases keep these rows as they are: no transaction (two
        // round trips fewer on PostgreSQL). By primary key and lease.
        let select = self.db.pick(sqlite::LOAD_CLAIMED, postgres::LOAD_CLAIMED);
        let claimed: Vec<rows::ClaimRow> = on_db!(&self.db, |db| {
            sqlx::query_as(select)
                .bind(IdList(ids))
                .bind(lease_owner)
                .fetch_all(&db.read)
                .await
        })?;
        self.claimed_rows_with_webhooks(claimed).await
    }

    /// Deliveries a publish leased to `lease_owner` ([`PublishOutcome`]),
    /// with what sending them takes: their webhooks (`None` if deleted) and
    /// policies, each read once. Read outside any write transaction.
    ///
    /// [`PublishOutcome`]: crate::domain::delivery::PublishOutcome
    pub async fn with_webhooks(
        &self,
        lease_owner: &str,
        leased: Vec<LeasedDelivery>,
    ) -> StoreResult<Vec<Claimed>> {
        if leased.is_empty() {
            return Ok(Vec::new());
        }
        let webhook_ids = leased.iter().map(|l| l.webhook_id).collect();
        let webhooks = self.webhooks_by_id(webhook_ids).await?;
        Ok(leased
            .into_iter()
            .map(|l| {
                let (webhook, policy) = webhooks.get(l.webhook_id);
                Claimed {
                    id: l.id,
                    uuid: l.uuid,
                    origin_uuid: None,
                    lease_owner: lease_owner.to_string(),
                    attempts: 0,
                    kind: l.event.kind,
                    webhook,
                    policy,
                    event: l.event,
                }
            })
            .collect())
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
        let mut tx = self.db.begin_relaxed().await?;
        // By key and lease (a lease held means in flight).
        let release = tx.pick(sqlite::RELEASE_CLAIMS, postgres::RELEASE_CLAIMS);
        let released = on_db!(&mut tx, |tx| {
            sqlx::query(release)
                .bind(IdList(ids))
                .bind(due_ms)
                .bind(format!("{owner_prefix}%"))
                .execute(&mut **tx)
                .await
                .map(|done| done.rows_affected())
        })?;
        tx.commit().await?;
        Ok(released)
    }

    /// Makes deliveries leased by owners starting with `owner_prefix` due now.
    pub async fn release_leases(&self, owner_prefix: &str, now_ms: i64) -> StoreResult<u64> {
        let mut tx = self.db.begin_relaxed().await?;
        let released = on_db!(&mut tx, |tx| {
            sqlx::query(RELEASE_LEASES)
                .bind(now_ms)
                .bind(format!("{owner_prefix}%"))
                .execute(&mut **tx)
                .await
                .map(|done| done.rows_affected())
        })?;
        tx.commit().await?;
        Ok(released)
    }

    /// Moves the queued (not leased) deliveries of `webhook_id` that fall
    /// due before `until_ms` to `until_ms`, 10,000 rows a transaction, but
    /// those another transaction holds; returns how many moved.
    pub async fn defer_queued(&self, webhook_id: i64, until_ms: i64) -> StoreResult<u64> {
        // A chunk a transaction, so a large backlog does not hold the
        // writer for long.
        let defer = self.db.pick(sqlite::DEFER_QUEUED, postgres::DEFER_QUEUED);
        let mut moved = 0;
        loop {
            let mut tx = self.db.begin_relaxed().await?;
            let done = on_db!(&mut tx, |tx| {
                sqlx::query(defer)
                    .bind(webhook_id)
                    .bind(until_ms)
                    .bind(DEFER_CHUNK)
                    .execute(&mut **tx)
                    .await
                    .map(|done| done.rows_affected())
            })?;
            tx.commit().await?;
            moved += done;
            if done < DEFER_CHUNK.unsigned_abs() {
                return Ok(moved);
            }
        }
    }

    /// When the next pending delivery falls due.
    pub async fn next_due_at(&self) -> StoreResult<Option<i64>> {
        let (next,): (Option<i64>,) = on_db!(&self.db, |db| {
            sqlx::query_as(NEXT_DUE).fetch_one(&db.read).await
        })?;
        Ok(next)
    }

    /// The webhooks of `ids` and their policies, each read once.
    async fn webhooks_by_id(&self, mut ids: Vec<i64>) -> StoreResult<WebhooksById> {
        ids.sort_unstable();
        ids.dedup();
        let select = self
            .db
            .pick(sqlite::WEBHOOKS_BY_ID, postgres::WEBHOOKS_BY_ID);
        let found: Vec<rows::WebhookRow> = self.read_by_ids(select, &ids).await?;
        let mut hooks = HashMap::new();
        for row in found {
            let hook = row.into_domain()?;
            hooks.insert(hook.id, Arc::new(hook));
        }
        let mut policy_ids: Vec<i64> = hooks.values().filter_map(|h| h.webhook_policy_id).collect();
        policy_ids.sort_unstable();
        policy_ids.dedup();
        let mut policies = HashMap::new();
        if !policy_ids.is_empty() {
            let select = self
                .db
                .pick(sqlite::POLICY_KEYS_BY_ID, postgres::POLICY_KEYS_BY_ID);
            let found: Vec<rows::PolicyKeyRow> = self.read_by_ids(select, &policy_ids).await?;
            let mut keys = Vec::with_capacity(found.len());
            for row in found {
                keys.push(row.into_domain()?);
            }
            self.add_retired_keys(&mut keys, now_epoch()).await?;
            for key in keys {
                policies.insert(key.id, Arc::new(key));
            }
        }
        Ok(WebhooksById { hooks, policies })
    }

    /// Gives the Standard Webhooks policies of `keys` their retired keys
    /// still in their overlap at `now`: their messages carry a signature of
    /// each. A JWS has one signature, by the current key.
    async fn add_retired_keys(&self, keys: &mut [PolicyKey], now: i64) -> StoreResult<()> {
        let ids: Vec<i64> = keys
            .iter()
            .filter(|key| key.signature_scheme == SignatureScheme::StandardWebhooks)
            .map(|key| key.id)
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let select = self.db.pick(
            sqlite::RETIRED_KEYS_BY_POLICY,
            postgres::RETIRED_KEYS_BY_POLICY,
        );
        let found: Vec<rows::RetiredKeyRow> = self.read_by_ids(select, &ids).await?;
        for row in found {
            if let Some(key) = keys.iter_mut().find(|key| key.id == row.policy_id) {
                let retired = row.into_domain();
                if retired.expires_at > now {
                    key.retired.push(retired);
                }
            }
        }
        Ok(())
    }

    /// The rows `R` that `select`, which takes a list of ids as `$1`, reads
    /// for `ids`.
    async fn read_by_ids<R>(&self, select: &'static str, ids: &[i64]) -> StoreResult<Vec<R>>
    where
        R: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>,
    {
        let rows = on_db!(&self.db, |db| {
            sqlx::query_as(select)
                .bind(IdList(ids))
                .fetch_all(&db.read)
                .await
        })?;
        Ok(rows)
    }

    /// Leased deliveries with their events, given their webhooks and
    /// policies (each read once).
    async fn claimed_rows_with_webhooks(
        &self,
        claimed: Vec<rows::ClaimRow>,
    ) -> StoreResult<Vec<Claimed>> {
        let webhook_ids = claimed.iter().map(|c| c.webhook_id).collect();
        let webhooks = self.webhooks_by_id(webhook_ids).await?;
        let mut events = HashMap::new();
        claimed
            .into_iter()
            .map(|row| {
                let (webhook, policy) = webhooks.get(row.webhook_id);
                row.into_domain(webhook, policy, &mut events)
            })
            .collect()
    }
}

/// Webhooks read by id for deliveries about to be sent, with their
/// policies.
struct WebhooksById {
    hooks: HashMap<i64, Arc<Webhook>>,
    policies: HashMap<i64, Arc<PolicyKey>>,
}

impl WebhooksById {
    /// Webhook `id` (`None` once deleted) and its policy, if it has one.
    fn get(&self, id: i64) -> (Option<Arc<Webhook>>, Option<Arc<PolicyKey>>) {
        let webhook = self.hooks.get(&id).cloned();
        let policy = webhook
            .as_ref()
            .and_then(|w| w.webhook_policy_id)
            .and_then(|policy| self.policies.get(&policy).cloned());
        (webhook, policy)
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
