//! Publishing: the events of a group of requests stored with a delivery for
//! each webhook they match, in one commit; some handed straight to a worker.

use std::collections::HashMap;

use super::backend::{Backend, Conn, on_db};
use super::fan_out::{Stored, leased_deliveries, store_events};
use super::params::{MAX_ROWS_JSON, json_row_chunks};
use super::{PublishRequest, Store, StoreResult, queue};
use crate::domain::delivery::{Lease, PublishOutcome};
use crate::domain::event::Published;

/// Claims key `$2` of account `$1` at `$3` unless a live claim exists (one
/// made after `$4`); returns a row when claimed. The row lock makes a
/// concurrent claim of the key wait for this one.
const CLAIM_KEY: &str = "INSERT INTO idempotency_keys (account_id, key, event_id, created_at) \
     VALUES ($1, $2, NULL, $3) ON CONFLICT (account_id, key) DO UPDATE \
     SET event_id = NULL, created_at = excluded.created_at WHERE idempotency_keys.created_at <= $4 \
     RETURNING created_at";

/// The event that holds key `$2` of account `$1`.
const KEY_EVENT: &str = "SELECT event_id FROM idempotency_keys WHERE account_id = $1 AND key = $2";

/// Links key `$3` of account `$2` to the event stored for it, `$1`.
const SET_KEY_EVENT: &str =
    "UPDATE idempotency_keys SET event_id = $1 WHERE account_id = $2 AND key = $3";

/// An event as a JSON row of the statements that insert events: account,
/// event name, object, person id and name, payload text, links, webhook.
type EventRow<'r> = (
    &'r str,
    &'r str,
    i64,
    Option<i64>,
    Option<&'r str>,
    String,
    Option<String>,
    Option<i64>,
);

impl Store {
    /// Stores the events of every request and one delivery for each matching
    /// webhook, in one transaction (or one statement, which commits alone):
    /// when this returns, all of it is durable.
    /// One answer per request, in order.
    /// With `lease`, up to its limit of the new deliveries are stored
    /// already leased to it, so the worker offering it can send them
    /// without claiming them first.
    #[tracing::instrument(skip_all, fields(requests = requests.len()))]
    pub async fn publish(
        &self,
        requests: &[PublishRequest],
        idempotency_window_secs: i64,
        now: i64,
        now_ms: i64,
        lease: Option<&Lease>,
    ) -> StoreResult<PublishOutcome> {
        let (mut batch, keyed) = Batch::new(requests);
        // PostgreSQL writes events and their deliveries in one statement (a
        // data-modifying `WITH`) and runs it alone when nothing else is to
        // be written with it (no idempotency key, rows for one statement):
        // a statement is atomic, and its commit waits for the disk like any
        // other. One round trip and one plan, where a transaction took four.
        // Everything else is one transaction, and always on SQLite (no
        // data-modifying `WITH`: two statements).
        let one_statement = matches!(self.db, Backend::Postgres(_));
        let mut tx = None;
        if !one_statement || !keyed.is_empty() {
            tx = Some(self.db.begin_publish().await?);
        }
        if let Some(tx) = tx.as_mut() {
            let window_start = now - idempotency_window_secs;
            batch
                .claim_keys(&mut tx.conn(), keyed, now, window_start)
                .await?;
        }
        // Events are stored in the order they were published, one statement
        // per 16 MiB of rows.
        batch.fresh.sort_unstable();
        let rows = batch.event_rows();
        let chunks = json_row_chunks(&rows, MAX_ROWS_JSON)?;
        if tx.is_none() && chunks.len() > 1 {
            tx = Some(self.db.begin_publish().await?);
        }
        let in_transaction = tx.is_some();
        let mut alone = None;
        let mut conn = match tx.as_mut() {
            Some(tx) => tx.conn(),
            None => alone.insert(self.db.acquire_publishing().await?).conn(),
        };
        let stored = store_events(&mut conn, chunks, batch.fresh.len(), lease, now, now_ms).await?;
        batch.answer(&mut conn, &stored).await?;
        let queued = stored.queued();
        if queued > 0 {
            notify_queued(&mut conn, in_transaction).await?;
        }
        if let Some(tx) = tx {
            tx.commit().await?;
        }
        drop(alone);
        // Built once committed: the transaction is not held for it.
        let leased = if stored.leased.is_empty() {
            Vec::new()
        } else {
            let payloads = rows.into_iter().map(|row| row.5).collect();
            leased_deliveries(
                stored.leased,
                &stored.event_ids,
                &batch.fresh,
                requests,
                payloads,
                now_ms,
            )
        };
        Ok(PublishOutcome {
            answers: batch.into_answers(),
            leased,
            queued,
        })
    }
}

/// Tells other processes of the deliveries a publish queued. When that
/// fails, a publish in a transaction fails with it; a statement alone has
/// committed the events already: the publish stands, and other processes
/// find the work at their next poll (at most a second).
async fn notify_queued(conn: &mut Conn<'_>, in_transaction: bool) -> StoreResult<()> {
    match queue::notify_work(conn).await {
        Err(error) if !in_transaction => {
            tracing::warn!(%error, "could not tell other processes of queued deliveries");
            Ok(())
        }
        done => done,
    }
}

