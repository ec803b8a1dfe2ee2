//! The embedded SQLite database: WAL, one writer connection taking `BEGIN
//! IMMEDIATE` transactions, a pool of readers, a checkpointer, and the
//! statements that differ from PostgreSQL's.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::StoreResult;
use super::readiness::DatabaseFile;

/// The connections to an SQLite database file.
pub struct SqliteDb {
    /// One connection: SQLite allows one writer at a time, and queueing in
    /// the pool is cheaper and fairer than `SQLITE_BUSY` retries.
    pub(super) write: SqlitePool,
    pub(super) read: SqlitePool,
    /// The database file as opened; `None` in memory.
    pub(super) file: Option<DatabaseFile>,
    /// Stops the checkpointer when the store is dropped.
    _checkpointer: Option<DropGuard>,
}

/// How long attempt outcomes gather before they are recorded (see
/// [`Store::record_gather`](super::Store::record_gather)): the one writer
/// then takes fewer, larger recording transactions, which leaves it free
/// more often for publishes and costs less CPU per delivery.
pub(super) const RECORD_GATHER: Duration = Duration::from_millis(2);

/// The migrations of SQLite databases.
pub(super) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

impl SqliteDb {
    pub async fn connect(url: &str) -> StoreResult<SqliteDb> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit survives power loss, not just a crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Checkpoints (copying the WAL into the database file, with
            // fsyncs) run on their own connection, not inside whichever
            // write happens to cross the WAL size limit: see `checkpoints`.
            .pragma("wal_autocheckpoint", "0")
            // Once the WAL starts over, a file grown past 64 MiB by a burst
            // is cut back to that.
            .pragma("journal_size_limit", "67108864")
            // Rows cross from the connection's thread to the caller through
            // a channel; the default 50 stopped that thread every 50 rows of
            // a batch's `RETURNING` (a thread switch each time).
            .row_buffer_size(1024);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let file = if in_memory {
            None
        } else {
            owner_only(options.get_filename())
                .map_err(|e| super::StoreError::Database(e.into()))?;
            Some(DatabaseFile::of(options.get_filename())?)
        };
        // No ping before each use (sqlx's default): a connection to a file in
        // this process cannot have been dropped by a server, and the ping is
        // one more round trip to the connection's thread on every acquire.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        // An in-memory database exists only on its one connection.
        let read = if in_memory {
            write.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(8)
                .test_before_acquire(false)
                .connect_with(options.clone().read_only(true))
                .await?
        };
        let checkpointer = if in_memory {
            None
        } else {
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .connect_with(options)
                .await?;
            let stop = CancellationToken::new();
            tokio::spawn(checkpoints(pool, stop.clone()));
            Some(stop.drop_guard())
        };
        Ok(SqliteDb {
            write,
            read,
            file,
            _checkpointer: checkpointer,
        })
    }

    pub(super) async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.write).await?;
        Ok(())
    }

    /// A write whose commit is on disk before it returns (an fsync of the
    /// WAL). Every write takes this or [`Self::begin_relaxed`], which sets
    /// the writer connection's mode for it.
    pub(super) async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.write
            .begin_with("PRAGMA synchronous = FULL; BEGIN IMMEDIATE")
            .await
    }

    /// Delivery bookkeeping (leases, outcomes): the commit does not wait
    /// for the disk. A power cut may lose the last few such commits; their
    /// deliveries are then sent again (at least once). A process crash
    /// loses nothing, and events are always written with [`Self::begin_write`].
    pub(super) async fn begin_relaxed(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.write
            .begin_with("PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE")
            .await
    }

    /// Publishing's statements alone: the one writer (PostgreSQL gives
    /// publishing a pool of its own, see `PgStore::publishing`).
    pub(super) fn publishing(&self) -> &SqlitePool {
        &self.write
    }

    /// Publishing's transactions: [`Self::begin_write`].
    pub(super) async fn begin_publish(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.begin_write().await
    }
}

/// Copies the WAL back into the database file every [`CHECKPOINT_EVERY`]
/// until `stop`. A passive checkpoint never blocks the writer or readers,
/// so no publish or claim waits for its fsyncs; the WAL is reused from its
/// start once a checkpoint has copied all of it.
/// Makes the database file readable and writable by its owner alone
/// (mode 0600), creating it so when missing, before SQLite opens it: it
/// holds token hashes, sealed keys and messages. SQLite gives the WAL and
/// shared-memory files it makes the mode of the database file; any left
/// from before are tightened too.
fn owner_only(database: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(database)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        let path = std::path::Path::new(&name);
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

async fn checkpoints(pool: SqlitePool, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(CHECKPOINT_EVERY) => {}
        }
        match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await
        {
            // Frames readers still use are copied by a later checkpoint.
            Ok((_, log, copied)) if log > copied => {
                tracing::debug!(log, copied, "WAL checkpoint left frames in use")
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error, "WAL checkpoint failed; retrying"),
        }
    }
    pool.close().await;
}

