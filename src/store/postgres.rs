//! PostgreSQL: the general and publishing pools and their session
//! settings, `LISTEN`/`NOTIFY`, and the statements that differ from SQLite's.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::StoreResult;

/// The pools of a PostgreSQL database.
pub struct PgDb {
    pub(super) write: PgPool,
    /// The same pool: PostgreSQL runs readers and writers side by side.
    pub(super) read: PgPool,
    /// Publishing's statements, on connections of their own that plan
    /// each statement once ([`PUBLISH_PLANS`]).
    pub(super) publishing: PgPool,
}

/// Publish transactions in flight at once: while one waits for its commit
/// to reach the disk, the next runs its statements. Each has a connection
/// of the publishing pool.
pub(super) const PUBLISH_CONCURRENCY: usize = 4;

/// Connections for claims, recording, the API and all but publishing (one
/// of them held by `LISTEN` while workers run).
const POOL_SIZE: u32 = 16;

/// Settings of the general pool: a plan made for each execution. The queue
/// tables grow and shrink fast, and a generic plan cached while they were
/// small (a sequential scan) would be kept until the table's next `ANALYZE`
/// or the connection's end (sqlx replaces it after 30 minutes).
const PLANNED_EACH_TIME: [(&str, &str); 1] = [("plan_cache_mode", "force_custom_plan")];

/// Settings of the publishing pool. Publishing inserts rows from a JSON
/// parameter and reads only webhooks (by their `(account_id, event)`
/// index) and idempotency keys (by primary key): none of the queue's
/// tables, so its best plan does not depend on how large they are. Each
/// statement is planned once per connection (a generic plan), with
/// sequential scans priced out and each event's webhooks looked up on
/// their own ([`PUBLISH`]), so a plan made while the webhooks were few does
/// not read them all later; planning the publish statement at each
/// execution (its bind) took a large share of the server's time per event.
/// Statements that read deliveries or events keep a plan per execution: a
/// generic plan made on empty tables read handed deliveries through the
/// index of all due ones, or through a whole other index, far slower once
/// the queue grew.
const PUBLISH_PLANS: [(&str, &str); 2] = [
    ("plan_cache_mode", "force_generic_plan"),
    ("enable_seqscan", "off"),
];

/// The migrations of PostgreSQL databases.
pub(super) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The channel that tells workers in every process that work was queued.
const WORK_CHANNEL: &str = "herald_work";

impl PgDb {
    pub async fn connect(url: &str) -> StoreResult<PgDb> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = |size: u32| {
            PgPoolOptions::new()
                .max_connections(size)
                .acquire_timeout(Duration::from_secs(10))
        };
        let general = pool(POOL_SIZE)
            .connect_with(options.clone().options(PLANNED_EACH_TIME))
            .await?;
        let publishing = pool(PUBLISH_CONCURRENCY as u32)
            .connect_with(options.options(PUBLISH_PLANS))
            .await?;
        Ok(PgDb {
            write: general.clone(),
            read: general,
            publishing,
        })
    }

    pub(super) async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.write).await?;
        Ok(())
    }

    pub(super) async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.write.begin().await
    }

    /// Publishing's statements alone ([`PUBLISH_PLANS`]).
    pub(super) fn publishing(&self) -> &PgPool {
        &self.publishing
    }

    /// Publishing's transactions: [`Self::begin_write`] on its own pool.
    pub(super) async fn begin_publish(
        &self,
    ) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.publishing.begin().await
    }

    /// Delivery bookkeeping (leases, outcomes): the commit does not wait
    /// for the WAL flush (`synchronous_commit = off`). A server crash may
    /// lose the last few such commits; their deliveries are then sent again
    /// (at least once). Events are always written with
    /// [`Self::begin_publish`], or by a statement alone on the publishing
    /// pool, whose commit waits too.
    ///
    /// Every bookkeeping statement finds its rows through an index (by key
    /// and lease, by due time, by webhook), so sequential scans are priced
    /// out: on a table not analyzed since it grew, the planner read a
    /// recording's rows by a sequential scan of every delivery, finished
    /// ones included.
    pub(super) async fn begin_relaxed(
        &self,
    ) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.write
            .begin_with("BEGIN; SET LOCAL synchronous_commit = off; SET LOCAL enable_seqscan = off")
            .await
    }

    /// Wakes `wake` whenever a process queues work ([`NOTIFY_WORK`]), until
    /// `shutdown`, on a connection of its own.
    pub(super) fn watch_for_work(&self, wake: Arc<Notify>, shutdown: CancellationToken) {
        let pool = self.write.clone();
        tokio::spawn(async move {
            while !shutdown.is_cancelled() {
                match listen(&pool, &wake, &shutdown).await {
                    Ok(()) => return,
                    Err(error) => {
                        tracing::warn!(%error, "LISTEN connection lost; reconnecting");
                        // Work queued meanwhile must not wait for the next poll.
                        wake.notify_one();
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
            }
        });
    }
}

async fn listen(
    pool: &PgPool,
    wake: &Notify,
    shutdown: &CancellationToken,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(WORK_CHANNEL).await?;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            notification = listener.recv() => {
                notification?;
                wake.notify_one();
            }
        }
    }
}

