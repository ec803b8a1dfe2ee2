//! The claim loop: leases due deliveries, sends them with bounded
//! concurrency, and records the outcomes in batches.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::handoff::{Handed, Handoff};
use super::lanes::{Admission, Lanes, Ticket};
use super::message;
use super::sender::{Sender, status_text};
use super::signing::Signer;
use crate::config::Config;
use crate::crypto::sealing::Sealer;
use crate::domain::delivery::{
    AttemptRecord, AttemptResult, Claimed, FailurePolicy, Trigger, WebhookEffects,
};
use crate::domain::event::EventKind;
use crate::domain::mail::{NewMail, disabled_mail, failure_mail};
use crate::domain::time::{now_epoch, now_millis};
use crate::store::Store;

/// Most deliveries leased in one claim.
const MAX_CLAIM: usize = 512;
/// Most outcomes recorded in one transaction.
const MAX_RECORD_BATCH: usize = 512;
/// Time kept in a lease for recording the attempt's outcome.
const RECORD_MARGIN: Duration = Duration::from_secs(5);
/// Longest sleep when idle: picks up work queued by other processes that
/// cannot signal this one (SQLite) and retries falling due.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// The wait after a claim that was not full, skipped webhooks at their limit
/// and left rows due already: those are theirs, and claiming again at once
/// would only pass over them again. A wake (new work, or a skipped webhook
/// freeing a slot) ends the wait sooner.
const SKIPPED_POLL: Duration = Duration::from_millis(50);

/// The shortest wait for which a failing webhook's queued deliveries are
/// moved rather than passed over: moving a row costs about what some ten
/// claims passing over it do, and claims come tens of times a second under
/// load.
const DEFER_AT_LEAST: Duration = Duration::from_secs(1);

pub struct Engine {
    store: Arc<Store>,
    config: Arc<Config>,
    sender: Arc<Sender>,
    signer: Arc<Signer>,
    wake: Arc<Notify>,
    mail_wake: Arc<Notify>,
    worker: String,
    /// Attempts in flight, at most the configured concurrency.
    permits: Arc<Semaphore>,
    handoff: Arc<Handoff>,
    handed: mpsc::UnboundedReceiver<Handed>,
}

impl Engine {
    pub fn new(
        store: Arc<Store>,
        config: Arc<Config>,
        sealer: Sealer,
        wake: Arc<Notify>,
        mail_wake: Arc<Notify>,
    ) -> anyhow::Result<Engine> {
        let sender = Arc::new(Sender::new(
            config.delivery.timeout,
            config.targets.clone(),
        )?);
        let signer = Arc::new(Signer::new(sealer));
        let worker = uuid::Uuid::new_v4().simple().to_string();
        let permits = Arc::new(Semaphore::new(config.delivery.concurrency));
        let (handoff, handed) = Handoff::new(
            worker.clone(),
            lease_of(&config),
            permits.clone(),
            MAX_CLAIM,
        );
        Ok(Engine {
            store,
            config,
            sender,
            signer,
            wake,
            mail_wake,
            worker,
            permits,
            handoff: Arc::new(handoff),
            handed,
        })
    }

    /// Takes the deliveries this process publishes while the engine has
    /// room, so they skip the queue (see [`Handoff`]).
    pub fn handoff(&self) -> Arc<Handoff> {
        self.handoff.clone()
    }

