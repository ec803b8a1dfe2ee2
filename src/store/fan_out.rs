//! A publish's events written with their deliveries, one for each webhook
//! an event matches (the fan-out), and those leased handed over as stored.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnection;

use super::backend::{Backend, Conn};
use super::params::IdList;
use super::{PublishRequest, StoreError, StoreResult, postgres, rows, sqlite};
use crate::domain::delivery::{Lease, LeasedDelivery};
use crate::domain::event::{EventKind, StoredEvent};

/// Events whose deliveries one of SQLite's fan-out statements inserts.
const EVENTS_PER_FAN_OUT: usize = 1000;

/// What storing a publish's events wrote.
#[derive(Default)]
pub(super) struct Stored {
    /// The events' ids, in row order.
    pub(super) event_ids: Vec<i64>,
    /// Deliveries stored for each event, by its id.
    pub(super) deliveries: HashMap<i64, i64>,
    /// The deliveries stored leased, to hand to the lease's worker.
    pub(super) leased: Vec<LeasedRow>,
}

impl Stored {
    /// Counts a delivery of event `event_id`, keeping it when it was stored
    /// leased.
    fn add(&mut self, event_id: i64, leased: Option<LeasedRow>) {
        *self.deliveries.entry(event_id).or_default() += 1;
        self.leased.extend(leased);
    }

    /// How many deliveries were stored pending, for any worker to claim.
    pub(super) fn queued(&self) -> usize {
        self.deliveries.values().sum::<i64>() as usize - self.leased.len()
    }

    /// How many more new deliveries `lease` takes.
    fn room(&self, lease: Option<&Lease>) -> i64 {
        let room = lease.map_or(0, |l| l.limit.saturating_sub(self.leased.len()));
        i64::try_from(room).unwrap_or(i64::MAX)
    }
}

/// A delivery a publish stored leased, as its insert returned it.
pub(super) struct LeasedRow {
    id: i64,
    event_id: i64,
    uuid: String,
    webhook_id: i64,
    /// Its event's account and object, to check it is matched to the
    /// event it was made for.
    account_id: String,
    object_id: i64,
}

impl LeasedRow {
    /// Delivery `id` of event `event_id` as the insert returned it, if it
    /// was stored leased (the other columns are null otherwise).
    fn returned(
        id: i64,
        event_id: i64,
        leased: Option<bool>,
        uuid: Option<String>,
        webhook_id: Option<i64>,
        account_id: Option<String>,
        object_id: Option<i64>,
    ) -> Option<LeasedRow> {
        match (leased, uuid, webhook_id, account_id, object_id) {
            (Some(true), Some(uuid), Some(webhook_id), Some(account_id), Some(object_id)) => {
                Some(LeasedRow {
                    id,
                    event_id,
                    uuid,
                    webhook_id,
                    account_id,
                    object_id,
                })
            }
            _ => None,
        }
    }
}

/// Stores the `events` events of `chunks` and their deliveries: one per
/// enabled, verified webhook of the event (only the named one for an
/// automation rule). The first, in event then webhook order, as many as
/// `lease` takes, are written leased to its worker, which sends them after
/// the commit; the rest, and those of webhooks the lease passes over, wait
/// for a claim.
pub(super) async fn store_events(
    conn: &mut Conn<'_>,
    chunks: Vec<(Range<usize>, String)>,
    events: usize,
    lease: Option<&Lease>,
    now: i64,
    now_ms: i64,
) -> StoreResult<Stored> {
    let mut stored = Stored::default();
    match conn {
        Backend::Sqlite(conn) => {
            insert_then_fan_out(conn, chunks, lease, now, now_ms, &mut stored).await?
        }
        Backend::Postgres(conn) => {
            insert_with_deliveries(conn, chunks, lease, now, now_ms, &mut stored).await?
        }
    }
    if stored.event_ids.len() != events {
        // Never seen: each event row returns its id. In a transaction
        // nothing of this publish stands; a statement alone has committed,
        // and its caller is told it failed.
        return Err(StoreError::Corrupt(format!(
            "{} events stored for {events} published",
            stored.event_ids.len()
        )));
    }
    stored.leased.sort_unstable_by_key(|l| l.id);
    Ok(stored)
}

/// The lease's owner, end and the webhooks it passes over, as bound.
fn lease_terms(lease: Option<&Lease>) -> (Option<&str>, i64, &[i64]) {
    match lease {
        Some(lease) => (Some(lease.owner.as_str()), lease.until_ms, &lease.pass_over),
        None => (None, 0, &[]),
    }
}

