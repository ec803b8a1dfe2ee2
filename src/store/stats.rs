//! What the metrics read of the database: the queue's depth and age, the
//! webhooks by state, and the connection pools.

use super::backend::{Backend, on_db};
use super::{Store, StoreResult};

/// The queue (pending and in-flight deliveries) at `$1`: how many, how many
/// in flight under a lease still running, how many due, and the earliest
/// time one is due. Each part is read through the index of due deliveries
/// (whose condition each repeats, for SQLite to use it): all but the
/// leases still running from the index alone, and those are the rows due
/// later, few while a backlog waits.
const QUEUE_STATS: &str = "SELECT \
     (SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'in_flight')), \
     (SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'in_flight') \
         AND next_attempt_at > $1 AND status = 'in_flight'), \
     (SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'in_flight') \
         AND next_attempt_at <= $1), \
     (SELECT MIN(next_attempt_at) FROM deliveries WHERE status IN ('pending', 'in_flight'))";

/// Webhooks: all, disabled, and enabled ones whose last attempt failed.
const WEBHOOK_STATS: &str = "SELECT COUNT(*), COUNT(*) FILTER (WHERE disabled), \
     COUNT(*) FILTER (WHERE NOT disabled AND consecutive_failures > 0) FROM webhooks";

/// The queue at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Waiting: for their time, to be claimed, or due again after a lease
    /// ran out.
    pub pending: i64,
    /// Leased, the lease still running: being sent.
    pub in_flight: i64,
    /// Pending or in flight with their time come (an in-flight delivery
    /// whose lease ran out is due again).
    pub due: i64,
    /// Epoch milliseconds the delivery due longest has been due since;
    /// `None` when none is due.
    pub oldest_due_ms: Option<i64>,
}

/// Webhooks by state: disabled, failing (enabled, the last attempt
/// failed) or ok (the rest).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebhookStats {
    pub ok: i64,
    pub failing: i64,
    pub disabled: i64,
}

/// One connection pool: its name, connections open and idle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    pub name: &'static str,
    pub open: u32,
    pub idle: usize,
}

impl Store {
    /// The queue as it stands at `now_ms`. Reads every queued delivery
    /// (on a reader): call it every few seconds, not per request.
    #[tracing::instrument(skip(self))]
    pub async fn queue_stats(&self, now_ms: i64) -> StoreResult<QueueStats> {
        let (queued, in_flight, due, earliest): (i64, i64, i64, Option<i64>) =
            on_db!(&self.db, |db| {
                sqlx::query_as(QUEUE_STATS)
                    .bind(now_ms)
                    .fetch_one(&db.read)
                    .await
            })?;
        Ok(QueueStats {
            pending: queued - in_flight,
            in_flight,
            due,
            oldest_due_ms: earliest.filter(|&at| at <= now_ms),
        })
    }

    /// The webhooks of every account by state.
    #[tracing::instrument(skip(self))]
    pub async fn webhook_stats(&self) -> StoreResult<WebhookStats> {
        let (all, disabled, failing): (i64, i64, i64) = on_db!(&self.db, |db| {
            sqlx::query_as(WEBHOOK_STATS).fetch_one(&db.read).await
        })?;
        Ok(WebhookStats {
            ok: all - disabled - failing,
            failing,
            disabled,
        })
    }

    /// Each connection pool now: on SQLite the writer and the readers, on
    /// PostgreSQL the general pool and publishing's.
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        let stats = |name, pool: &dyn PoolSize| PoolStats {
            name,
            open: pool.open(),
            idle: pool.idle(),
        };
        match &self.db {
            // An in-memory database reads on its writer.
            Backend::Sqlite(db) if db.file.is_none() => vec![stats("writer", &db.write)],
            Backend::Sqlite(db) => vec![stats("writer", &db.write), stats("readers", &db.read)],
            Backend::Postgres(db) => vec![
                stats("general", &db.write),
                stats("publishing", &db.publishing),
            ],
        }
    }
}

/// The sizes of a pool of either backend.
trait PoolSize {
    fn open(&self) -> u32;
    fn idle(&self) -> usize;
}

impl<DB: sqlx::Database> PoolSize for sqlx::Pool<DB> {
    fn open(&self) -> u32 {
        self.size()
    }

    fn idle(&self) -> usize {
        self.num_idle()
    }
}