    /// Runs until `shutdown`; then stops claiming, lets attempts in flight
    /// finish (up to the delivery timeout), records them, and hands back
    /// the leases of any that did not finish.
    pub async fn run(self, shutdown: CancellationToken) {
        let Engine {
            store,
            config,
            sender,
            signer,
            wake,
            mail_wake,
            worker,
            permits,
            handoff,
            handed,
        } = self;
        store.watch_for_work(wake.clone(), shutdown.clone());
        let concurrency = config.delivery.concurrency;
        let (results, outcomes) = mpsc::channel(concurrency.max(MAX_RECORD_BATCH));
        let recorder = tokio::spawn(record(store.clone(), config.clone(), outcomes, mail_wake));
        let timeout = config.delivery.timeout;
        let lanes = Arc::new(Lanes::new(
            config.delivery.concurrency_per_webhook,
            timeout.as_millis() as u64,
        ));
        let lease = lease_of(&config);
        let tracker = TaskTracker::new();
        let dispatcher = Arc::new(Dispatcher {
            tracker: tracker.clone(),
            context: Arc::new(LaneContext {
                lanes: lanes.clone(),
                sender,
                signer,
                config: config.clone(),
                results: results.clone(),
                store: store.clone(),
                wake: wake.clone(),
                worker: worker.clone(),
                shutdown: shutdown.clone(),
            }),
        });
        let direct = tokio::spawn(send_handed(dispatcher.clone(), handed, shutdown.clone()));
        let mut batch = 0u64;
        // After a full claim, the webhooks it found deliveries for: the
        // next claim would most likely reach their rows first.
        let mut ahead: Vec<i64> = Vec::new();

        'claims: while !shutdown.is_cancelled() {
            let available = permits.available_permits();
            if available == 0 {
                handoff.set_caught_up(false, &[]);
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    permit = permits.acquire() => drop(permit),
                }
                continue;
            }
            if all_at_their_limit(&ahead, lanes.saturated()) {
                // A claim now would pass over all of their rows and most
                // likely find nothing, at the cost of reading every row
                // due (measured on PostgreSQL: up to half of the claims
                // under load, 15 to 75 ms each): wait until one of them
                // frees a slot, at most SKIPPED_POLL.
                let until = tokio::time::Instant::now() + SKIPPED_POLL;
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => break 'claims,
                        _ = wake.notified() => {}
                        _ = tokio::time::sleep_until(until) => break,
                    }
                    if !all_at_their_limit(&ahead, lanes.saturated()) {
                        break;
                    }
                }
                ahead.clear();
                continue;
            }
            batch += 1;
            let owner = format!("{worker}:{batch}");
            let limit = available.min(MAX_CLAIM);
            let now = now_millis();
            let lease_until = now + lease.as_millis() as i64;
            let skip = lanes.saturated();
            let claimed = match store
                .claim_due(&owner, now, lease_until, limit as i64, &skip)
                .await
            {
                Ok(claimed) => claimed,
                Err(error) => {
                    handoff.set_caught_up(false, &[]);
                    tracing::error!(
                        error = format!("{:#}", anyhow::Error::from(error)),
                        "claiming deliveries failed"
                    );
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(IDLE_POLL) => continue,
                    }
                }
            };
            let full = claimed.len() == limit;
            // New deliveries may go straight to this engine only while
            // nothing older waits for it, but for webhooks at their limit:
            // theirs are queued.
            handoff.set_caught_up(!full, &skip);
            let claimed_count = claimed.len();
            ahead.clear();
            if full {
                ahead.extend(claimed.iter().map(Claimed::webhook_id));
                ahead.sort_unstable();
                ahead.dedup();
            }
            // Slots are taken once the claim is back, so publishes meanwhile
            // can still hand deliveries over; any claimed delivery left
            // without a slot (taken by a handover meanwhile) goes back.
            let slots = reserve(&permits, claimed_count.min(permits.available_permits()));
            let handed_back = dispatcher.dispatch(claimed, lease_until, slots).await;
            tracing::debug!(
                limit,
                claimed = claimed_count,
                handed_back,
                skipped_webhooks = skip.len(),
                "claimed due deliveries"
            );
            defer_failing(&lanes, &store, &tracker, timeout);
            if full {
                continue;
            }
            // The claim took all that was due but the skipped webhooks'.
            let wait = match store.next_due_at().await {
                Ok(Some(due)) => {
                    let until = Duration::from_millis((due - now_millis()).max(0) as u64);
                    if until.is_zero() && !skip.is_empty() {
                        SKIPPED_POLL
                    } else {
                        until.min(IDLE_POLL)
                    }
                }
                _ => IDLE_POLL,
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }

        handoff.close();
        let _ = direct.await;
        tracker.close();
        let grace = config.delivery.timeout + Duration::from_secs(2);
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!(
                "attempts still in flight at shutdown; their deliveries will be retried"
            );
        }
        // A publish may still hold an offer; once every slot is back, no
        // delivery can be leased to this engine any more.
        let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
        if tokio::time::timeout(Duration::from_secs(5), permits.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!("slots still held at shutdown; their deliveries will be retried");
        }
        // The recorder ends when the last sender of results is gone.
        drop((results, dispatcher));
        let _ = recorder.await;
        match store.release_leases(&worker, now_millis()).await {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "handed back unfinished deliveries"),
            Err(error) => tracing::warn!(
                error = format!("{:#}", anyhow::Error::from(error)),
                "could not release leases; they expire by themselves"
            ),
        }
    }
}

