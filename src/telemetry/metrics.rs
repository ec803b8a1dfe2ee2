//! Herald's Prometheus metrics: one registry per process, written by the
//! engine, the mailer, the sampler and the API, read by `/metrics` on
//! `--metrics-listen`. Off (every call a no-op) unless that is given.
//!
//! Counting costs an atomic add: the series of fixed label sets are made
//! once, at start, and kept; only the API's series (by route and status)
//! and per-webhook ones are looked up by their labels.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use super::labels::*;
use crate::store::{PoolStats, QueueStats, WebhookStats};

/// The content type of what [`Metrics::encode`] writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Attempt durations, in seconds: from a fast receiver on the same
/// network to `--delivery-timeout`'s longest sensible values.
const ATTEMPT_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Publish-to-delivery latency, in seconds: from the straight handoff
/// (milliseconds) to retries hours later.
const LATENCY_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
    7200.0,
];
/// API answers, in seconds.
const HTTP_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// This process's metrics, or none (`Metrics::default()`): cheap to clone.
#[derive(Clone, Default)]
pub struct Metrics(Option<Arc<Registered>>);

struct Registered {
    registry: Registry,
    events_published: Counter,
    deliveries_created: Counter,
    attempts: Family<OutcomeLabels, Counter>,
    /// `attempts`' series, by [`Outcome::index`].
    by_outcome: Vec<Counter>,
    per_webhook: Option<Family<WebhookOutcomeLabels, Counter>>,
    attempt_duration: Histogram,
    delivery_latency: Histogram,
    retries_scheduled: Counter,
    given_up: Counter,
    disabled: Family<ReasonLabels, Counter>,
    mails: Family<MailLabels, Counter>,
    queue: Family<StatusLabels, Gauge>,
    queue_due: Gauge,
    oldest_due_age: Gauge<f64, AtomicU64>,
    webhooks: Family<StateLabels, Gauge>,
    pools: Family<PoolLabels, Gauge>,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<RouteLabels, Histogram>,
}

impl Metrics {
    /// Metrics on; `per_webhook` adds a series per webhook and outcome.
    pub fn new(per_webhook: bool) -> Metrics {
        let mut r = Registered::unregistered(per_webhook);
        let mut registry = Registry::with_prefix("herald");
        registry.register(
            "build",
            "The running Herald's version",
            Info::new(VersionLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        r.register_deliveries(&mut registry);
        r.register_state(&mut registry);
        r.register_api(&mut registry);
        r.zero_fixed_series();
        r.registry = registry;
        Metrics(Some(Arc::new(r)))
    }

    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// A publish stored `events` new events with `deliveries` deliveries.
    pub fn published(&self, events: u64, deliveries: u64) {
        if let Some(r) = &self.0 {
            r.events_published.inc_by(events);
            r.deliveries_created.inc_by(deliveries);
        }
    }

    /// An attempt to webhook `webhook_id` ended with `outcome` after `took`.
    pub fn attempted(&self, webhook_id: i64, outcome: Outcome, took: Duration) {
        if let Some(r) = &self.0 {
            r.by_outcome[outcome.index()].inc();
            r.attempt_duration.observe(took.as_secs_f64());
            if let Some(per_webhook) = &r.per_webhook {
                per_webhook
                    .get_or_create(&WebhookOutcomeLabels {
                        webhook_id,
                        outcome,
                    })
                    .inc();
            }
        }
    }

    /// An event's delivery succeeded `latency` after the event's publish.
    pub fn delivered(&self, latency: Duration) {
        if let Some(r) = &self.0 {
            r.delivery_latency.observe(latency.as_secs_f64());
        }
    }

    pub fn retry_scheduled(&self) {
        if let Some(r) = &self.0 {
            r.retries_scheduled.inc();
        }
    }

    pub fn given_up(&self) {
        if let Some(r) = &self.0 {
            r.given_up.inc();
        }
    }

    pub fn webhook_disabled(&self, reason: DisableReason) {
        if let Some(r) = &self.0 {
            r.disabled.get_or_create(&ReasonLabels { reason }).inc();
        }
    }

    pub fn mail(&self, outcome: MailOutcome) {
        if let Some(r) = &self.0 {
            r.mails.get_or_create(&MailLabels { outcome }).inc();
        }
    }

    /// The queue as read at `now_ms`.
    pub fn queue(&self, stats: &QueueStats, now_ms: i64) {
        if let Some(r) = &self.0 {
            let status = |status| r.queue.get_or_create_owned(&StatusLabels { status });
            status("pending").set(stats.pending);
            status("in_flight").set(stats.in_flight);
            r.queue_due.set(stats.due);
            let waited = stats.oldest_due_ms.map_or(0, |due| (now_ms - due).max(0));
            r.oldest_due_age.set(waited as f64 / 1000.0);
        }
    }

    pub fn webhooks(&self, stats: &WebhookStats) {
        if let Some(r) = &self.0 {
            let state = |state| r.webhooks.get_or_create_owned(&StateLabels { state });
            state("ok").set(stats.ok);
            state("failing").set(stats.failing);
            state("disabled").set(stats.disabled);
        }
    }

    pub fn pools(&self, pools: &[PoolStats]) {
        if let Some(r) = &self.0 {
            for pool in pools {
                let idle = i64::try_from(pool.idle).unwrap_or(i64::MAX);
                let open = i64::from(pool.open);
                let series = |state| {
                    r.pools.get_or_create_owned(&PoolLabels {
                        pool: pool.name,
                        state,
                    })
                };
                series("idle").set(idle);
                series("in_use").set((open - idle).max(0));
            }
        }
    }

    /// An API request to `route` (a template) answered `status` after `took`.
    pub fn http_request(&self, method: &'static str, route: &str, status: u16, took: Duration) {
        if let Some(r) = &self.0 {
            let route = route.to_string();
            r.http_duration
                .get_or_create(&RouteLabels {
                    method,
                    route: route.clone(),
                })
                .observe(took.as_secs_f64());
            r.http_requests
                .get_or_create(&HttpLabels {
                    method,
                    route,
                    status,
                })
                .inc();
        }
    }

    /// Every metric in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> Option<String> {
        let r = self.0.as_ref()?;
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &r.registry).ok()?;
        Some(text)
    }
}

