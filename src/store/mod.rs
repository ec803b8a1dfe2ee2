//! Persistence: the `Store` trait and its SQLite and PostgreSQL implementations.
//! The only module that holds SQL.

use std::sync::Arc;

use async_trait::async_trait;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::domain::delivery::{
    AttemptResult, Claimed, FailurePolicy, Lease, LeasedDelivery, PublishOutcome, WebhookEffects,
};
use crate::domain::event::NewEvent;
use crate::domain::{AccountId, Role, Webhook};

mod accounts;
mod backend;
pub mod group_commit;
mod history;
mod list_sql;
mod mails;
mod policies;
mod postgres;
mod publish;
mod queue;
mod retention;
mod rows;
mod sqlite;
mod webhooks;

use backend::{Backend, Db, on_db};

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

    /// Leases up to `limit` due deliveries to `lease_owner` until
    /// `lease_until_ms`, none of the webhooks in `skip_webhooks`.
    async fn claim_due(
        &self,
        lease_owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
        skip_webhooks: &[i64],
    ) -> StoreResult<Vec<Claimed>>;

    /// Those of `ids` still leased to `lease_owner`, with what sending them
    /// takes: event, webhook (`None` if deleted) and policy. Read outside
    /// any write transaction.
    async fn load_claimed(&self, lease_owner: &str, ids: &[i64]) -> StoreResult<Vec<Claimed>>;

    /// Deliveries a publish leased to `lease_owner` ([`PublishOutcome`]),
    /// with what sending them takes: their webhooks (`None` if deleted) and
    /// policies, each read once. Read outside any write transaction.
    async fn with_webhooks(
        &self,
        lease_owner: &str,
        leased: Vec<LeasedDelivery>,
    ) -> StoreResult<Vec<Claimed>>;

    /// Hands back leased deliveries that were not attempted: due again at
    /// `due_ms`, no attempt counted. Only leases of owners starting with
    /// `owner_prefix` are touched.
    async fn release_claims(
        &self,
        owner_prefix: &str,
        ids: &[i64],
        due_ms: i64,
    ) -> StoreResult<u64>;

    /// Records finished attempts (each only if its lease still holds) and
    /// their effect on webhooks, in one transaction.
    async fn finish_attempts(
        &self,
        results: &[AttemptResult],
        policy: FailurePolicy,
        now: i64,
        now_ms: i64,
    ) -> StoreResult<Vec<WebhookEffects>>;

    /// Makes deliveries leased by owners starting with `owner_prefix` due now.
    async fn release_leases(&self, owner_prefix: &str, now_ms: i64) -> StoreResult<u64>;

    /// Moves the queued (not leased) deliveries of `webhook_id` that fall
    /// due before `until_ms` to `until_ms`, 10,000 rows a transaction, but
    /// those another transaction holds; returns how many moved.
    async fn defer_queued(&self, webhook_id: i64, until_ms: i64) -> StoreResult<u64>;

    /// When the next pending delivery falls due.
    async fn next_due_at(&self) -> StoreResult<Option<i64>>;

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

const WEBHOOK_COLUMNS: &str = "id, account_id, name, event, uri, description, disabled, \
     mail_exceptions_to, source, source_id, webhook_policy_id, \
     (SELECT p.name FROM webhook_policies p WHERE p.id = webhooks.webhook_policy_id) AS webhook_policy_name, \
     attachments, last_error, verified, created_at, updated_at";

/// Most bytes of JSON rows one statement takes: well under PostgreSQL's
/// 255 MB limit on one `jsonb` value, however large the messages.
const MAX_ROWS_JSON: usize = 16 << 20;

/// Most queued deliveries [`Store::defer_queued`] moves in one transaction.
const DEFER_CHUNK: i64 = 10_000;

/// Rows as the one parameter of a backend's `ROWS_IN`…`ROWS_AS` row
/// source: JSON arrays of arrays, each with the range of `rows` it holds.
/// One statement text, and one round trip for any number of rows up to
/// `max_bytes` of JSON (multi-row `VALUES` need a text per length and hit
/// parameter limits); a row larger than that goes alone. Booleans go as 0
/// or 1, and JSON documents as strings, so they are stored as written.
pub(crate) fn json_row_chunks<T: serde::Serialize>(
    rows: &[T],
    max_bytes: usize,
) -> StoreResult<Vec<(std::ops::Range<usize>, String)>> {
    let mut chunks = Vec::new();
    let mut text = String::from("[");
    let mut start = 0;
    for (i, row) in rows.iter().enumerate() {
        let row = serde_json::to_string(row)
            .map_err(|e| StoreError::Database(sqlx::Error::Encode(e.into())))?;
        if i > start && text.len() + row.len() + 2 > max_bytes {
            text.push(']');
            chunks.push((start..i, std::mem::replace(&mut text, String::from("["))));
            start = i;
        }
        if i > start {
            text.push(',');
        }
        text.push_str(&row);
    }
    if start < rows.len() {
        text.push(']');
        chunks.push((start..rows.len(), text));
    }
    Ok(chunks)
}

