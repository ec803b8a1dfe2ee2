//! The delivery engine, one per delivering process: wires its stages (claim
//! loop, intake of handovers, dispatch, attempt, record, deferral) and
//! stops them.

mod attempt;
mod claim;
mod defer;
mod dispatch;
mod intake;
mod observe;
mod record;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::claim::ClaimLoop;
use self::dispatch::{Dispatcher, LaneContext};
use super::lanes::Lanes;
use super::publish::{Handoff, Handover};
use super::sender::Sender;
use super::signing::Signer;
use crate::config::Config;
use crate::crypto::sealing::Sealer;
use crate::domain::delivery::AttemptResult;
use crate::domain::time::now_millis;
use crate::store::Store;
use crate::telemetry::Metrics;

/// Most deliveries leased in one claim, or in one offer of the handoff.
const MAX_CLAIM: usize = 512;
/// Time kept in a lease for recording the attempt's outcome.
const RECORD_MARGIN: Duration = Duration::from_secs(5);

/// This process's delivery engine; [`Engine::run`] drives it.
pub struct Engine {
    store: Arc<Store>,
    config: Arc<Config>,
    sender: Arc<Sender>,
    signer: Arc<Signer>,
    wake: Arc<Notify>,
    mail_wake: Arc<Notify>,
    /// This engine's id as a worker: the prefix of every lease owner it uses.
    worker: String,
    /// Attempt slots: attempts in flight, at most the configured concurrency.
    slots: Arc<Semaphore>,
    handoff: Arc<Handoff>,
    handovers: mpsc::UnboundedReceiver<Handover>,
    metrics: Metrics,
    running: Running,
}

/// Whether an engine's claim loop runs (for readiness): from the start of
/// [`Engine::run`] until the loop ends, by shutdown or a panic.
#[derive(Clone, Debug, Default)]
pub struct Running(Arc<AtomicBool>);

impl Running {
    pub fn is_running(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Sets it while the guard lives.
    fn hold(&self) -> RunningGuard {
        self.0.store(true, Ordering::Relaxed);
        RunningGuard(self.clone())
    }
}

struct RunningGuard(Running);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.0.store(false, Ordering::Relaxed);
    }
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
        let slots = Arc::new(Semaphore::new(config.delivery.concurrency));
        let (handoff, handovers) =
            Handoff::new(worker.clone(), lease_of(&config), slots.clone(), MAX_CLAIM);
        Ok(Engine {
            store,
            config,
            sender,
            signer,
            wake,
            mail_wake,
            worker,
            slots,
            handoff: Arc::new(handoff),
            handovers,
            metrics: Metrics::default(),
            running: Running::default(),
        })
    }

    /// Counts attempts and their outcomes in `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Engine {
        self.metrics = metrics;
        self
    }

    /// What wakes the mailer when the recorder queues a mail.
    pub fn mail_wake(&self) -> Arc<Notify> {
        self.mail_wake.clone()
    }

    /// Tells whether this engine's claim loop runs.
    pub fn running(&self) -> Running {
        self.running.clone()
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
        let running = self.running.hold();
        let (claims, stages) = self.start(shutdown);
        claims.run().await;
        drop(running);
        stages.stop().await;
    }

    /// Starts the recorder and the intake of handovers; returns the claim
    /// loop, which feeds the same dispatcher, and what stopping needs.
    fn start(self, shutdown: CancellationToken) -> (ClaimLoop, Stages) {
        self.store
            .watch_for_work(self.wake.clone(), shutdown.clone());
        let (results, recorder) = self.spawn_recorder();
        let lanes = Arc::new(Lanes::new(
            self.config.delivery.concurrency_per_webhook,
            self.config.delivery.timeout.as_millis() as u64,
        ));
        let dispatcher = Arc::new(Dispatcher {
            tracker: TaskTracker::new(),
            context: Arc::new(self.lane_context(&lanes, results.clone(), &shutdown)),
        });
        let claims = self.claim_loop(lanes, dispatcher.clone(), shutdown.clone());
        let tracker = dispatcher.tracker.clone();
        let intake = tokio::spawn(intake::take_handovers(dispatcher, self.handovers, shutdown));
        let stages = Stages {
            store: self.store,
            config: self.config,
            worker: self.worker,
            slots: self.slots,
            handoff: self.handoff,
            intake,
            tracker,
            results,
            recorder,
        };
        (claims, stages)
    }

    /// The recorder's task, and the sender of results to it.
    fn spawn_recorder(&self) -> (mpsc::Sender<AttemptResult>, JoinHandle<()>) {
        let capacity = self
            .config
            .delivery
            .concurrency
            .max(record::MAX_RECORD_BATCH);
        let (results, outcomes) = mpsc::channel(capacity);
        let recorder = tokio::spawn(record::record(
            self.store.clone(),
            self.config.clone(),
            outcomes,
            self.mail_wake.clone(),
            self.metrics.clone(),
        ));
        (results, recorder)
    }

    fn lane_context(
        &self,
        lanes: &Arc<Lanes>,
        results: mpsc::Sender<AttemptResult>,
        shutdown: &CancellationToken,
    ) -> LaneContext {
        LaneContext {
            lanes: lanes.clone(),
            sender: self.sender.clone(),
            signer: self.signer.clone(),
            config: self.config.clone(),
            results,
            store: self.store.clone(),
            wake: self.wake.clone(),
            worker: self.worker.clone(),
            shutdown: shutdown.clone(),
            metrics: self.metrics.clone(),
        }
    }

    fn claim_loop(
        &self,
        lanes: Arc<Lanes>,
        dispatcher: Arc<Dispatcher>,
        shutdown: CancellationToken,
    ) -> ClaimLoop {
        ClaimLoop {
            store: self.store.clone(),
            handoff: self.handoff.clone(),
            slots: self.slots.clone(),
            lanes,
            dispatcher,
            wake: self.wake.clone(),
            shutdown,
            worker: self.worker.clone(),
            lease: lease_of(&self.config),
            timeout: self.config.delivery.timeout,
            batch: 0,
            ahead: Vec::new(),
        }
    }
}