// The statements that differ from SQLite's (`sqlite.rs` has one of each
// name, or uses the shared statement where it needs no lock). A row read
// to be changed is locked `FOR NO KEY UPDATE`: never a key change, so
// inserts of deliveries that refer to it (a foreign key's `KEY SHARE`
// lock) need not wait for it. Queue rows another transaction holds are
// skipped (`FOR UPDATE SKIP LOCKED`). A list of ids bound as one parameter
// ([`IdList`](super::params::IdList)) is a `bigint[]`, read with `= ANY($n)`.

// For webhooks.rs and verification.rs.

/// `GET_WEBHOOK` of `webhooks.rs`, locked to be changed.
pub(super) const LOCK_WEBHOOK: &str = "SELECT id, account_id, name, event, uri, description, \
     disabled, mail_exceptions_to, source, source_id, webhook_policy_id, \
     (SELECT p.name FROM webhook_policies p WHERE p.id = webhooks.webhook_policy_id) \
     AS webhook_policy_name, attachments, last_error, verified, created_at, updated_at \
     FROM webhooks WHERE account_id = $1 AND id = $2 FOR NO KEY UPDATE";

/// Gives up the queued and in-flight deliveries of webhook `$2`, with
/// reason `$1`.
pub(super) const GIVE_UP: &str = "UPDATE deliveries \
     SET status = 'given_up', lease_owner = NULL, last_error = $1 WHERE id IN \
     (SELECT id FROM deliveries WHERE webhook_id = $2 AND status IN ('pending', 'in_flight') FOR \
     UPDATE SKIP LOCKED)";

/// [`GIVE_UP`] for the deliveries of events only.
pub(super) const GIVE_UP_EVENTS: &str = "UPDATE deliveries \
     SET status = 'given_up', lease_owner = NULL, last_error = $1 WHERE id IN \
     (SELECT id FROM deliveries WHERE webhook_id = $2 AND status IN ('pending', 'in_flight') \
     AND kind = 'event' FOR UPDATE SKIP LOCKED)";

/// The delivery of a test or verification event to its one webhook;
/// returns its id.
pub(super) const INSERT_DIRECT_DELIVERY: &str = "INSERT INTO deliveries (uuid, account_id, \
     webhook_id, event_id, event, object_id, kind, status, attempts, next_attempt_at, created_at, \
     updated_at) \
     VALUES (gen_random_uuid()::text, $1, $2, $3, $7, $8, $4, 'pending', 0, $5, $6, $6) \
     RETURNING id";

// For policies.rs.