/// Every claim passes over the queued deliveries of a webhook at its
/// limit, reading each (on PostgreSQL from the table), until it has room.
/// For one that keeps failing (a receiver that times out: seconds), they
/// are moved to when it likely has, once per such wait ([`Lanes::to_defer`]),
/// on a task of its own so that a large backlog being moved does not hold
/// up the claims.
fn defer_failing(lanes: &Arc<Lanes>, store: &Arc<Store>, tracker: &TaskTracker, timeout: Duration) {
    for (webhook, until) in lanes.to_defer(timeout, DEFER_AT_LEAST, now_millis()) {
        let (lanes, store) = (lanes.clone(), store.clone());
        tracker.spawn(async move {
            match store.defer_queued(webhook, until).await {
                Ok(deferred) => tracing::debug!(
                    webhook,
                    deferred,
                    "deferred a failing webhook's queued deliveries"
                ),
                Err(error) => tracing::warn!(
                    error = format!("{:#}", anyhow::Error::from(error)),
                    webhook,
                    "could not defer a failing webhook's queued deliveries; claims pass over them meanwhile"
                ),
            }
            lanes.deferred(webhook);
        });
    }
}

/// Whether every webhook in `ahead` is among the `saturated`: the
/// rows a new claim would reach first are theirs, and it would pass over
/// them all.
fn all_at_their_limit(ahead: &[i64], mut saturated: Vec<i64>) -> bool {
    saturated.sort_unstable();
    !ahead.is_empty() && ahead.iter().all(|w| saturated.binary_search(w).is_ok())
}

/// `n` attempt slots, or none if a handover took some since they were
/// counted (the deliveries they were for then go back to the queue).
fn reserve(permits: &Arc<Semaphore>, n: usize) -> Option<OwnedSemaphorePermit> {
    let n = u32::try_from(n).ok()?;
    permits.clone().try_acquire_many_owned(n).ok()
}

/// Long enough for an attempt and its recording, plus a wait in its
/// webhook's line; a crashed worker's deliveries fall due again when it
/// runs out.
fn lease_of(config: &Config) -> Duration {
    config.delivery.timeout * 2 + RECORD_MARGIN
}

/// Sends what publishes of this process handed over, until `shutdown`.
/// Each handover is loaded and dispatched by its own task, so small
/// publishes committed side by side do not wait in line for each other's
/// reads. Whatever is still in the channel at shutdown is dropped with its
/// slots, and goes back to the queue when the engine hands back all of its
/// leases.
async fn send_handed(
    dispatcher: Arc<Dispatcher>,
    mut handed: mpsc::UnboundedReceiver<Handed>,
    shutdown: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = handed.recv() => match next {
                Some(next) => next,
                None => break,
            },
        };
        dispatcher
            .tracker
            .spawn(load_and_dispatch(dispatcher.clone(), next));
    }
}

/// Reads the webhooks of one handover's deliveries and starts them.
async fn load_and_dispatch(dispatcher: Arc<Dispatcher>, handed: Handed) {
    let Handed {
        lease,
        leased,
        slots,
    } = handed;
    let c = dispatcher.context.as_ref();
    let ids: Vec<i64> = leased.iter().map(|l| l.id).collect();
    match c.store.with_webhooks(&lease.owner, leased).await {
        Ok(claimed) => {
            dispatcher
                .dispatch(claimed, lease.until_ms, Some(slots))
                .await;
        }
        Err(error) => {
            tracing::warn!(
                error = format!("{:#}", anyhow::Error::from(error)),
                count = ids.len(),
                "could not read the webhooks of deliveries handed over; handing them back"
            );
            hand_back(c.store.as_ref(), &c.worker, &ids, now_millis()).await;
        }
    }
}