// The statements that differ from PostgreSQL's (`postgres.rs` has one of
// each name). The writer is alone, so nothing is locked or skipped (no
// `FOR UPDATE`, no `SKIP LOCKED`). A list of ids bound as one parameter
// ([`IdList`](super::params::IdList)) is read with
// `IN (SELECT value FROM json_each($n))`. New deliveries get a random
// (version 4) UUID from `lower(hex(randomblob(4)) || '-' || …)`.

// For webhooks.rs and verification.rs.

/// Gives up the queued and in-flight deliveries of webhook `$2`, with
/// reason `$1`.
pub(super) const GIVE_UP: &str = "UPDATE deliveries \
     SET status = 'given_up', lease_owner = NULL, last_error = $1 WHERE id IN \
     (SELECT id FROM deliveries WHERE webhook_id = $2 AND status IN ('pending', 'in_flight'))";

/// [`GIVE_UP`] for the deliveries of events only.
pub(super) const GIVE_UP_EVENTS: &str = "UPDATE deliveries \
     SET status = 'given_up', lease_owner = NULL, last_error = $1 WHERE id IN \
     (SELECT id FROM deliveries WHERE webhook_id = $2 AND status IN ('pending', 'in_flight') \
     AND kind = 'event')";

/// The delivery of a test or verification event to its one webhook;
/// returns its id.
pub(super) const INSERT_DIRECT_DELIVERY: &str = "INSERT INTO deliveries (uuid, account_id, \
     webhook_id, event_id, event, object_id, kind, status, attempts, next_attempt_at, created_at, \
     updated_at) \
     VALUES (lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || \
     substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || \
     substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))), $1, $2, $3, $7, $8, $4, \
     'pending', 0, $5, $6, $6) RETURNING id";

// For publish.rs and fan_out.rs.

/// The events of the JSON rows `$1` (see
/// [`json_row_chunks`](super::params::json_row_chunks)), of kind `$2`, made
/// at `$3` and published at `$4` (milliseconds); returns their ids.
pub(super) const INSERT_EVENTS: &str = include_str!("sql/insert_events.sqlite.sql");

/// The deliveries of the events of the list `$1`: one per enabled, verified
/// webhook of the event (only the named one for an automation rule). The
/// first, in event then webhook order, as many as the lease takes (`$4`),
/// are written leased to its worker (until `$5`, owner `$6`); the rest, and
/// those of webhooks the lease passes over (the list `$7`), wait for a
/// claim (due `$2`). Made at `$3`. Returns each with, when leased, what
/// handing it over takes.
pub(super) const INSERT_DELIVERIES: &str = include_str!("sql/insert_deliveries.sqlite.sql");

// For queue.rs.

/// Leases up to `$5` deliveries due at `$4` to `$2` until `$3`, none of
/// the webhooks in the list `$1`.
/// Returns their ids: an `UPDATE` cannot feed a join here, so the claimed
/// rows are read after ([`LOAD_CLAIMED`]).
pub(super) const CLAIM_DUE: &str = include_str!("sql/claim_due.sqlite.sql");

/// The deliveries of the list `$1` still leased to `$2`, with their events.
pub(super) const LOAD_CLAIMED: &str = "SELECT d.id, d.uuid, d.origin_uuid, d.lease_owner, \
     d.attempts, d.kind, d.webhook_id, e.id AS event_id, e.event, e.object_id, e.person_id, \
     e.person_name, e.payload, e.links, e.sealed_code, e.published_at_ms FROM deliveries d \
     JOIN events e ON e.id = d.event_id \
     WHERE d.lease_owner = $2 AND d.id IN (SELECT value FROM json_each($1))";

/// The webhooks of the list `$1`.
pub(super) const WEBHOOKS_BY_ID: &str = "SELECT id, account_id, name, event, uri, description, \
     disabled, mail_exceptions_to, source, source_id, webhook_policy_id, \
     (SELECT p.name FROM webhook_policies p WHERE p.id = webhooks.webhook_policy_id) \
     AS webhook_policy_name, attachments, last_error, verified, created_at, updated_at \
     FROM webhooks WHERE id IN (SELECT value FROM json_each($1))";

/// The signing keys of the policies of the list `$1`.
pub(super) const POLICY_KEYS_BY_ID: &str = "SELECT id, jwt_alg, jwt_audience, \
     jwt_claim_expires_in, signature_scheme, openid_connect_discovery, sealed_key \
     FROM webhook_policies WHERE id IN (SELECT value FROM json_each($1))";

/// The retired keys of the policies of the list `$1`, newest first.
pub(super) const RETIRED_KEYS_BY_POLICY: &str = "SELECT policy_id, sealed_key, retired_at, \
     expires_at FROM webhook_policy_retired_keys WHERE policy_id IN \
     (SELECT value FROM json_each($1)) ORDER BY id DESC";