/// `GET_POLICY` of `policies.rs`, locked to be changed.
pub(super) const LOCK_POLICY: &str = "SELECT id, account_id, name, disabled, jwt_alg, \
     jwt_audience, jwt_claim_expires_in, signature_scheme, openid_connect_discovery, created_at, \
     updated_at FROM webhook_policies WHERE account_id = $1 AND id = $2 FOR NO KEY UPDATE";

// For tokens.rs.

/// `TOKEN_BY_ID` of `tokens.rs`, locked to be changed.
pub(super) const LOCK_TOKEN: &str = "SELECT t.id, t.account_id, t.person_id, \
     p.name AS person_name, t.role, t.description, t.created_at, t.expires_at, t.last_used_at \
     FROM api_tokens t JOIN people p ON p.id = t.person_id WHERE t.id = $1 \
     AND t.revoked_at IS NULL FOR NO KEY UPDATE OF t";

// For publish.rs and fan_out.rs.

/// Stores the events of the JSON rows `$1` (see
/// [`json_row_chunks`](super::params::json_row_chunks)), of kind `$8`, made
/// at `$3` (published at `$2`, in milliseconds), and their deliveries, in one statement (`new_events` returns
/// what the deliveries need of the events). The deliveries are those of
/// SQLite's `INSERT_DELIVERIES`: as many as the lease takes (`$4`) leased
/// to its worker (until `$5`, owner `$6`), none of the webhooks of the list
/// `$7`, the rest due at `$2`. Returns each event with each of its
/// deliveries, if any. Each event's webhooks are looked up for it
/// (`OFFSET 0` keeps the lookup from being flattened into a join):
/// publishing's plan is made once ([`PUBLISH_PLANS`]), and made while there
/// were few webhooks, a plain join hashed all of them, read whole through
/// an index, at every publish.
pub(super) const PUBLISH: &str = include_str!("sql/publish.postgres.sql");

// For queue.rs.

/// Leases up to `$5` deliveries due at `$4` to `$2` until `$3`, none of
/// the webhooks in the list `$1`.
/// Returns the leased rows joined to their events (a data-modifying
/// `WITH`): one statement, not a second reading them by id. Each leased
/// row's event is looked up by key: the planner cannot tell how many rows
/// `leased` holds, and joined plainly it hashed all the events to find a
/// claim's few; `OFFSET 0` keeps the lookup from being flattened into such
/// a join.
pub(super) const CLAIM_DUE: &str = include_str!("sql/claim_due.postgres.sql");

/// The deliveries of the list `$1` still leased to `$2`, with their events.
pub(super) const LOAD_CLAIMED: &str = "SELECT d.id, d.uuid, d.origin_uuid, d.lease_owner, \
     d.attempts, d.kind, d.webhook_id, e.id AS event_id, e.event, e.object_id, e.person_id, \
     e.person_name, e.payload, e.links, e.sealed_code, e.published_at_ms FROM deliveries d \
     JOIN events e ON e.id = d.event_id \
     WHERE d.lease_owner = $2 AND d.id = ANY($1)";

/// The webhooks of the list `$1`.
pub(super) const WEBHOOKS_BY_ID: &str = "SELECT id, account_id, name, event, uri, description, \
     disabled, mail_exceptions_to, source, source_id, webhook_policy_id, \
     (SELECT p.name FROM webhook_policies p WHERE p.id = webhooks.webhook_policy_id) \
     AS webhook_policy_name, attachments, last_error, verified, created_at, updated_at \
     FROM webhooks WHERE id = ANY($1)";

/// The signing keys of the policies of the list `$1`.
pub(super) const POLICY_KEYS_BY_ID: &str = "SELECT id, jwt_alg, jwt_audience, \
     jwt_claim_expires_in, signature_scheme, openid_connect_discovery, sealed_key \
     FROM webhook_policies WHERE id = ANY($1)";

/// The retired keys of the policies of the list `$1`, newest first.
pub(super) const RETIRED_KEYS_BY_POLICY: &str = "SELECT policy_id, sealed_key, retired_at, \
     expires_at FROM webhook_policy_retired_keys WHERE policy_id = ANY($1) ORDER BY id DESC";