/// Starts leased deliveries on their webhooks' lanes.
struct Dispatcher {
    tracker: TaskTracker,
    context: Arc<LaneContext>,
}

impl Dispatcher {
    /// Each delivery takes one of `slots`, then starts on its webhook's
    /// lane or waits in its line; those left without a slot, or whose
    /// webhook has no room, go back to the queue. Unused slots are freed.
    /// Returns how many went back.
    async fn dispatch(
        &self,
        claimed: Vec<Claimed>,
        lease_until_ms: i64,
        mut slots: Option<OwnedSemaphorePermit>,
    ) -> usize {
        let c = self.context.as_ref();
        let timeout = c.config.delivery.timeout;
        // Started later than this, an attempt could outlast the lease.
        let start_by_ms = lease_until_ms - (timeout + RECORD_MARGIN).as_millis() as i64;
        let now = now_millis();
        let mut handed_back = Vec::new();
        for delivery in claimed {
            let webhook = delivery.webhook_id();
            let Some(permit) = slots.as_mut().and_then(|s| s.split(1)) else {
                // No slot left for it: it waits for another claim.
                handed_back.push((webhook, delivery.id));
                continue;
            };
            let ticket = Ticket {
                delivery,
                permit,
                start_by_ms,
            };
            match c.lanes.admit(webhook, ticket, now) {
                Admission::Send(ticket) => {
                    self.tracker
                        .spawn(run_lane(self.context.clone(), webhook, ticket));
                }
                Admission::Queued => {}
                Admission::Full(ticket) => handed_back.push((webhook, ticket.delivery.id)),
            }
        }
        drop(slots);
        handed_back.sort_unstable();
        for group in handed_back.chunk_by(|a, b| a.0 == b.0) {
            let ids: Vec<i64> = group.iter().map(|(_, id)| *id).collect();
            let due = c.lanes.hand_back_due(group[0].0, timeout, now_millis());
            hand_back(c.store.as_ref(), &c.worker, &ids, due).await;
        }
        handed_back.len()
    }
}

/// What every lane task shares.
struct LaneContext {
    lanes: Arc<Lanes>,
    sender: Arc<Sender>,
    signer: Arc<Signer>,
    config: Arc<Config>,
    results: mpsc::Sender<AttemptResult>,
    store: Arc<Store>,
    wake: Arc<Notify>,
    worker: String,
    shutdown: CancellationToken,
}

/// Sends one webhook's deliveries on one of its slots: the claimed one,
/// then any waiting in the webhook's line.
async fn run_lane(context: Arc<LaneContext>, webhook: i64, first: Ticket) {
    let c = context.as_ref();
    let mut ticket = Some(first);
    while let Some(Ticket {
        delivery, permit, ..
    }) = ticket.take()
    {
        let started = now_millis();
        let result = attempt(&c.sender, &c.signer, &c.config, &delivery).await;
        let took = now_millis() - started;
        let failed = result.attempted.then_some(!result.succeeded);
        // The slot is freed only once the recorder has the result: when
        // recording lags, claiming waits, so leases never run out on results
        // still queued (no duplicates) and memory stays bounded. The
        // recorder outlives every lane task.
        let _ = c.results.send(result).await;
        drop(permit);
        let next = c.lanes.next(
            webhook,
            took,
            failed,
            now_millis(),
            c.shutdown.is_cancelled(),
        );
        if !next.expired.is_empty() {
            let ids: Vec<i64> = next.expired.iter().map(|t| t.delivery.id).collect();
            drop(next.expired);
            let due = c
                .lanes
                .hand_back_due(webhook, c.config.delivery.timeout, now_millis());
            hand_back(c.store.as_ref(), &c.worker, &ids, due).await;
        }
        if next.freed {
            c.wake.notify_one();
        }
        ticket = next.ticket;
    }
}

/// Hands leased deliveries back unattempted, due at `due_ms`; if that
/// fails their leases run out and they fall due anyway.
async fn hand_back(store: &Store, worker: &str, ids: &[i64], due_ms: i64) {
    if let Err(error) = store.release_claims(worker, ids, due_ms).await {
        tracing::warn!(
            error = format!("{:#}", anyhow::Error::from(error)),
            count = ids.len(),
            "could not hand back deliveries; their leases will run out"
        );
    }
}