/// Hands back the deliveries of the list `$1` leased to owners like `$3`,
/// due again at `$2`.
pub(super) const RELEASE_CLAIMS: &str = "UPDATE deliveries \
     SET status = 'pending', next_attempt_at = $2, lease_owner = NULL WHERE lease_owner LIKE $3 \
     AND id IN (SELECT value FROM json_each($1))";

/// Moves up to `$3` queued deliveries of webhook `$1` due before `$2` to
/// `$2`. Found through the due index: `+` keeps SQLite off the by-webhook
/// one, which would also read the webhook's finished deliveries, and
/// SQLite uses a partial index only for a query that repeats its
/// condition, hence `status IN` beside `status = 'pending'`.
pub(super) const DEFER_QUEUED: &str = "UPDATE deliveries SET next_attempt_at = $2 WHERE id IN \
     (SELECT id FROM deliveries WHERE status IN ('pending', 'in_flight') AND status = 'pending' \
     AND next_attempt_at < $2 AND +webhook_id = $1 LIMIT $3)";

// For attempts.rs.

/// Records the outcomes of the JSON rows `$2` at `$3`, each only while its
/// lease holds; returns the ids recorded. Rows joined by id to JSON rows
/// are found by key as it is: the list of their ids (`$1`, for
/// PostgreSQL's planner) is bound but not read.
pub(super) const RECORD_OUTCOMES: &str = include_str!("sql/record_outcomes.sqlite.sql");

/// Stores the attempts of the JSON rows `$1`, in order.
pub(super) const INSERT_ATTEMPTS: &str = include_str!("sql/insert_attempts.sqlite.sql");

/// Starts the failures of the webhooks of the list `$1` over.
pub(super) const RESET_FAILURES: &str = "UPDATE webhooks SET consecutive_failures = 0 \
     WHERE consecutive_failures <> 0 AND id IN (SELECT value FROM json_each($1))";

// For history.rs.

/// A new pending delivery (due `$1`, made `$2`) of the message of delivery
/// `$3`, its origin the first delivery of that message.
pub(super) const INSERT_REDELIVERY: &str = "INSERT INTO deliveries (uuid, origin_uuid, account_id, \
     webhook_id, event_id, event, object_id, kind, status, attempts, next_attempt_at, created_at, \
     updated_at) SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || \
     substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || \
     substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))), COALESCE(origin_uuid, uuid), \
     account_id, webhook_id, event_id, event, object_id, kind, 'pending', 0, $1, $2, $2 \
     FROM deliveries WHERE id = $3 RETURNING id";

// For mails.rs.

/// Leases up to `$3` mails due at `$2` until `$1`.
pub(super) const CLAIM_MAILS: &str = "WITH due AS MATERIALIZED \
     (SELECT id FROM mails WHERE status = 'pending' AND next_attempt_at <= $2 ORDER BY id \
     LIMIT $3) UPDATE mails SET next_attempt_at = $1 FROM due WHERE mails.id = due.id \
     RETURNING mails.id, mails.recipients, mails.subject, mails.body, mails.attempts";

#[cfg(test)]
mod tests {
    use super::*;

    async fn synchronous(tx: &mut Transaction<'static, Sqlite>) -> i64 {
        let (mode,): (i64,) = sqlx::query_as("PRAGMA synchronous")
            .fetch_one(&mut **tx)
            .await
            .unwrap();
        mode
    }

    /// Each write sets its own durability: FULL (2) for writes, NORMAL (1)
    /// for delivery bookkeeping, whatever ran before on the connection.
    #[tokio::test]
    async fn each_transaction_sets_its_durability() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("h.db").display());
        let store = SqliteDb::connect(&url).await.unwrap();
        let mut tx = store.begin_relaxed().await.unwrap();
        assert_eq!(synchronous(&mut tx).await, 1);
        tx.commit().await.unwrap();
        let mut tx = store.begin_write().await.unwrap();
        assert_eq!(synchronous(&mut tx).await, 2);
        tx.commit().await.unwrap();
        let tx = store.begin_relaxed().await.unwrap();
        tx.rollback().await.unwrap();
        let mut tx = store.begin_write().await.unwrap();
        assert_eq!(synchronous(&mut tx).await, 2);
    }

    /// The writer never checkpoints (`wal_autocheckpoint = 0`); the
    /// checkpointer copies committed pages into the database file anyway.
    #[tokio::test]
    async fn the_checkpointer_copies_the_wal_into_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let store = SqliteDb::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let (auto,): (i64,) = sqlx::query_as("PRAGMA wal_autocheckpoint")
            .fetch_one(&store.write)
            .await
            .unwrap();
        assert_eq!(auto, 0);
        let mut tx = store.begin_write().await.unwrap();
        sqlx::query("CREATE TABLE filler (x BLOB)")
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("INSERT INTO filler VALUES (zeroblob(2000000))")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::fs::metadata(&path).unwrap().len() < 2_000_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the WAL was not checkpointed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