/// Hands back the deliveries of the list `$1` leased to owners like `$3`,
/// due again at `$2`.
pub(super) const RELEASE_CLAIMS: &str = "UPDATE deliveries \
     SET status = 'pending', next_attempt_at = $2, lease_owner = NULL WHERE lease_owner LIKE $3 \
     AND id = ANY($1)";

/// SQLite's `DEFER_QUEUED` (whose comment says why `+webhook_id` and the
/// repeated `status` test), but rows another transaction holds (a claim, a
/// hand-back) are left to it: waiting for them could deadlock.
pub(super) const DEFER_QUEUED: &str = "UPDATE deliveries SET next_attempt_at = $2 WHERE id IN \
     (SELECT id FROM deliveries WHERE status IN ('pending', 'in_flight') AND status = 'pending' \
     AND next_attempt_at < $2 AND +webhook_id = $1 LIMIT $3 FOR UPDATE SKIP LOCKED)";

/// Wakes the workers of every process ([`WORK_CHANNEL`]), on commit.
pub(super) const NOTIFY_WORK: &str = "SELECT pg_notify('herald_work', '')";

// For attempts.rs.

/// Records the outcomes of the JSON rows `$2` at `$3`, each only while its
/// lease holds; returns the ids recorded. The planner cannot see how many
/// rows a JSON row source holds: the ids again, as the list `$1`, make it
/// look `deliveries` rows up by key rather than scan an index of all due
/// rows.
pub(super) const RECORD_OUTCOMES: &str = include_str!("sql/record_outcomes.postgres.sql");

/// Stores the attempts of the JSON rows `$1`, in order.
pub(super) const INSERT_ATTEMPTS: &str = include_str!("sql/insert_attempts.postgres.sql");

/// Starts the failures of the webhooks of the list `$1` over.
pub(super) const RESET_FAILURES: &str = "UPDATE webhooks SET consecutive_failures = 0 \
     WHERE consecutive_failures <> 0 AND id = ANY($1)";

/// `WEBHOOK_FAILURES` of `attempts.rs`, locked to be changed.
pub(super) const LOCK_WEBHOOK_FAILURES: &str = "SELECT id, account_id, name, event, uri, \
     description, disabled, mail_exceptions_to, source, source_id, webhook_policy_id, \
     (SELECT p.name FROM webhook_policies p WHERE p.id = webhooks.webhook_policy_id) \
     AS webhook_policy_name, attachments, last_error, verified, created_at, updated_at, \
     consecutive_failures, last_failure_mail_at FROM webhooks WHERE id = $1 FOR NO KEY UPDATE";

// For history.rs.

/// A new pending delivery (due `$1`, made `$2`) of the message of delivery
/// `$3`, its origin the first delivery of that message.
pub(super) const INSERT_REDELIVERY: &str = "INSERT INTO deliveries (uuid, origin_uuid, account_id, \
     webhook_id, event_id, event, object_id, kind, status, attempts, next_attempt_at, created_at, \
     updated_at) SELECT gen_random_uuid()::text, COALESCE(origin_uuid, uuid), account_id, \
     webhook_id, event_id, event, object_id, kind, 'pending', 0, $1, $2, $2 FROM deliveries \
     WHERE id = $3 RETURNING id";

// For mails.rs.

/// Leases up to `$3` mails due at `$2` until `$1`.
pub(super) const CLAIM_MAILS: &str = "WITH due AS MATERIALIZED \
     (SELECT id FROM mails WHERE status = 'pending' AND next_attempt_at <= $2 ORDER BY id LIMIT $3 \
     FOR UPDATE SKIP LOCKED) UPDATE mails SET next_attempt_at = $1 FROM due \
     WHERE mails.id = due.id \
     RETURNING mails.id, mails.recipients, mails.subject, mails.body, mails.attempts";