/// One attempt: send the message and judge the answer.
async fn attempt(
    sender: &Sender,
    signer: &Signer,
    config: &Config,
    delivery: &Claimed,
) -> AttemptResult {
    let mut result = AttemptResult {
        delivery_id: delivery.id,
        lease_owner: delivery.lease_owner.clone(),
        webhook_id: delivery.webhook_id(),
        kind: delivery.kind,
        attempted: false,
        succeeded: false,
        retry_at_ms: None,
        error: None,
        gone: false,
        record: None,
        message: None,
    };
    let webhook = match &delivery.webhook {
        None => {
            result.error = Some("webhook deleted".into());
            return result;
        }
        // Tests and verifications go to disabled webhooks too (§8).
        Some(webhook) if webhook.disabled && delivery.kind == EventKind::Event => {
            result.error = Some("webhook disabled".into());
            return result;
        }
        // Its URI changed and is not verified yet: events wait for no one.
        Some(webhook) if !webhook.verified && delivery.kind == EventKind::Event => {
            result.error = Some("webhook not verified".into());
            return result;
        }
        Some(webhook) => webhook,
    };
    result.attempted = true;
    let started_at = now_millis();
    let clock = std::time::Instant::now();
    let mut record = AttemptRecord {
        started_at,
        duration_ms: 0,
        response_status: None,
        response_headers: None,
        response_body: None,
        response_truncated: false,
        error: None,
        remote_ip: None,
        trigger: Trigger::of(delivery.kind, delivery.origin_uuid.as_deref()),
    };
    let mut retry_after = None;
    let outcome = match message::build(delivery, webhook, config, signer) {
        Ok(outgoing) => {
            result.message = Some(outgoing.message);
            sender
                .post(&webhook.uri, outgoing.headers, outgoing.body)
                .await
                .map_err(|f| f.describe())
        }
        Err(reason) => Err(reason),
    };
    record.duration_ms = clock.elapsed().as_millis() as i64;
    match outcome {
        Ok(reply) => {
            record.response_status = Some(i64::from(reply.status.as_u16()));
            record.response_headers = Some(headers_json(&reply.headers));
            record.response_body = Some(storable_text(&reply.body));
            record.response_truncated = reply.truncated;
            record.remote_ip = reply.remote.map(|addr| addr.ip().to_string());
            if reply.status.is_success() {
                result.succeeded = true;
            } else {
                result.error = Some(status_text(reply.status));
                result.gone = reply.status == reqwest::StatusCode::GONE;
                if matches!(reply.status.as_u16(), 429 | 503) {
                    retry_after = reply
                        .headers
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| super::retry::parse_retry_after(v, SystemTime::now()));
                }
            }
        }
        Err(reason) => result.error = Some(reason),
    }
    record.error = result.error.clone();
    result.record = Some(record);
    // Test messages are tried once; a 410 ends the webhook's deliveries.
    if !result.succeeded && delivery.kind != EventKind::Test && !result.gone {
        let attempt_no = u32::try_from(delivery.attempts + 1).unwrap_or(u32::MAX);
        result.retry_at_ms = config
            .delivery
            .retry
            .delay_after(attempt_no, retry_after, &mut rand::thread_rng())
            .map(|delay| now_millis() + delay.as_millis() as i64);
    }
    result
}

/// Bytes as text any database stores: invalid UTF-8 and NUL (which
/// PostgreSQL refuses in text) become U+FFFD.
fn storable_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\0', "\u{FFFD}")
}

/// Response headers as a JSON object; repeated names become arrays.
fn headers_json(headers: &reqwest::header::HeaderMap) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for name in headers.keys() {
        let values: Vec<serde_json::Value> = headers
            .get_all(name)
            .iter()
            .map(|v| serde_json::Value::String(storable_text(v.as_bytes())))
            .collect();
        let value = if values.len() == 1 {
            values.into_iter().next().unwrap_or_default()
        } else {
            values.into()
        };
        map.insert(name.as_str().to_string(), value);
    }
    serde_json::Value::Object(map)
}

