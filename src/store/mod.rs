//! Persistence: the `Store` trait and its SQLite and PostgreSQL implementations.
//! The only module that holds SQL.

use std::sync::Arc;

use async_trait::async_trait;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::domain::delivery::{Lease, LeasedDelivery, PublishOutcome};
use crate::domain::event::NewEvent;
use crate::domain::{AccountId, Role};

mod accounts;
mod attempts;
mod backend;
pub mod group_commit;
mod history;
mod list_sql;
mod mails;
mod params;
mod policies;
mod postgres;
mod publish;
mod queue;
mod retention;
mod rows;
mod sqlite;
mod webhooks;

use backend::{Backend, Db, on_db};
use params::{MAX_ROWS_JSON, json_row_chunks};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a record with the same {0} exists already")]
    Conflict(&'static str),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("unsupported database URL {0:?}: use sqlite://path, sqlite::memory: or postgres://...")]
    UnsupportedUrl(String),
    #[error("the store is shutting down")]
    Closed,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Events one request publishes for one account.
#[derive(Clone, Debug)]
pub struct PublishRequest {
    pub account: AccountId,
    pub events: Vec<NewEvent>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyDeletion {
    Deleted,
    NotFound,
    /// The ids of the webhooks that still use it.
    InUse(Vec<i64>),
}

/// A person to find or create for a new token.
#[derive(Clone, Debug)]
pub struct PersonSpec {
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: Role,
}

/// The methods of `impl_store!`, on each backend, until they are written
/// once on [`Store`].
#[async_trait]
pub(crate) trait StoreMethods: Send + Sync + 'static {
    /// Answers when the database does.
    async fn ping(&self) -> StoreResult<()>;

    async fn migrate(&self) -> StoreResult<()>;

    /// How many publish transactions are worth running at once: one on
    /// SQLite (one writer), several on PostgreSQL, whose commits overlap.
    fn publish_concurrency(&self) -> usize;

    /// How long attempt outcomes may gather before they are recorded. On
    /// SQLite (one writer) fewer, larger transactions leave the writer free
    /// more often for publishes; PostgreSQL records them as they come.
    fn record_gather(&self) -> std::time::Duration;

    /// Stores the events of every request and one delivery for each matching
    /// webhook, in one transaction (or one statement, which commits alone):
    /// when this returns, all of it is durable.
    /// One answer per request, in order.
    /// With `lease`, up to its limit of the new deliveries are stored
    /// already leased to it, so the worker offering it can send them
    /// without claiming them first.
    async fn publish(
        &self,
        requests: &[PublishRequest],
        idempotency_window_secs: i64,
        now: i64,
        now_ms: i64,
        lease: Option<&Lease>,
    ) -> StoreResult<PublishOutcome>;

    /// Wakes `wake` when another process queues work (PostgreSQL
    /// LISTEN/NOTIFY), until `shutdown`. A no-op where there is no such channel.
    fn watch_for_work(&self, wake: Arc<Notify>, shutdown: CancellationToken);
}

/// Herald's database, SQLite or PostgreSQL: the only way to it.
pub struct Store {
    db: Db,
}

/// Opens the database a URL names and applies pending migrations.
pub async fn connect(url: &str) -> StoreResult<Arc<Store>> {
    let db = if url.starts_with("sqlite:") {
        Backend::Sqlite(sqlite::SqliteDb::connect(url).await?)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Backend::Postgres(postgres::PgDb::connect(url).await?)
    } else {
        return Err(StoreError::UnsupportedUrl(url.to_string()));
    };
    let store = Store { db };
    store.migrate().await?;
    Ok(Arc::new(store))
}

impl Store {
    /// Answers when the database does.
    pub async fn ping(&self) -> StoreResult<()> {
        on_db!(&self.db, |db| db.ping().await)
    }

    pub async fn migrate(&self) -> StoreResult<()> {
        on_db!(&self.db, |db| db.migrate().await)
    }

    /// How many publish transactions are worth running at once: one on
    /// SQLite (one writer), several on PostgreSQL, whose commits overlap.
    pub fn publish_concurrency(&self) -> usize {
        on_db!(&self.db, |db| db.publish_concurrency())
    }

    /// How long attempt outcomes may gather before they are recorded. On
    /// SQLite (one writer) fewer, larger transactions leave the writer free
    /// more often for publishes; PostgreSQL records them as they come.
    pub fn record_gather(&self) -> std::time::Duration {
        on_db!(&self.db, |db| db.record_gather())
    }

    /// Wakes `wake` when another process queues work (PostgreSQL
    /// LISTEN/NOTIFY), until `shutdown`. A no-op where there is no such channel.
    pub fn watch_for_work(&self, wake: Arc<Notify>, shutdown: CancellationToken) {
        on_db!(&self.db, |db| db.watch_for_work(wake, shutdown))
    }
}

/// A delivery a publish stored leased, as its insert returned it.
struct LeasedRow {
    id: i64,
    event_id: i64,
    uuid: String,
    webhook_id: i64,
    /// Its event's account and object, to check it is matched to the
    /// event it was made for.
    account_id: String,
    object_id: i64,
}

/// The deliveries a publish leased, each with its event as the publish
/// stored it (built once per event): `event_ids[k]` the id stored for the
/// event of `requests` at `fresh[k]`, whose payload text was `payloads[k]`.
/// A delivery whose event cannot be built, or whose account or object is
/// not its event's (never: ids are drawn in row order), is left out and
/// logged; its lease runs out and a claim sends it.
fn leased_deliveries(
    leased: Vec<LeasedRow>,
    event_ids: &[i64],
    fresh: &[(usize, usize)],
    requests: &[PublishRequest],
    mut payloads: Vec<String>,
) -> Vec<LeasedDelivery> {
    use std::collections::hash_map::Entry;
    let at: std::collections::HashMap<i64, usize> = event_ids
        .iter()
        .enumerate()
        .map(|(k, &id)| (id, k))
        .collect();
    // The event of `row`, if the publish stored it for the row's account
    // and object.
    let mut build = |row: &LeasedRow| -> StoreResult<crate::domain::event::StoredEvent> {
        let mismatch = || {
            StoreError::Corrupt(format!(
                "delivery {} is not of an event this publish stored for it",
                row.id
            ))
        };
        let k = *at.get(&row.event_id).ok_or_else(mismatch)?;
        let &(r, e) = fresh.get(k).ok_or_else(mismatch)?;
        let event = &requests[r].events[e];
        if requests[r].account.as_str() != row.account_id || event.object_id != row.object_id {
            return Err(mismatch());
        }
        let payload = payloads.get_mut(k).map(std::mem::take).unwrap_or_default();
        rows::stored_event(row.event_id, event, payload)
    };
    let mut events: std::collections::HashMap<i64, Arc<crate::domain::event::StoredEvent>> =
        std::collections::HashMap::new();
    let mut handed = Vec::with_capacity(leased.len());
    for row in leased {
        let event = match events.entry(row.event_id) {
            Entry::Occupied(stored) => stored.get().clone(),
            Entry::Vacant(slot) => match build(&row) {
                Ok(event) => slot.insert(Arc::new(event)).clone(),
                Err(error) => {
                    tracing::error!(%error, delivery = row.id, "a delivery handed over without its event; its lease will run out");
                    continue;
                }
            },
        };
        handed.push(LeasedDelivery {
            id: row.id,
            uuid: row.uuid,
            webhook_id: row.webhook_id,
            event,
        });
    }
    handed
}

/// The methods whose SQL is the same on both backends (`$n` placeholders
/// work on SQLite too). Each backend passes the methods that differ.
/// Expects `self.read` and `self.write` pools, and `self.publishing()` and
/// `self.begin_publish()` for publishing's statements.
macro_rules! impl_store {
    ($store:ty, { $($specific:tt)* }) => {
        impl $store {

            /// Tells other processes that work was queued (delivered on
            /// commit, or at once outside a transaction).
            async fn notify_work(conn: &mut <Db as sqlx::Database>::Connection) -> StoreResult<()> {
                if !<$store>::NOTIFY_SQL.is_empty() {
                    sqlx::query(<$store>::NOTIFY_SQL).execute(conn).await?;
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::StoreMethods for $store {
            #[tracing::instrument(skip(self))]
            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.read).await?;
                Ok(())
            }













            #[tracing::instrument(skip_all, fields(requests = requests.len()))]
            async fn publish(
                &self,
                requests: &[PublishRequest],
                idempotency_window_secs: i64,
                now: i64,
                now_ms: i64,
                lease: Option<&Lease>,
            ) -> StoreResult<PublishOutcome> {
                let mut answers: Vec<Vec<Option<Published>>> =
                    requests.iter().map(|r| vec![None; r.events.len()]).collect();
                // The events to store, as (request, event) positions, in order.
                let mut fresh: Vec<(usize, usize)> = Vec::new();
                // Repeats of a key claimed in this very transaction: they
                // answer with the event stored for the first.
                let mut claimed_here: std::collections::HashMap<(&str, &str), (usize, usize)> =
                    std::collections::HashMap::new();
                let mut repeats: Vec<((usize, usize), (usize, usize))> = Vec::new();
                let mut keyed: Vec<(&str, &str, usize, usize)> = Vec::new();
                for (r, request) in requests.iter().enumerate() {
                    for (e, event) in request.events.iter().enumerate() {
                        match event.idempotency_key.as_deref() {
                            Some(key) => keyed.push((request.account.as_str(), key, r, e)),
                            None => fresh.push((r, e)),
                        }
                    }
                }
                // A store that writes events and their deliveries in one
                // statement runs it alone when nothing else is to be written
                // with it (no idempotency key, rows for one statement): a
                // statement is atomic, and its commit waits for the disk like
                // any other. Everything else is one transaction.
                let mut tx = None;
                if !<$store>::PUBLISH_IN_ONE_STATEMENT || !keyed.is_empty() {
                    tx = Some(self.begin_publish().await?);
                }
                // Keys are claimed in one order (and a repeated key first
                // where it comes first), so publishes committing side by
                // side cannot wait for each other's keys in a cycle.
                keyed.sort_unstable();
                for (account, key, r, e) in keyed {
                    // Keyed events began the transaction above.
                    let Some(tx) = tx.as_mut() else { break };
                    if let Some(first) = claimed_here.get(&(account, key)) {
                        repeats.push(((r, e), *first));
                        continue;
                    }
                    // Claims the key unless a live claim exists; the row
                    // lock makes a concurrent claim wait for this one.
                    let claimed: Option<(i64,)> = sqlx::query_as(
                        "INSERT INTO idempotency_keys (account_id, key, event_id, created_at) \
                         VALUES ($1, $2, NULL, $3) ON CONFLICT (account_id, key) DO UPDATE \
                         SET event_id = NULL, created_at = excluded.created_at \
                         WHERE idempotency_keys.created_at <= $4 RETURNING created_at",
                    )
                    .bind(account)
                    .bind(key)
                    .bind(now)
                    .bind(now - idempotency_window_secs)
                    .fetch_optional(&mut **tx)
                    .await?;
                    if claimed.is_some() {
                        claimed_here.insert((account, key), (r, e));
                        fresh.push((r, e));
                        continue;
                    }
                    let (original,): (Option<i64>,) = sqlx::query_as(
                        "SELECT event_id FROM idempotency_keys WHERE account_id = $1 AND key = $2",
                    )
                    .bind(account)
                    .bind(key)
                    .fetch_one(&mut **tx)
                    .await?;
                    answers[r][e] = Some(Published { id: original.unwrap_or(0), deliveries: 0, duplicate: true });
                }
                // Events are stored in the order they were published.
                fresh.sort_unstable();
                // The events, one statement per 16 MiB of rows. Ids are
                // drawn in row order, so the returned ids sorted match the
                // rows.
                let rows: Vec<_> = fresh
                    .iter()
                    .map(|&(r, e)| {
                        let event = &requests[r].events[e];
                        let links = (!event.links.is_empty()).then(|| event.links.to_json().to_string());
                        (
                            requests[r].account.as_str(),
                            event.event.as_str(),
                            event.object_id,
                            event.person_id,
                            event.person_name.as_deref(),
                            event.payload.to_string(),
                            links,
                            event.webhook_id,
                        )
                    })
                    .collect();
                let chunks = super::json_row_chunks(&rows, super::MAX_ROWS_JSON)?;
                if tx.is_none() && chunks.len() > 1 {
                    tx = Some(self.begin_publish().await?);
                }
                let mut alone = None;
                let conn: &mut <Db as sqlx::Database>::Connection = match tx.as_mut() {
                    Some(tx) => &mut **tx,
                    None => &mut **alone.insert(self.publishing().acquire().await?),
                };
                // The events from JSON rows in `$1` (kind bound as `$kind`, time `$3`).
                macro_rules! insert_events {
                    ($kind:literal) => {
                        const_format::concatcp!(
                            "INSERT INTO events (account_id, kind, event, object_id, person_id, person_name, \
                             payload, links, webhook_id, created_at) \
                             SELECT j.value->>0, ", $kind, ", j.value->>1, CAST(j.value->>2 AS BIGINT), \
                             CAST(j.value->>3 AS BIGINT), j.value->>4, j.value->>5, j.value->>6, \
                             CAST(j.value->>7 AS BIGINT), $3 \
                             FROM ", <$store>::ROWS_IN, "$1", <$store>::ROWS_AS, " ORDER BY j.key RETURNING id"
                        )
                    };
                }
                // Their deliveries: one per enabled, verified webhook of the
                // event (only the named one for an automation rule), from the
                // events `e` of `$from` (`$filter` picks them). The first,
                // in event then webhook order, as many as the lease takes
                // (`$4`), are written leased to its worker (until `$5`, owner
                // `$6`), which sends them after the commit; the rest, and
                // those of webhooks the lease passes over (`$7`), wait for a
                // claim (due `$2`).
                macro_rules! insert_deliveries {
                    ($from:literal, $filter:expr) => {
                        const_format::concatcp!(
                            "INSERT INTO deliveries (uuid, account_id, webhook_id, event_id, event, object_id, kind, \
                             status, attempts, next_attempt_at, lease_owner, created_at, updated_at) \
                             SELECT ", <$store>::UUID_SQL, ", s.account_id, s.webhook_id, s.event_id, s.event, s.object_id, \
                             'event', CASE WHEN s.n <= $4 THEN 'in_flight' ELSE 'pending' END, 0, \
                             CASE WHEN s.n <= $4 THEN $5 ELSE $2 END, CASE WHEN s.n <= $4 THEN $6 END, $3, $3 \
                             FROM (SELECT w.account_id, w.id AS webhook_id, e.id AS event_id, e.event, e.object_id, \
                             CASE WHEN w.id", <$store>::IN_PASSED_OVER, " THEN NULL ELSE ROW_NUMBER() OVER \
                             (PARTITION BY w.id", <$store>::IN_PASSED_OVER, " ORDER BY e.id, w.id) END AS n \
                             FROM ", $from, <$store>::EVENT_WEBHOOKS_FROM, "w.account_id = e.account_id \
                             AND w.event = e.event AND w.disabled = FALSE AND w.verified = TRUE \
                             AND (e.webhook_id IS NULL OR w.id = e.webhook_id)", <$store>::EVENT_WEBHOOKS_END,
                             $filter, ") s \
                             RETURNING id, event_id, lease_owner IS NOT NULL AS leased, \
                             CASE WHEN lease_owner IS NOT NULL THEN uuid END AS uuid, webhook_id, \
                             CASE WHEN lease_owner IS NOT NULL THEN account_id END AS account_id, \
                             CASE WHEN lease_owner IS NOT NULL THEN object_id END AS object_id"
                        )
                    };
                }
                let mut deliveries: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
                let mut leased = Vec::new();
                let mut event_ids: Vec<i64> = Vec::with_capacity(fresh.len());
                let (mut room, owner, until_ms, pass_over) = match lease {
                    Some(lease) => (lease.limit, Some(lease.owner.as_str()), lease.until_ms, lease.pass_over.as_slice()),
                    None => (0, None, 0, &[][..]),
                };
                // Binds `$2`…`$7` of `insert_deliveries!` to a query with `$1`.
                macro_rules! bind_deliveries {
                    ($query:expr) => {
                        $query
                            .bind(now_ms)
                            .bind(now)
                            .bind(i64::try_from(room).unwrap_or(i64::MAX))
                            .bind(until_ms)
                            .bind(owner)
                            .bind(<$store>::id_list(pass_over))
                    };
                }
                if <$store>::PUBLISH_IN_ONE_STATEMENT {
                    // Each event with its deliveries, if any (`new_events`
                    // returns what the deliveries need of the events).
                    const BOTH: &str = const_format::concatcp!(
                        "WITH new_events AS (", insert_events!("$8"),
                        ", account_id, event, object_id, webhook_id), new_deliveries AS (",
                        insert_deliveries!("new_events e", ""),
                        ") SELECT e.id, d.id, d.leased, d.uuid, d.webhook_id, d.account_id, d.object_id FROM new_events e \
                         LEFT JOIN new_deliveries d ON d.event_id = e.id"
                    );
                    for (_, json) in chunks {
                        #[allow(clippy::type_complexity)]
                        let made: Vec<(i64, Option<i64>, Option<bool>, Option<String>, Option<i64>, Option<String>, Option<i64>)> =
                            bind_deliveries!(sqlx::query_as(BOTH).bind(json))
                            .bind(EventKind::Event.as_str())
                            .fetch_all(&mut *conn)
                            .await?;
                        let mut ids = Vec::with_capacity(made.len());
                        for (event_id, delivery, is_leased, uuid, webhook_id, account_id, object_id) in made {
                            ids.push(event_id);
                            if let Some(id) = delivery {
                                *deliveries.entry(event_id).or_default() += 1;
                                if let (Some(true), Some(uuid), Some(webhook_id), Some(account_id), Some(object_id)) =
                                    (is_leased, uuid, webhook_id, account_id, object_id)
                                {
                                    leased.push(super::LeasedRow { id, event_id, uuid, webhook_id, account_id, object_id });
                                }
                            }
                        }
                        ids.sort_unstable();
                        ids.dedup();
                        event_ids.extend(ids);
                        room = lease.map_or(0, |l| l.limit.saturating_sub(leased.len()));
                    }
                } else {
                    for (_, json) in chunks {
                        let mut ids: Vec<(i64,)> = sqlx::query_as(insert_events!("$2"))
                            .bind(json)
                            .bind(EventKind::Event.as_str())
                            .bind(now)
                            .fetch_all(&mut *conn)
                            .await?;
                        ids.sort_unstable();
                        event_ids.extend(ids.into_iter().map(|(id,)| id));
                    }
                    const FAN_OUT: &str =
                        insert_deliveries!("events e", const_format::concatcp!(" WHERE e.id", <$store>::IN_ID_LIST));
                    for chunk in event_ids.chunks(1000) {
                        #[allow(clippy::type_complexity)]
                        let made: Vec<(i64, i64, bool, Option<String>, i64, Option<String>, Option<i64>)> =
                            bind_deliveries!(sqlx::query_as(FAN_OUT).bind(<$store>::id_list(chunk)))
                            .fetch_all(&mut *conn)
                            .await?;
                        for (id, event_id, is_leased, uuid, webhook_id, account_id, object_id) in made {
                            *deliveries.entry(event_id).or_default() += 1;
                            if let (true, Some(uuid), Some(account_id), Some(object_id)) = (is_leased, uuid, account_id, object_id) {
                                leased.push(super::LeasedRow { id, event_id, uuid, webhook_id, account_id, object_id });
                            }
                        }
                        room = lease.map_or(0, |l| l.limit.saturating_sub(leased.len()));
                    }
                }
                if event_ids.len() != fresh.len() {
                    // Never seen: each event row returns its id. In a
                    // transaction nothing of this publish stands; a
                    // statement alone has committed, and its caller is
                    // told it failed.
                    return Err(super::StoreError::Corrupt(format!(
                        "{} events stored for {} published", event_ids.len(), fresh.len()
                    )));
                }
                leased.sort_unstable_by_key(|l| l.id);
                let queued = deliveries.values().sum::<i64>() as usize - leased.len();
                for (&(r, e), &id) in fresh.iter().zip(&event_ids) {
                    let event = &requests[r].events[e];
                    if let Some(key) = &event.idempotency_key {
                        sqlx::query("UPDATE idempotency_keys SET event_id = $1 WHERE account_id = $2 AND key = $3")
                            .bind(id)
                            .bind(requests[r].account.as_str())
                            .bind(key)
                            .execute(&mut *conn)
                            .await?;
                    }
                    let count = deliveries.get(&id).copied().unwrap_or(0);
                    answers[r][e] = Some(Published { id, deliveries: count, duplicate: false });
                }
                for (at, (r, e)) in repeats {
                    let id = answers[r][e].as_ref().map_or(0, |p| p.id);
                    answers[at.0][at.1] = Some(Published { id, deliveries: 0, duplicate: true });
                }
                if queued > 0
                    && let Err(error) = Self::notify_work(conn).await
                {
                    // A statement alone has committed the events already:
                    // the publish stands, and other processes find the work
                    // at their next poll (at most a second).
                    if tx.is_some() {
                        return Err(error);
                    }
                    tracing::warn!(%error, "could not tell other processes of queued deliveries");
                }
                if let Some(tx) = tx {
                    tx.commit().await?;
                }
                drop(alone);
                let answers = answers
                    .into_iter()
                    .map(|events| events.into_iter().map(Option::unwrap_or_default).collect())
                    .collect();
                // Built once committed: the transaction is not held for it.
                let leased = if leased.is_empty() {
                    Vec::new()
                } else {
                    let payloads = rows.into_iter().map(|row| row.5).collect();
                    super::leased_deliveries(leased, &event_ids, &fresh, requests, payloads)
                };
                Ok(PublishOutcome { answers, leased, queued })
            }
























            $($specific)*
        }
    };
}
pub(crate) use impl_store;
