//! Group commit for publishing: requests that arrive together share one
//! transaction, so many small publishes cost one commit (one fsync) instead
//! of one each. Every request is still answered only after its commit.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{PublishRequest, Store, StoreResult};
use crate::domain::AccountId;
use crate::domain::event::{IDEMPOTENCY_WINDOW_SECS, NewEvent, Published};
use crate::domain::time::{now_epoch, now_millis};

/// Most requests committed together.
const MAX_GROUP: usize = 128;

struct Job {
    request: PublishRequest,
    reply: oneshot::Sender<StoreResult<Vec<Published>>>,
}

#[derive(Clone)]
pub struct Publisher {
    jobs: mpsc::Sender<Job>,
}

impl Publisher {
    /// Starts the committing task; it ends when every `Publisher` is dropped.
    pub fn start(store: Arc<dyn Store>) -> Publisher {
        let (jobs, queue) = mpsc::channel(MAX_GROUP * 4);
        tokio::spawn(commit_loop(store, queue));
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
            .map_err(|_| super::StoreError::Closed)?;
        answer.await.map_err(|_| super::StoreError::Closed)?
    }
}

async fn commit_loop(store: Arc<dyn Store>, mut queue: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_GROUP);
    while queue.recv_many(&mut jobs, MAX_GROUP).await > 0 {
        let (requests, replies): (Vec<_>, Vec<_>) =
            jobs.drain(..).map(|j| (j.request, j.reply)).unzip();
        match store
            .publish(
                &requests,
                IDEMPOTENCY_WINDOW_SECS,
                now_epoch(),
                now_millis(),
            )
            .await
        {
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
                    let result = store
                        .publish(one, IDEMPOTENCY_WINDOW_SECS, now_epoch(), now_millis())
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
}