impl Registered {
    /// Every metric, none registered yet.
    fn unregistered(per_webhook: bool) -> Registered {
        let attempts = Family::<OutcomeLabels, Counter>::default();
        let by_outcome = Outcome::ALL
            .iter()
            .map(|&outcome| attempts.get_or_create_owned(&OutcomeLabels { outcome }))
            .collect();
        Registered {
            registry: Registry::default(),
            events_published: Counter::default(),
            deliveries_created: Counter::default(),
            attempts,
            by_outcome,
            per_webhook: per_webhook.then(Family::default),
            attempt_duration: Histogram::new(ATTEMPT_BUCKETS),
            delivery_latency: Histogram::new(LATENCY_BUCKETS),
            retries_scheduled: Counter::default(),
            given_up: Counter::default(),
            disabled: Family::default(),
            mails: Family::default(),
            queue: Family::default(),
            queue_due: Gauge::default(),
            oldest_due_age: Gauge::default(),
            webhooks: Family::default(),
            pools: Family::default(),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(http_histogram),
        }
    }

    /// Publishing, attempts and what follows them.
    fn register_deliveries(&self, registry: &mut Registry) {
        registry.register(
            "events_published",
            "Events published (POST /v1/events), repeated idempotency keys not counted",
            self.events_published.clone(),
        );
        registry.register(
            "deliveries_created",
            "Deliveries made for published events, one per matching webhook",
            self.deliveries_created.clone(),
        );
        registry.register(
            "delivery_attempts",
            "Delivery attempts by outcome: 2xx, 3xx, 4xx, 5xx, timeout, connect_error, refused (SSRF guard), other",
            self.attempts.clone(),
        );
        if let Some(per_webhook) = &self.per_webhook {
            registry.register(
                "webhook_delivery_attempts",
                "Delivery attempts by webhook and outcome (--metrics-per-webhook)",
                per_webhook.clone(),
            );
        }
        registry.register_with_unit(
            "delivery_attempt_duration",
            "How long delivery attempts took, connecting to answer",
            Unit::Seconds,
            self.attempt_duration.clone(),
        );
        registry.register_with_unit(
            "delivery_latency",
            "From an event's publish to its delivery's 2xx, retries included (first deliveries of events only)",
            Unit::Seconds,
            self.delivery_latency.clone(),
        );
        registry.register(
            "delivery_retries_scheduled",
            "Failed attempts after which the delivery is due again",
            self.retries_scheduled.clone(),
        );
        registry.register(
            "deliveries_given_up",
            "Deliveries given up: attempts exhausted, a failed test, a 410, or their webhook disabled or deleted",
            self.given_up.clone(),
        );
        registry.register(
            "webhooks_disabled",
            "Webhooks disabled by Herald: after --disable-after-failures failures, or a 410 Gone",
            self.disabled.clone(),
        );
        registry.register(
            "mails",
            "Failure and disable mails: sent, failed (each failed try), or logged for want of --smtp-url",
            self.mails.clone(),
        );
    }

    /// What the sampler reads of the database, and the pools.
    fn register_state(&self, registry: &mut Registry) {
        registry.register(
            "queue_deliveries",
            "Deliveries queued, by status (read from the database every few seconds)",
            self.queue.clone(),
        );
        registry.register(
            "queue_due_deliveries",
            "Deliveries whose time has come but not yet sent (read every few seconds)",
            self.queue_due.clone(),
        );
        registry.register_with_unit(
            "queue_oldest_due_age",
            "How long the delivery due longest has waited past its time (0 when none is due)",
            Unit::Seconds,
            self.oldest_due_age.clone(),
        );
        registry.register(
            "webhooks",
            "Webhooks by state: ok, failing (enabled, its last attempt failed), disabled",
            self.webhooks.clone(),
        );
        registry.register(
            "db_connections",
            "Database connections of each pool, in use or idle",
            self.pools.clone(),
        );
    }

    fn register_api(&self, registry: &mut Registry) {
        registry.register(
            "http_requests",
            "API requests by method, route template and status",
            self.http_requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "How long API requests took to answer, by method and route template",
            Unit::Seconds,
            self.http_duration.clone(),
        );
    }

    /// The series of fixed label sets show from the start, at 0, so rates
    /// and alerts over them work before their first event.
    fn zero_fixed_series(&self) {
        for reason in [DisableReason::Failures, DisableReason::Gone] {
            self.disabled.get_or_create_owned(&ReasonLabels { reason });
        }
        for outcome in [MailOutcome::Sent, MailOutcome::Failed, MailOutcome::Logged] {
            self.mails.get_or_create_owned(&MailLabels { outcome });
        }
        for status in ["pending", "in_flight"] {
            self.queue.get_or_create_owned(&StatusLabels { status });
        }
        for state in ["ok", "failing", "disabled"] {
            self.webhooks.get_or_create_owned(&StateLabels { state });
        }
    }
}

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}