/// The engine's stages as they run beside the claim loop, for stopping.
struct Stages {
    store: Arc<Store>,
    config: Arc<Config>,
    worker: String,
    slots: Arc<Semaphore>,
    handoff: Arc<Handoff>,
    intake: JoinHandle<()>,
    tracker: TaskTracker,
    results: mpsc::Sender<AttemptResult>,
    recorder: JoinHandle<()>,
}

impl Stages {
    /// Once the claim loop has ended: no more handovers, attempts in flight
    /// finish and are recorded, and every lease still held is handed back.
    async fn stop(self) {
        self.handoff.close();
        let _ = self.intake.await;
        self.tracker.close();
        let grace = self.config.delivery.timeout + Duration::from_secs(2);
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "attempts still in flight at shutdown; their deliveries will be retried"
            );
        }
        // A publish may still hold an offer; once every slot is back, no
        // delivery can be leased to this engine any more.
        let all = u32::try_from(self.config.delivery.concurrency).unwrap_or(u32::MAX);
        if tokio::time::timeout(Duration::from_secs(5), self.slots.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!("slots still held at shutdown; their deliveries will be retried");
        }
        // The recorder ends when the last sender of results is gone (lane
        // tasks hold the others).
        drop(self.results);
        let _ = self.recorder.await;
        hand_back_all(self.store.as_ref(), &self.worker).await;
    }
}

/// Hands back every delivery still leased to `worker` (due now).
async fn hand_back_all(store: &Store, worker: &str) {
    match store.release_leases(worker, now_millis()).await {
        Ok(0) => {}
        Ok(released) => tracing::info!(released, "handed back unfinished deliveries"),
        Err(error) => tracing::warn!(
            error = format!("{:#}", anyhow::Error::from(error)),
            "could not release leases; they expire by themselves"
        ),
    }
}

/// Long enough for an attempt and its recording, plus a wait in its
/// webhook's line; a crashed worker's deliveries fall due again when it
/// runs out.
fn lease_of(config: &Config) -> Duration {
    config.delivery.timeout * 2 + RECORD_MARGIN
}