/// Records outcomes in batches; queues the mails their effects call for.
async fn record(
    store: Arc<Store>,
    config: Arc<Config>,
    mut outcomes: mpsc::Receiver<AttemptResult>,
    mail_wake: Arc<Notify>,
) {
    let policy = FailurePolicy {
        disable_after_failures: i64::from(config.delivery.disable_after_failures),
        mail_interval_secs: config.mail.interval.as_secs() as i64,
    };
    let gather = store.record_gather();
    let mut batch = Vec::with_capacity(MAX_RECORD_BATCH);
    while outcomes.recv_many(&mut batch, MAX_RECORD_BATCH).await > 0 {
        // Outcomes that come meanwhile join this batch.
        if batch.len() < MAX_RECORD_BATCH && !gather.is_zero() {
            tokio::time::sleep(gather).await;
            let room = MAX_RECORD_BATCH - batch.len();
            outcomes.recv_many(&mut batch, room).now_or_never();
        }
        let mut tries = 0;
        let effects = loop {
            match store
                .finish_attempts(&batch, policy, now_epoch(), now_millis())
                .await
            {
                Ok(effects) => break effects,
                Err(error) if tries < 5 => {
                    tries += 1;
                    tracing::warn!(
                        error = format!("{:#}", anyhow::Error::from(error)),
                        "recording attempts failed; retrying"
                    );
                    tokio::time::sleep(Duration::from_millis(200 * tries)).await;
                }
                Err(error) => {
                    // The leases run out and the deliveries are sent again:
                    // at least once, never lost.
                    tracing::error!(
                        error = format!("{:#}", anyhow::Error::from(error)),
                        count = batch.len(),
                        "could not record attempts"
                    );
                    break Vec::new();
                }
            }
        };
        batch.clear();
        for effect in effects {
            if let Err(error) = queue_mails(store.as_ref(), &config, &effect).await {
                tracing::error!(
                    error = format!("{:#}", anyhow::Error::from(error)),
                    webhook = effect.webhook.id,
                    "could not queue a mail"
                );
            } else if effect.disabled_now || effect.failure_mail_due {
                mail_wake.notify_one();
            }
        }
    }
}

async fn queue_mails(
    store: &Store,
    config: &Config,
    effect: &WebhookEffects,
) -> Result<(), crate::store::StoreError> {
    if !effect.disabled_now && !effect.failure_mail_due {
        return Ok(());
    }
    let webhook = &effect.webhook;
    if effect.disabled_now {
        tracing::warn!(webhook = webhook.id, account = %webhook.account, error = ?webhook.last_error, "webhook disabled after failures");
    }
    let recipients = store.mail_recipients(&webhook.account, webhook.id).await?;
    if recipients.is_empty() {
        tracing::warn!(webhook = webhook.id, account = %webhook.account, "no one to mail about a failing webhook: no mail_exceptions_to and no administrator e-mail");
        return Ok(());
    }
    let account_url = config.account_url(webhook.account.as_str());
    let error = webhook.last_error.as_deref().unwrap_or("unknown error");
    let mut mails = Vec::new();
    if effect.failure_mail_due {
        mails.push(failure_mail(webhook, &account_url, error, effect.failures));
    }
    if effect.disabled_now {
        mails.push(disabled_mail(
            webhook,
            &account_url,
            &config.public_url,
            error,
        ));
    }
    for (subject, body) in mails {
        let mail = NewMail {
            account: webhook.account.to_string(),
            webhook_id: webhook.id,
            recipients: recipients.clone(),
            subject,
            body,
        };
        store.enqueue_mail(&mail, now_epoch(), now_millis()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::all_at_their_limit;

    #[test]
    fn a_claim_waits_only_while_every_webhook_ahead_is_at_its_limit() {
        assert!(all_at_their_limit(&[2], vec![2]));
        assert!(all_at_their_limit(&[2, 5], vec![9, 5, 1, 2]));
        // One of them has room: its rows come first, so claim.
        assert!(!all_at_their_limit(&[2, 5], vec![9, 1, 2]));
        // Nothing saturated, or no full claim before: claim.
        assert!(!all_at_their_limit(&[2], vec![]));
        assert!(!all_at_their_limit(&[], vec![2]));
    }
}