/// PostgreSQL: each chunk's events and their deliveries in one statement.
async fn insert_with_deliveries(
    conn: &mut PgConnection,
    chunks: Vec<(Range<usize>, String)>,
    lease: Option<&Lease>,
    now: i64,
    now_ms: i64,
    stored: &mut Stored,
) -> StoreResult<()> {
    let (owner, until_ms, pass_over) = lease_terms(lease);
    for (_, json) in chunks {
        // Each event, with each of its deliveries if any.
        #[allow(clippy::type_complexity)]
        let made: Vec<(
            i64,
            Option<i64>,
            Option<bool>,
            Option<String>,
            Option<i64>,
            Option<String>,
            Option<i64>,
        )> = sqlx::query_as(postgres::PUBLISH)
            .bind(json)
            .bind(now_ms)
            .bind(now)
            .bind(stored.room(lease))
            .bind(until_ms)
            .bind(owner)
            .bind(IdList(pass_over))
            .bind(EventKind::Event.as_str())
            .fetch_all(&mut *conn)
            .await?;
        // Ids are drawn in row order, so the returned ids sorted match the rows.
        let mut ids = Vec::with_capacity(made.len());
        for (event_id, delivery, leased, uuid, webhook_id, account_id, object_id) in made {
            ids.push(event_id);
            if let Some(id) = delivery {
                let leased = LeasedRow::returned(
                    id, event_id, leased, uuid, webhook_id, account_id, object_id,
                );
                stored.add(event_id, leased);
            }
        }
        ids.sort_unstable();
        ids.dedup();
        stored.event_ids.extend(ids);
    }
    Ok(())
}

/// SQLite: the events, a statement per chunk, then their deliveries, a
/// statement per [`EVENTS_PER_FAN_OUT`] events.
async fn insert_then_fan_out(
    conn: &mut SqliteConnection,
    chunks: Vec<(Range<usize>, String)>,
    lease: Option<&Lease>,
    now: i64,
    now_ms: i64,
    stored: &mut Stored,
) -> StoreResult<()> {
    for (_, json) in chunks {
        let mut ids: Vec<(i64,)> = sqlx::query_as(sqlite::INSERT_EVENTS)
            .bind(json)
            .bind(EventKind::Event.as_str())
            .bind(now)
            .bind(now_ms)
            .fetch_all(&mut *conn)
            .await?;
        // Ids are drawn in row order, so the returned ids sorted match the rows.
        ids.sort_unstable();
        stored.event_ids.extend(ids.into_iter().map(|(id,)| id));
    }
    let (owner, until_ms, pass_over) = lease_terms(lease);
    let event_ids = std::mem::take(&mut stored.event_ids);
    for events in event_ids.chunks(EVENTS_PER_FAN_OUT) {
        #[allow(clippy::type_complexity)]
        let made: Vec<(
            i64,
            i64,
            bool,
            Option<String>,
            i64,
            Option<String>,
            Option<i64>,
        )> = sqlx::query_as(sqlite::INSERT_DELIVERIES)
            .bind(IdList(events))
            .bind(now_ms)
            .bind(now)
            .bind(stored.room(lease))
            .bind(until_ms)
            .bind(owner)
            .bind(IdList(pass_over))
            .fetch_all(&mut *conn)
            .await?;
        for (id, event_id, leased, uuid, webhook_id, account_id, object_id) in made {
            let leased = LeasedRow::returned(
                id,
                event_id,
                Some(leased),
                uuid,
                Some(webhook_id),
                account_id,
                object_id,
            );
            stored.add(event_id, leased);
        }
    }
    stored.event_ids = event_ids;
    Ok(())
}

/// The deliveries a publish leased, each with its event as the publish
/// stored it (built once per event): `event_ids[k]` the id stored for the
/// event of `requests` at `fresh[k]`, whose payload text was `payloads[k]`.
/// A delivery whose event cannot be built, or whose account or object is
/// not its event's (never: ids are drawn in row order), is left out and
/// logged; its lease runs out and a claim sends it.
pub(super) fn leased_deliveries(
    leased: Vec<LeasedRow>,
    event_ids: &[i64],
    fresh: &[(usize, usize)],
    requests: &[PublishRequest],
    mut payloads: Vec<String>,
    published_at_ms: i64,
) -> Vec<LeasedDelivery> {
    use std::collections::hash_map::Entry;
    let at: HashMap<i64, usize> = event_ids
        .iter()
        .enumerate()
        .map(|(k, &id)| (id, k))
        .collect();
    // The event of `row`, if the publish stored it for the row's account
    // and object.
    let mut build = |row: &LeasedRow| -> StoreResult<StoredEvent> {
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
        rows::stored_event(row.event_id, event, payload, published_at_ms)
    };
    let mut events: HashMap<i64, Arc<StoredEvent>> = HashMap::new();
    let mut handed = Vec::with_capacity(leased.len());
    for row in leased {
        let event = match events.entry(row.event_id) {
            Entry::Occupied(stored) => stored.get().clone(),
            Entry::Vacant(slot) => match build(&row) {
                Ok(event) => slot.insert(Arc::new(event)).clone(),
                Err(error) => {
                    tracing::error!(
                        %error,
                        delivery = row.id,
                        "a delivery handed over without its event; its lease will run out"
                    );
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