/// An event with an idempotency key: account, key, and the event's place
/// in the requests (request, event).
type Keyed<'r> = (&'r str, &'r str, usize, usize);

/// A publish's events by their place in its requests, `(request, event)`,
/// and each one's answer as it becomes known.
struct Batch<'r> {
    requests: &'r [PublishRequest],
    answers: Vec<Vec<Option<Published>>>,
    /// The events to store.
    fresh: Vec<(usize, usize)>,
    /// Repeats of a key claimed in this very publish, each with the event
    /// that claimed it: they answer with the event stored for that one.
    repeats: Vec<((usize, usize), (usize, usize))>,
}

impl<'r> Batch<'r> {
    /// The batch, with the events that carry an idempotency key set apart
    /// (they are stored only if their key is claimed).
    fn new(requests: &'r [PublishRequest]) -> (Batch<'r>, Vec<Keyed<'r>>) {
        let answers = requests
            .iter()
            .map(|r| vec![None; r.events.len()])
            .collect();
        let mut fresh = Vec::new();
        let mut keyed = Vec::new();
        for (r, request) in requests.iter().enumerate() {
            for (e, event) in request.events.iter().enumerate() {
                match event.idempotency_key.as_deref() {
                    Some(key) => keyed.push((request.account.as_str(), key, r, e)),
                    None => fresh.push((r, e)),
                }
            }
        }
        let batch = Batch {
            requests,
            answers,
            fresh,
            repeats: Vec::new(),
        };
        (batch, keyed)
    }

    /// Claims the keys of `keyed`: an event whose key has a live claim
    /// (made after `window_start`) is answered as a duplicate of the event
    /// that holds it; the rest are to be stored, a repeat of a key claimed
    /// here answering with the first. Keys are claimed in one order (and a
    /// repeated key first where it comes first), so publishes committing
    /// side by side cannot wait for each other's keys in a cycle.
    async fn claim_keys(
        &mut self,
        conn: &mut Conn<'_>,
        mut keyed: Vec<Keyed<'r>>,
        now: i64,
        window_start: i64,
    ) -> StoreResult<()> {
        keyed.sort_unstable();
        let mut claimed_here: HashMap<(&str, &str), (usize, usize)> = HashMap::new();
        for (account, key, r, e) in keyed {
            if let Some(first) = claimed_here.get(&(account, key)) {
                self.repeats.push(((r, e), *first));
                continue;
            }
            let claimed: Option<(i64,)> = on_db!(conn, |conn| {
                sqlx::query_as(CLAIM_KEY)
                    .bind(account)
                    .bind(key)
                    .bind(now)
                    .bind(window_start)
                    .fetch_optional(&mut **conn)
                    .await
            })?;
            if claimed.is_some() {
                claimed_here.insert((account, key), (r, e));
                self.fresh.push((r, e));
                continue;
            }
            let (original,): (Option<i64>,) = on_db!(conn, |conn| {
                sqlx::query_as(KEY_EVENT)
                    .bind(account)
                    .bind(key)
                    .fetch_one(&mut **conn)
                    .await
            })?;
            self.answers[r][e] = Some(Published {
                id: original.unwrap_or(0),
                deliveries: 0,
                duplicate: true,
            });
        }
        Ok(())
    }

    /// The events to store, as JSON rows.
    fn event_rows(&self) -> Vec<EventRow<'r>> {
        self.fresh
            .iter()
            .map(|&(r, e)| {
                let event = &self.requests[r].events[e];
                let links = (!event.links.is_empty()).then(|| event.links.to_json().to_string());
                (
                    self.requests[r].account.as_str(),
                    event.event.as_str(),
                    event.object_id,
                    event.person_id,
                    event.person_name.as_deref(),
                    event.payload.to_string(),
                    links,
                    event.webhook_id,
                )
            })
            .collect()
    }

    /// Links each stored event's idempotency key to it, and answers every
    /// stored event and every repeat.
    async fn answer(&mut self, conn: &mut Conn<'_>, stored: &Stored) -> StoreResult<()> {
        for (&(r, e), &id) in self.fresh.iter().zip(&stored.event_ids) {
            let account = self.requests[r].account.as_str();
            if let Some(key) = &self.requests[r].events[e].idempotency_key {
                on_db!(conn, |conn| {
                    sqlx::query(SET_KEY_EVENT)
                        .bind(id)
                        .bind(account)
                        .bind(key)
                        .execute(&mut **conn)
                        .await
                        .map(|done| done.rows_affected())
                })?;
            }
            let deliveries = stored.deliveries.get(&id).copied().unwrap_or(0);
            self.answers[r][e] = Some(Published {
                id,
                deliveries,
                duplicate: false,
            });
        }
        for &(at, (r, e)) in &self.repeats {
            let id = self.answers[r][e].as_ref().map_or(0, |p| p.id);
            self.answers[at.0][at.1] = Some(Published {
                id,
                deliveries: 0,
                duplicate: true,
            });
        }
        Ok(())
    }

    fn into_answers(self) -> Vec<Vec<Published>> {
        self.answers
            .into_iter()
            .map(|events| events.into_iter().map(Option::unwrap_or_default).collect())
            .collect()
    }
}
