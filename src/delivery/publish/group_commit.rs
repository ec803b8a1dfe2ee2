//! Group commit for publishing: requests that arrive together share one
//! commit (one transaction, or one statement), so many small publishes cost
//! one fsync instead of one each. Every request is still answered only
//! after its commit. Where the database overlaps commits (PostgreSQL),
//! several groups are in flight at once.
//! New deliveries go straight to this process's engine when it has room
//! ([`Handoff`]); the rest are queued and the engine woken.

use std::sync::Arc;

use futures_util::FutureExt;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};

use super::handoff::Handoff;
use crate::domain::AccountId;
use crate::domain::delivery::PublishOutcome;
use crate::domain::event::{IDEMPOTENCY_WINDOW_SECS, NewEvent, Published};
use crate::domain::time::{now_epoch, now_millis};
use crate::store::{PublishRequest, Store, StoreError, StoreResult};

/// Most requests committed together.
const MAX_GROUP: usize = 128;

/// Events a group needs to commit beside others (see [`commit_loop`]).
const SIDE_BY_SIDE_EVENTS: usize = 100;

/// Deliveries per event a group asks the handoff to make room for: more than
/// most events fan out to, so a small group leaves other slots free. A
/// large group may take every free slot; groups committing beside it then
/// queue their deliveries, as do any beyond the offer, to be claimed.
const OFFER_PER_EVENT: usize = 16;

struct Job {
    request: PublishRequest,
    reply: oneshot::Sender<StoreResult<Vec<Published>>>,
}

#[derive(Clone)]
pub struct Publisher {
    jobs: mpsc::Sender<Job>,
}

/// Where committed deliveries go: leased ones to the handoff, and a wake
/// for this process's engine when some were queued.
struct Outlets {
    /// Wakes this process's engine when deliveries are queued.
    wake: Arc<Notify>,
    /// This process's engine, when it delivers.
    handoff: Option<Arc<Handoff>>,
}

impl Publisher {
    /// Starts the committing task; it ends when every `Publisher` is dropped.
    pub fn start(store: Arc<Store>, wake: Arc<Notify>, handoff: Option<Arc<Handoff>>) -> Publisher {
        let (jobs, queue) = mpsc::channel(MAX_GROUP * 4);
        tokio::spawn(commit_loop(store, queue, Outlets { wake, handoff }));
        Publisher { jobs }
    }

    /// Stores the events and their deliveries; returns once they are committed.
    pub async fn publish(
        &self,
        account: &AccountId,
        events: Vec<NewEvent>,
    ) -> StoreResult<Vec<Published>> {
        let (reply, answer) = oneshot::channel();
        let request = PublishRequest {
            account: account.clone(),
            events,
        };
        self.jobs
            .send(Job { request, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// Takes the waiting requests as one group whenever a transaction slot
/// is free. Groups of at least [`SIDE_BY_SIDE_EVENTS`] events commit side
/// by side, up to the store's [`Store::publish_concurrency`]; smaller ones
/// take every slot and commit alone: side by side they would only add
/// transactions, each with its own commit.
async fn commit_loop(store: Arc<Store>, mut queue: mpsc::Receiver<Job>, outlets: Outlets) {
    let outlets = Arc::new(outlets);
    let concurrency = u32::try_from(store.publish_concurrency().max(1)).unwrap_or(1);
    let slots = Arc::new(Semaphore::new(concurrency as usize));
    let mut jobs = Vec::with_capacity(MAX_GROUP);
    loop {
        if queue.recv_many(&mut jobs, MAX_GROUP).await == 0 {
            return;
        }
        let events: usize = jobs.iter().map(|j| j.request.events.len()).sum();
        let wanted = if events >= SIDE_BY_SIDE_EVENTS {
            1
        } else {
            concurrency
        };
        let Ok(slot) = slots.clone().acquire_many_owned(wanted).await else {
            return;
        };
        // Requests that came while the slots were busy join this group.
        let room = MAX_GROUP - jobs.len();
        queue.recv_many(&mut jobs, room).now_or_never();
        let group = std::mem::replace(&mut jobs, Vec::with_capacity(MAX_GROUP));
        let (store, outlets) = (store.clone(), outlets.clone());
        tokio::spawn(async move {
            commit_group(store.as_ref(), group, &outlets).await;
            drop(slot);
        });
    }
}

/// Commits a group and answers each of its requests.
async fn commit_group(store: &Store, jobs: Vec<Job>, outlets: &Outlets) {
    let (requests, replies): (Vec<_>, Vec<_>) =
        jobs.into_iter().map(|j| (j.request, j.reply)).unzip();
    match commit(store, &requests, outlets).await {
        Ok(results) => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(Ok(result));
            }
        }
        // Nothing of the group was stored: commit each alone, so each
        // request gets its own answer.
        Err(_) if requests.len() > 1 => {
            for (request, reply) in requests.into_iter().zip(replies) {
                let one = std::slice::from_ref(&request);
                let result = commit(store, one, outlets)
                    .await
                    .map(|mut r| r.pop().unwrap_or_default());
                let _ = reply.send(result);
            }
        }
        Err(error) => {
            if let Some(reply) = replies.into_iter().next() {
                let _ = reply.send(Err(error));
            }
        }
    }
}

/// One commit ([`Store::publish`]); then the leased deliveries are handed
/// over and the engine woken for the queued ones.
async fn commit(
    store: &Store,
    requests: &[PublishRequest],
    outlets: &Outlets,
) -> StoreResult<Vec<Vec<Published>>> {
    let events: usize = requests.iter().map(|r| r.events.len()).sum();
    let wanted = events.saturating_mul(OFFER_PER_EVENT);
    let offer = outlets.handoff.as_ref().and_then(|h| h.offer(wanted));
    let PublishOutcome {
        answers,
        leased,
        queued,
    } = store
        .publish(
            requests,
            IDEMPOTENCY_WINDOW_SECS,
            now_epoch(),
            now_millis(),
            offer.as_ref().map(|o| &o.lease),
        )
        .await?;
    // An offer not taken (nothing leased, or an error) is dropped: the
    // engine gets its slots back.
    if let (Some(handoff), Some(offer)) = (&outlets.handoff, offer)
        && !leased.is_empty()
    {
        handoff.take(offer, leased);
    }
    if queued > 0 {
        outlets.wake.notify_one();
    }
    Ok(answers)
}
