//! Publishing to Herald: the `Bench` client (webhooks, single events from
//! concurrent clients, batches) and the open-loop poster at a fixed rate.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::poster::{EventPoster, event_body};
use crate::receiver::Recorder;

/// Herald's API as the bench uses it, with the receiver its webhooks
/// deliver to.
pub struct Bench {
    pub client: reqwest::Client,
    /// Publishes the single events of the single and latency phases over
    /// plain HTTP (`None` for an HTTPS Herald: they go through `client`).
    events: Option<EventPoster>,
    herald: String,
    token: String,
    /// The receiver's base URL.
    pub receiver: String,
    pub recorder: Arc<Recorder>,
}

impl Bench {
    /// For the Herald at `herald` with `token`, its webhooks delivering to
    /// `receiver`.
    pub fn new(
        client: reqwest::Client,
        herald: &str,
        token: &str,
        receiver: &str,
        recorder: Arc<Recorder>,
    ) -> anyhow::Result<Bench> {
        Ok(Bench {
            client,
            events: EventPoster::new(herald, token)?,
            herald: herald.to_string(),
            token: token.to_string(),
            receiver: receiver.to_string(),
            recorder,
        })
    }

    /// Publishes one event `event` about object `object_id`.
    pub async fn publish_one(&self, event: &str, object_id: i64) -> anyhow::Result<()> {
        match &self.events {
            Some(poster) => poster.publish(event_body(event, object_id)).await,
            None => {
                let body = json!({ "event": event, "object_id": object_id });
                self.post("/v1/events", &body).await?;
                Ok(())
            }
        }
    }

    /// `POST`s `body` to `path`; Herald's answer, an error unless 2xx.
    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .client
            .post(format!("{}{path}", self.herald))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{path}: {status} {answer}");
        }
        Ok(answer)
    }

    /// Creates `count` webhooks for `event` at `path`/0, /1...; their ids.
    pub async fn webhooks(
        &self,
        event: &str,
        path: &str,
        count: usize,
    ) -> anyhow::Result<Vec<i64>> {
        let mut ids = Vec::with_capacity(count);
        for i in 0..count {
            let created = self
                .post(
                    "/v1/webhooks",
                    &json!({ "event": event, "uri": format!("{}{path}/{i}", self.receiver) }),
                )
                .await?;
            ids.push(created["id"].as_i64().context("webhook without an id")?);
        }
        Ok(ids)
    }

    /// Deletes webhooks: their queued deliveries are given up.
    pub async fn delete_webhooks(&self, ids: &[i64]) -> anyhow::Result<()> {
        for id in ids {
            let response = self
                .client
                .delete(format!("{}/v1/webhooks/{id}", self.herald))
                .bearer_auth(&self.token)
                .send()
                .await?;
            if !response.status().is_success() {
                bail!("deleting webhook {id}: {}", response.status());
            }
        }
        Ok(())
    }

    /// Publishes `n` events in batches of `batch` from `parallel` clients.
    pub async fn publish_batched(
        self: &Arc<Self>,
        event: &str,
        n: usize,
        batch: usize,
        parallel: usize,
    ) -> anyhow::Result<()> {
        let (bench, event): (_, Arc<str>) = (self.clone(), event.into());
        in_workers(parallel, n, batch, move |objects| {
            let (bench, event) = (bench.clone(), event.clone());
            async move {
                let events: Vec<Value> = objects
                    .map(|i| json!({ "event": &*event, "object_id": i }))
                    .collect();
                bench.post("/v1/events", &Value::Array(events)).await?;
                Ok(())
            }
        })
        .await
    }

    /// Publishes `n` single events from `clients` concurrent clients.
    pub async fn publish_single(
        self: &Arc<Self>,
        event: &str,
        n: usize,
        clients: usize,
    ) -> anyhow::Result<()> {
        let (bench, event): (_, Arc<str>) = (self.clone(), event.into());
        in_workers(clients, n, 1, move |objects| {
            let (bench, event) = (bench.clone(), event.clone());
            async move { bench.publish_one(&event, objects.start as i64).await }
        })
        .await
    }

    /// Publishes `total` single events `event` open loop, each in a task of
    /// its own when `schedule` has it due, whether or not the earlier ones
    /// were answered; when each was answered, by object id.
    pub async fn publish_open_loop(
        self: &Arc<Self>,
        event: &'static str,
        schedule: &Schedule,
        total: usize,
    ) -> anyhow::Result<HashMap<i64, Instant>> {
        let accepted: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
        let mut tasks = Vec::with_capacity(total);
        for i in 0..total {
            let object_id = schedule.first_object + i as i64;
            tokio::time::sleep_until(schedule.due(object_id).into()).await;
            let (bench, accepted) = (self.clone(), accepted.clone());
            tasks.push(tokio::spawn(async move {
                let result = bench.publish_one(event, object_id).await;
                accepted.lock().unwrap().insert(object_id, Instant::now());
                result
            }));
        }
        for task in tasks {
            task.await??;
        }
        Ok(std::mem::take(&mut *accepted.lock().unwrap()))
    }
}

/// Runs `workers` tasks that each take the next `step` objects of `0..n`
/// and hand them to `send`, until none is left; fails if any `send` does.
async fn in_workers<F, Fut>(workers: usize, n: usize, step: usize, send: F) -> anyhow::Result<()>
where
    F: Fn(Range<usize>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (next, send) = (next.clone(), send.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let start = next.fetch_add(step, Ordering::Relaxed);
                if start >= n {
                    return Ok::<_, anyhow::Error>(());
                }
                send(start..(start + step).min(n)).await?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// When the events of an open-loop run fall due: the one about object
/// `first_object + i` at `start + i / per_sec`.
pub struct Schedule {
    pub start: Instant,
    pub first_object: i64,
    pub per_sec: u64,
}

impl Schedule {
    /// When the event about `object_id` is due.
    pub fn due(&self, object_id: i64) -> Instant {
        self.start
            + Duration::from_secs_f64((object_id - self.first_object) as f64 / self.per_sec as f64)
    }
}