/// Webhooks read by id for deliveries about to be sent, with their
/// policies.
struct WebhooksById {
    hooks: std::collections::HashMap<i64, Arc<Webhook>>,
    policies: std::collections::HashMap<i64, Arc<crate::domain::policy::PolicyKey>>,
}

impl WebhooksById {
    /// Webhook `id` (`None` once deleted) and its policy, if it has one.
    fn get(
        &self,
        id: i64,
    ) -> (
        Option<Arc<Webhook>>,
        Option<Arc<crate::domain::policy::PolicyKey>>,
    ) {
        let webhook = self.hooks.get(&id).cloned();
        let policy = webhook
            .as_ref()
            .and_then(|w| w.webhook_policy_id)
            .and_then(|policy| self.policies.get(&policy).cloned());
        (webhook, policy)
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

/// A leased delivery with its event, as [`rows::ClaimRow`] reads it: `d`
/// the delivery, `e` the event.
///
/// A delivery with a `lease_owner` is in flight: every write that sets the
/// owner sets `status = 'in_flight'`, and every write that moves it out of
/// flight clears the owner. So statements that find leased rows by key and
/// owner (loading, recording, handing back) do not test `status` as well:
/// on PostgreSQL that test let the planner read the whole partial index of
/// due deliveries (`status IN ('pending', 'in_flight')`) into a bitmap to
/// AND with the keys', a million entries and 24 ms for each recording of
/// 512 outcomes beside a backlog of 1,000,000 (or, with fresh statistics,
/// join the 512 outcomes to the rows by a nested loop: 61 ms). By key and
/// owner alone it took 5–7 ms either way.
const CLAIM_COLUMNS: &str = "d.id, d.uuid, d.origin_uuid, d.lease_owner, d.attempts, d.kind, \
    d.webhook_id, e.id AS event_id, e.event, e.object_id, e.person_id, e.person_name, e.payload, e.links";

/// The methods whose SQL is the same on both backends (`$n` placeholders
/// work on SQLite too). Each backend passes the methods that differ.
/// Expects `self.read` and `self.write` pools, and `self.publishing()` and
/// `self.begin_publish()` for publishing's statements.
macro_rules! impl_store {
    ($store:ty, { $($specific:tt)* }) => {
        impl $store {
            /// Leases up to `limit` rows due at `now_ms`, but the `skip`ped
            /// webhooks', read as `T` by `sql` (see `claim_due`).
            async fn lease_due<T>(
                tx: &mut sqlx::Transaction<'static, Db>,
                sql: &'static str,
                skip: &[i64],
                owner: &str,
                until_ms: i64,
                now_ms: i64,
                limit: i64,
            ) -> Result<Vec<T>, sqlx::Error>
            where
                T: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
            {
                sqlx::query_as(sql)
                    .bind(<$store>::id_list(skip))
                    .bind(owner)
                    .bind(until_ms)
                    .bind(now_ms)
                    .bind(limit)
                    .fetch_all(&mut **tx)
                    .await
            }

            /// The webhooks of `ids` and their policies, each read once.
            async fn webhooks_by_id(
                &self,
                mut ids: Vec<i64>,
            ) -> StoreResult<super::WebhooksById> {
                ids.sort_unstable();
                ids.dedup();
                let select = const_format::concatcp!(
                    "SELECT ", WEBHOOK_COLUMNS, " FROM webhooks WHERE id", <$store>::IN_ID_LIST
                );
                let found: Vec<rows::WebhookRow> =
                    sqlx::query_as(select).bind(<$store>::id_list(&ids)).fetch_all(&self.read).await?;
                let mut hooks = std::collections::HashMap::new();
                for row in found {
                    let hook = row.into_domain()?;
                    hooks.insert(hook.id, Arc::new(hook));
                }
                let mut policy_ids: Vec<i64> = hooks.values().filter_map(|h| h.webhook_policy_id).collect();
                policy_ids.sort_unstable();
                policy_ids.dedup();
                let mut policies = std::collections::HashMap::new();
                if !policy_ids.is_empty() {
                    let select = const_format::concatcp!(
                        "SELECT id, jwt_alg, jwt_audience, jwt_claim_expires_in, sealed_key \
                         FROM webhook_policies WHERE id", <$store>::IN_ID_LIST
                    );
                    let found: Vec<rows::PolicyKeyRow> =
                        sqlx::query_as(select).bind(<$store>::id_list(&policy_ids)).fetch_all(&self.read).await?;
                    for row in found {
                        let key = row.into_domain()?;
                        policies.insert(key.id, Arc::new(key));
                    }
                }
                Ok(super::WebhooksById { hooks, policies })
            }

            /// Leased deliveries with their events, given their webhooks and
            /// policies (each read once).
            async fn claimed_rows_with_webhooks(&self, claimed: Vec<rows::ClaimRow>) -> StoreResult<Vec<Claimed>> {
                let webhooks = self.webhooks_by_id(claimed.iter().map(|c| c.webhook_id).collect()).await?;
                let mut events = std::collections::HashMap::new();
                claimed
                    .into_iter()
                    .map(|row| {
                        let (webhook, policy) = webhooks.get(row.webhook_id);
                        row.into_domain(webhook, policy, &mut events)
                    })
                    .collect()
            }

            /// Gives up the webhook's queued and in-flight deliveries (with
            /// `events_only`, those of events: tests and verifications of a
            /// disabled webhook still go out). Rows another transaction
            /// holds are left to it, so this never waits for a recording or
            /// a claim in the other order (a deadlock on PostgreSQL, when a
            /// webhook was deleted while its outcomes were recorded): such a
            /// delivery is given up when next claimed, since its webhook is
            /// gone or disabled by then.
            async fn give_up(
                tx: &mut sqlx::Transaction<'static, Db>,
                webhook_id: i64,
                reason: &str,
                events_only: bool,
            ) -> StoreResult<()> {
                const GIVE_UP: &str = "UPDATE deliveries SET status = 'given_up', lease_owner = NULL, \
                     last_error = $1 WHERE id IN (SELECT id FROM deliveries WHERE webhook_id = $2 \
                     AND status IN ('pending', 'in_flight')";
                const ALL: &str = const_format::concatcp!(GIVE_UP, <$store>::SKIP_LOCKED, ")");
                const EVENTS: &str =
                    const_format::concatcp!(GIVE_UP, " AND kind = 'event'", <$store>::SKIP_LOCKED, ")");
                sqlx::query(if events_only { EVENTS } else { ALL })
                    .bind(reason)
                    .bind(webhook_id)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

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

            #[tracing::instrument(skip(self))]
            async fn claim_due(
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
                // still match when updated.
                const DUE: &str = const_format::concatcp!(
                    "WITH due AS MATERIALIZED (SELECT id FROM deliveries WHERE status IN ('pending', 'in_flight') \
                     AND next_attempt_at <= $4 AND NOT (webhook_id", <$store>::IN_ID_LIST, ") \
                     ORDER BY next_attempt_at LIMIT $5", <$store>::SKIP_LOCKED, ")"
                );
                const LEASE: &str = "UPDATE deliveries SET status = 'in_flight', lease_owner = $2, \
                     next_attempt_at = $3 FROM due WHERE deliveries.id = due.id RETURNING deliveries.";
                const IDS: &str = const_format::concatcp!(DUE, " ", LEASE, "id");
                // Each leased row's event by key: the planner cannot tell how
                // many rows `leased` holds, and joined plainly it hashed all
                // the events (45 of 60 ms for 512 rows beside 60,000 events);
                // `OFFSET 0` keeps the lookup from being flattened into that.
                const WITH_EVENTS: &str = const_format::concatcp!(
                    DUE, ", leased AS (", LEASE, "id, deliveries.uuid, deliveries.origin_uuid, \
                     deliveries.lease_owner, deliveries.attempts, deliveries.kind, deliveries.webhook_id, \
                     deliveries.event_id) SELECT ", CLAIM_COLUMNS, " FROM leased d CROSS JOIN LATERAL \
                     (SELECT * FROM events WHERE events.id = d.event_id OFFSET 0) e"
                );
                let mut tx = self.begin_relaxed().await?;
                let (ids, loaded) = if <$store>::CLAIM_RETURNS_EVENTS {
                    let rows: Vec<rows::ClaimRow> =
                        Self::lease_due(&mut tx, WITH_EVENTS, skip_webhooks, lease_owner, lease_until_ms, now_ms, limit).await?;
                    tx.commit().await?;
                    let ids: Vec<i64> = rows.iter().map(rows::ClaimRow::id).collect();
                    (ids, self.claimed_rows_with_webhooks(rows).await)
                } else {
                    let leased: Vec<(i64,)> =
                        Self::lease_due(&mut tx, IDS, skip_webhooks, lease_owner, lease_until_ms, now_ms, limit).await?;
                    tx.commit().await?;
                    let ids: Vec<i64> = leased.into_iter().map(|(id,)| id).collect();
                    let loaded = self.load_claimed(lease_owner, &ids).await;
                    (ids, loaded)
                };
                match loaded {
                    Ok(claimed) => Ok(claimed),
                    Err(error) => {
                        // Not sent, so not kept: due again for any worker.
                        if let Err(release) = self.release_claims(lease_owner, &ids, now_ms).await {
                            tracing::warn!(error = %release, "could not hand back deliveries; their leases will run out");
                        }
                        Err(error)
                    }
                }
            }

            async fn load_claimed(&self, lease_owner: &str, ids: &[i64]) -> StoreResult<Vec<Claimed>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                // The leases keep these rows as they are: no transaction
                // (two round trips fewer on PostgreSQL).
                // By primary key: the leased rows, with their events (a
                // lease held means in flight: see `CLAIM_COLUMNS`).
                let select = const_format::concatcp!(
                    "SELECT ", CLAIM_COLUMNS, " FROM deliveries d JOIN events e ON e.id = d.event_id \
                     WHERE d.lease_owner = $2 AND d.id", <$store>::IN_ID_LIST
                );
                let claimed: Vec<rows::ClaimRow> = sqlx::query_as(select)
                    .bind(<$store>::id_list(ids))
                    .bind(lease_owner)
                    .fetch_all(&self.read)
                    .await?;
                self.claimed_rows_with_webhooks(claimed).await
            }

            async fn with_webhooks(
                &self,
                lease_owner: &str,
                leased: Vec<LeasedDelivery>,
            ) -> StoreResult<Vec<Claimed>> {
                if leased.is_empty() {
                    return Ok(Vec::new());
                }
                let webhooks = self.webhooks_by_id(leased.iter().map(|l| l.webhook_id).collect()).await?;
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

            #[tracing::instrument(skip(self, results), fields(count = results.len()))]
            async fn finish_attempts(
                &self,
                results: &[AttemptResult],
                policy: FailurePolicy,
                now: i64,
                now_ms: i64,
            ) -> StoreResult<Vec<WebhookEffects>> {
                let mut tx = self.begin_relaxed().await?;
                let mut effects = Vec::new();
                // Deliveries first, one statement per 16 MiB of rows; only
                // rows whose lease still holds come back.
                let rows: Vec<_> = results
                    .iter()
                    .map(|result| {
                        let status = if result.succeeded {
                            "succeeded"
                        } else if result.retry_at_ms.is_some() {
                            "pending"
                        } else {
                            "given_up"
                        };
                        (
                            result.delivery_id,
                            result.lease_owner.as_str(),
                            status,
                            i64::from(result.attempted),
                            result.retry_at_ms.unwrap_or(now_ms),
                            result.error.as_deref(),
                            result.message.as_deref(),
                        )
                    })
                    .collect();
                let update = const_format::concatcp!(
                    "WITH v AS (SELECT CAST(j.value->>0 AS BIGINT) AS id, j.value->>1 AS owner, j.value->>2 AS status, \
                     CAST(j.value->>3 AS BIGINT) AS attempted, CAST(j.value->>4 AS BIGINT) AS next_at, \
                     j.value->>5 AS error, j.value->>6 AS message FROM ", <$store>::ROWS_IN, "$2", <$store>::ROWS_AS, ") \
                     UPDATE deliveries SET status = v.status, attempts = deliveries.attempts + v.attempted, \
                     next_attempt_at = v.next_at, lease_owner = NULL, last_error = v.error, updated_at = $3, \
                     message = COALESCE(deliveries.message, v.message) FROM v \
                     WHERE deliveries.id = v.id AND deliveries.lease_owner = v.owner",
                    <$store>::ROWS_BY_KEY,
                    " RETURNING deliveries.id"
                );
                let mut recorded = std::collections::HashSet::new();
                for (range, json) in super::json_row_chunks(&rows, super::MAX_ROWS_JSON)? {
                    let ids: Vec<i64> = results[range].iter().map(|r| r.delivery_id).collect();
                    let ids: Vec<(i64,)> = sqlx::query_as(update)
                        .bind(<$store>::id_list(&ids))
                        .bind(json)
                        .bind(now)
                        .fetch_all(&mut *tx)
                        .await?;
                    recorded.extend(ids.into_iter().map(|(id,)| id));
                }
                let kept: Vec<&AttemptResult> = results.iter().filter(|r| recorded.contains(&r.delivery_id)).collect();
                let attempts: Vec<_> = kept
                    .iter()
                    .filter_map(|r| r.record.as_ref().map(|record| (*r, record)))
                    .map(|(result, record)| {
                        (
                            result.delivery_id,
                            record.started_at,
                            record.duration_ms,
                            record.response_status,
                            record.response_headers.as_ref().map(|h| h.to_string()),
                            record.response_body.as_deref(),
                            i64::from(record.response_truncated),
                            record.error.as_deref(),
                            record.remote_ip.as_deref(),
                            record.trigger.as_str(),
                        )
                    })
                    .collect();
                let insert = const_format::concatcp!(
                    "INSERT INTO delivery_attempts (delivery_id, started_at, duration_ms, response_status, \
                     response_headers, response_body, response_truncated, error, remote_ip, trigger) \
                     SELECT CAST(j.value->>0 AS BIGINT), CAST(j.value->>1 AS BIGINT), CAST(j.value->>2 AS BIGINT), \
                     CAST(j.value->>3 AS BIGINT), j.value->>4, j.value->>5, CAST(j.value->>6 AS BOOLEAN), \
                     j.value->>7, j.value->>8, j.value->>9 FROM ", <$store>::ROWS_IN, "$1", <$store>::ROWS_AS, " ORDER BY j.key"
                );
                for (_, json) in super::json_row_chunks(&attempts, super::MAX_ROWS_JSON)? {
                    sqlx::query(insert).bind(json).execute(&mut *tx).await?;
                }
                let counting: Vec<&&AttemptResult> =
                    kept.iter().filter(|r| r.attempted && r.kind != EventKind::Test).collect();
                let mut succeeded: Vec<i64> = counting.iter().filter(|r| r.succeeded).map(|r| r.webhook_id).collect();
                succeeded.sort_unstable();
                succeeded.dedup();
                if !succeeded.is_empty() {
                    let reset = const_format::concatcp!(
                        "UPDATE webhooks SET consecutive_failures = 0 WHERE consecutive_failures <> 0 AND id",
                        <$store>::IN_ID_LIST
                    );
                    sqlx::query(reset).bind(<$store>::id_list(&succeeded)).execute(&mut *tx).await?;
                }
                for result in counting.into_iter().filter(|r| !r.succeeded) {
                    let sql = const_format::concatcp!(
                        "SELECT ", WEBHOOK_COLUMNS, ", consecutive_failures, last_failure_mail_at \
                         FROM webhooks WHERE id = $1", <$store>::LOCK_FOR_UPDATE
                    );
                    let row: Option<rows::WebhookFailureRow> = sqlx::query_as(sql)
                        .bind(result.webhook_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(row) = row else { continue };
                    let (mut webhook, failures, last_mail) = row.into_parts()?;
                    let failures = failures + 1;
                    let threshold = policy.disable_after_failures;
                    let disabled_now = !webhook.disabled
                        && (result.gone || (threshold > 0 && failures >= threshold));
                    let failure_mail_due = last_mail.is_none_or(|t| now - t >= policy.mail_interval_secs);
                    sqlx::query(
                        "UPDATE webhooks SET consecutive_failures = $1, last_error = $2, \
                         disabled = (disabled OR $3), \
                         last_failure_mail_at = CASE WHEN $4 THEN $5 ELSE last_failure_mail_at END, \
                         updated_at = CASE WHEN $3 THEN $5 ELSE updated_at END WHERE id = $6",
                    )
                    .bind(failures)
                    .bind(&result.error)
                    .bind(disabled_now)
                    .bind(failure_mail_due)
                    .bind(now)
                    .bind(result.webhook_id)
                    .execute(&mut *tx)
                    .await?;
                    if disabled_now {
                        Self::give_up(&mut tx, result.webhook_id, "webhook disabled", true).await?;
                    }
                    webhook.last_error = result.error.clone();
                    if disabled_now {
                        webhook.disabled = true;
                        webhook.updated_at = now;
                    }
                    effects.push(WebhookEffects { webhook, disabled_now, failure_mail_due, failures });
                }
                tx.commit().await?;
                Ok(effects)
            }






            async fn release_claims(&self, owner_prefix: &str, ids: &[i64], due_ms: i64) -> StoreResult<u64> {
                let mut tx = self.begin_relaxed().await?;
                // By key and lease (a lease held means in flight: see
                // `CLAIM_COLUMNS`).
                let release = const_format::concatcp!(
                    "UPDATE deliveries SET status = 'pending', next_attempt_at = $2, lease_owner = NULL \
                     WHERE lease_owner LIKE $3 AND id", <$store>::IN_ID_LIST
                );
                let done = sqlx::query(release)
                    .bind(<$store>::id_list(ids))
                    .bind(due_ms)
                    .bind(format!("{owner_prefix}%"))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected())
            }

            async fn release_leases(&self, owner_prefix: &str, now_ms: i64) -> StoreResult<u64> {
                let mut tx = self.begin_relaxed().await?;
                let done = sqlx::query(
                    "UPDATE deliveries SET status = 'pending', next_attempt_at = $1, lease_owner = NULL \
                     WHERE status = 'in_flight' AND lease_owner LIKE $2",
                )
                .bind(now_ms)
                .bind(format!("{owner_prefix}%"))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected())
            }

            async fn defer_queued(&self, webhook_id: i64, until_ms: i64) -> StoreResult<u64> {
                // Found through the due index: `+` keeps SQLite off the
                // by-webhook one, which would also read the webhook's
                // finished deliveries, and SQLite uses a partial index only
                // for a query that repeats its condition, hence `status IN`
                // beside `status = 'pending'`. Moved a chunk a transaction,
                // so a large backlog does not hold the writer for long.
                // Rows another transaction holds (a claim, a hand-back) are
                // left to it: waiting for them could deadlock.
                const DEFER: &str = const_format::concatcp!(
                    "UPDATE deliveries SET next_attempt_at = $2 WHERE id IN \
                     (SELECT id FROM deliveries WHERE status IN ('pending', 'in_flight') \
                     AND status = 'pending' AND next_attempt_at < $2 AND +webhook_id = $1 LIMIT $3",
                    <$store>::SKIP_LOCKED, ")"
                );
                let mut moved = 0;
                loop {
                    let mut tx = self.begin_relaxed().await?;
                    let done = sqlx::query(DEFER)
                        .bind(webhook_id)
                        .bind(until_ms)
                        .bind(super::DEFER_CHUNK)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    moved += done.rows_affected();
                    if done.rows_affected() < super::DEFER_CHUNK.unsigned_abs() {
                        return Ok(moved);
                    }
                }
            }

            async fn next_due_at(&self) -> StoreResult<Option<i64>> {
                let (next,): (Option<i64>,) =
                    sqlx::query_as("SELECT MIN(next_attempt_at) FROM deliveries WHERE status IN ('pending', 'in_flight')")
                        .fetch_one(&self.read)
                        .await?;
                Ok(next)
            }











            $($specific)*
        }
    };
}
pub(crate) use impl_store;

#[cfg(test)]
mod tests {
    use super::json_row_chunks;

    #[test]
    fn json_rows_are_cut_by_size_in_order_and_a_large_row_goes_alone() {
        let rows: Vec<(i64, String)> = (0..10)
            .map(|i| (i, if i == 4 { "x".repeat(100) } else { "ab".into() }))
            .collect();
        let chunks = json_row_chunks(&rows, 40).unwrap();
        let mut seen = Vec::new();
        let mut next = 0;
        for (range, json) in &chunks {
            assert_eq!(range.start, next, "chunks follow each other");
            next = range.end;
            assert!(json.len() <= 40 || range.len() == 1, "{json}");
            let parsed: Vec<(i64, String)> = serde_json::from_str(json).unwrap();
            assert_eq!(parsed, rows[range.clone()]);
            seen.extend(parsed);
        }
        assert_eq!(seen, rows);
        assert!(
            chunks.iter().any(|(r, _)| *r == (4..5)),
            "the large row alone"
        );
        assert!(chunks.len() > 2);
        let all = json_row_chunks(&rows, usize::MAX).unwrap();
        assert_eq!(all.len(), 1);
        assert!(
            json_row_chunks::<(i64, String)>(&[], 40)
                .unwrap()
                .is_empty()
        );
    }
}
