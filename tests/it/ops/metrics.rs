//! Prometheus metrics at `--metrics-listen`: each moves when its event
//! happens, label sets stay bounded, and the listener needs no token.

use std::time::Duration;

use herald::config::Settings;
use serde_json::json;

use crate::on_databases;
use crate::support::receiver::{Receiver, Reply};
use crate::support::smtp::SmtpServer;
use crate::support::{Backend, TestApp};

/// Quick deliveries to 127.0.0.1 only (127.0.0.2 is refused by the SSRF
/// guard), two attempts each, two failures disable.
fn settings() -> Settings {
    Settings {
        allow_target: Some(vec!["127.0.0.1/32".into()]),
        require_verification: Some(false),
        retry_schedule: Some("50ms".into()),
        delivery_timeout: Some("1s".into()),
        max_attempts: Some(2),
        disable_after_failures: Some(2),
        rate_limit: Some(0),
        ..Settings::default()
    }
}

/// A port on loopback nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn every_delivery_metric_moves_with_its_event(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let settings = Settings {
        smtp_url: Some(smtp.url()),
        ..settings()
    };
    let Some(app) = TestApp::start(backend, settings).await else {
        return;
    };
    let token = app.admin_with_email("wdc", "ops@example.com").await;
    let receivers = [
        Receiver::ok().await,
        Receiver::scripted(|_| Reply::status(500)).await,
        Receiver::scripted(|_| Reply::status(404)).await,
        Receiver::scripted(|_| Reply::status(302).header("location", "http://127.0.0.1:9/")).await,
        Receiver::scripted(|_| Reply::status(410)).await,
        Receiver::scripted(|_| Reply::ok().after(Duration::from_secs(3))).await,
    ];
    let mut uris: Vec<String> = receivers.iter().map(|r| r.url("/")).collect();
    uris.push(format!("http://127.0.0.1:{}/", closed_port()));
    for uri in uris {
        app.create_webhook(&token, json!({ "event": "task.update", "uri": uri }))
            .await;
    }
    // The API refuses 127.0.0.2 too: made where it is allowed.
    let permissive = app.with_settings(|s| {
        s.allow_private_targets = Some(true);
        s.require_verification = Some(false);
    });
    permissive
        .create_webhook(
            &token,
            json!({ "event": "task.update", "uri": "http://127.0.0.2:9/" }),
        )
        .await;
    let herald = app.observe().await;
    let before = herald.scrape().await;
    assert_eq!(before.value("herald_events_published_total", &[]), 0.0);

    let (status, answer) = herald
        .post(
            "/v1/events",
            &token,
            json!({ "event": "task.update", "object_id": 7 }),
        )
        .await;
    assert_eq!((status, answer["deliveries"].as_i64()), (202, Some(8)));

    // Each of the 7 failing webhooks is tried twice (once for the 410) and
    // disabled; 14 attempts in all.
    let attempts = "herald_delivery_attempts_total";
    let done = herald
        .metric_reaches("herald_delivery_attempt_duration_seconds_count", &[], 14.0)
        .await;
    for (outcome, count) in [
        ("2xx", 1.0),
        ("3xx", 2.0),
        ("4xx", 3.0),
        ("5xx", 2.0),
        ("timeout", 2.0),
        ("connect_error", 2.0),
        ("refused", 2.0),
        ("other", 0.0),
    ] {
        assert_eq!(
            done.value(attempts, &[("outcome", outcome)]),
            count,
            "{outcome}"
        );
    }
    assert_eq!(done.value("herald_events_published_total", &[]), 1.0);
    assert_eq!(done.value("herald_deliveries_created_total", &[]), 8.0);
    assert_eq!(
        done.value("herald_delivery_latency_seconds_count", &[]),
        1.0
    );
    assert_eq!(
        done.value("herald_delivery_retries_scheduled_total", &[]),
        6.0
    );
    let settled = herald
        .metric_reaches("herald_deliveries_given_up_total", &[], 7.0)
        .await;
    let disabled = "herald_webhooks_disabled_total";
    assert_eq!(settled.value(disabled, &[("reason", "gone")]), 1.0);
    let by_failures = herald
        .metric_reaches(disabled, &[("reason", "failures")], 6.0)
        .await;
    assert_eq!(
        by_failures.value(
            "herald_http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/v1/events"),
                ("status", "202")
            ]
        ),
        1.0
    );
    // A failure mail and a disable mail for each failing webhook.
    herald
        .metric_reaches("herald_mails_total", &[("outcome", "sent")], 14.0)
        .await;
    assert_eq!(smtp.messages().len(), 14);
    // The sampler's reads of the database.
    herald
        .metric_reaches("herald_webhooks", &[("state", "disabled")], 7.0)
        .await;
    let sampled = herald
        .metric_reaches("herald_webhooks", &[("state", "ok")], 1.0)
        .await;
    assert_eq!(sampled.value("herald_queue_deliveries", &[]), 0.0);
    assert!(sampled.value("herald_db_connections", &[]) >= 1.0);
}

async fn queue_gauges_show_what_waits_and_for_how_long(backend: Backend) {
    // An API-only process: nothing delivers, so what is published waits.
    let settings = Settings {
        role: Some("api".into()),
        ..settings()
    };
    let Some(app) = TestApp::start(backend, settings).await else {
        return;
    };
    let token = app.admin("wdc").await;
    app.create_webhook(
        &token,
        json!({ "event": "task.update", "uri": "http://127.0.0.1:9/" }),
    )
    .await;
    let herald = app.observe().await;
    let empty = herald.scrape().await;
    assert_eq!(empty.value("herald_queue_oldest_due_age_seconds", &[]), 0.0);
    for object in 1..=3 {
        let (status, _) = herald
            .post(
                "/v1/events",
                &token,
                json!({ "event": "task.update", "object_id": object }),
            )
            .await;
        assert_eq!(status, 202);
    }
    let queued = herald
        .metric_reaches("herald_queue_deliveries", &[("status", "pending")], 3.0)
        .await;
    assert_eq!(
        queued.value("herald_queue_deliveries", &[("status", "in_flight")]),
        0.0
    );
    assert_eq!(queued.value("herald_queue_due_deliveries", &[]), 3.0);
    crate::support::eventually("the oldest due delivery to age", || async {
        let age = herald
            .scrape()
            .await
            .value("herald_queue_oldest_due_age_seconds", &[]);
        (age > 0.0).then_some(())
    })
    .await;
}

/// The sampler's read: a leased delivery is in flight until its lease
/// runs out, then due again.
async fn queue_stats_count_leases_as_in_flight_until_they_run_out(app: TestApp) {
    let app = app.with_settings(|s| s.require_verification = Some(false));
    let token = app.admin("wdc").await;
    app.webhook(&token, "task.update").await;
    for object in 1..=3 {
        app.publish(
            &token,
            json!({ "event": "task.update", "object_id": object }),
        )
        .await;
    }
    let now = herald::domain::time::now_millis() + 1;
    let lease_end = now + 60_000;
    let claimed = app
        .store
        .claim_due("w:1", now, lease_end, 2, &[])
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let leased = app.store.queue_stats(now).await.unwrap();
    assert_eq!((leased.pending, leased.in_flight, leased.due), (1, 2, 1));
    assert!(leased.oldest_due_ms.is_some_and(|at| at <= now));
    let after = app.store.queue_stats(lease_end + 1).await.unwrap();
    assert_eq!((after.pending, after.in_flight, after.due), (3, 0, 3));
    let before_any = app.store.queue_stats(0).await.unwrap();
    assert_eq!((before_any.due, before_any.oldest_due_ms), (0, None));
}

async fn per_webhook_series_exist_only_when_asked_for(backend: Backend) {
    for per_webhook in [false, true] {
        let settings = Settings {
            metrics_per_webhook: Some(per_webhook),
            ..settings()
        };
        let Some(app) = TestApp::start(backend, settings).await else {
            return;
        };
        let token = app.admin("wdc").await;
        let receiver = Receiver::ok().await;
        let hook = app.task_hook(&token, &receiver).await;
        let herald = app.observe().await;
        herald
            .post(
                "/v1/events",
                &token,
                json!({ "event": "task.update", "object_id": 1 }),
            )
            .await;
        let scrape = herald
            .metric_reaches("herald_delivery_attempts_total", &[("outcome", "2xx")], 1.0)
            .await;
        let series = "herald_webhook_delivery_attempts_total";
        let id = hook["id"].to_string();
        let expected = if per_webhook { 1.0 } else { 0.0 };
        assert_eq!(
            scrape.value(series, &[("webhook_id", &id), ("outcome", "2xx")]),
            expected
        );
        assert_eq!(scrape.has_label(series, "webhook_id"), per_webhook);
    }
}

async fn api_requests_are_counted_by_route_template_not_path(backend: Backend) {
    let Some(app) = TestApp::start(backend, settings()).await else {
        return;
    };
    let token = app.admin("wdc").await;
    let herald = app.observe().await;
    for path in ["/v1/webhooks/1", "/v1/webhooks/2", "/no/such/path/3"] {
        let answer = herald
            .client
            .get(herald.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 404);
    }
    let scrape = herald
        .metric_reaches(
            "herald_http_requests_total",
            &[("route", "/v1/webhooks/{id}"), ("status", "404")],
            2.0,
        )
        .await;
    assert_eq!(
        scrape.value("herald_http_requests_total", &[("route", "unmatched")]),
        1.0
    );
    assert!(
        !scrape.text.contains("/v1/webhooks/1\""),
        "a path became a label"
    );
    assert_eq!(
        scrape.value(
            "herald_http_request_duration_seconds_count",
            &[("route", "/v1/webhooks/{id}")]
        ),
        2.0
    );
}

async fn failed_and_unsendable_mails_are_counted(backend: Backend) {
    for (smtp_url, outcome) in [
        (
            Some(format!("smtp://127.0.0.1:{}", closed_port())),
            "failed",
        ),
        (None, "logged"),
    ] {
        let settings = Settings {
            smtp_url,
            max_attempts: Some(1),
            ..settings()
        };
        let Some(app) = TestApp::start(backend, settings).await else {
            return;
        };
        let token = app.admin_with_email("wdc", "ops@example.com").await;
        let failing = Receiver::scripted(|_| Reply::status(500)).await;
        app.task_hook(&token, &failing).await;
        let herald = app.observe().await;
        herald
            .post(
                "/v1/events",
                &token,
                json!({ "event": "task.update", "object_id": 1 }),
            )
            .await;
        herald
            .metric_reaches("herald_mails_total", &[("outcome", outcome)], 1.0)
            .await;
    }
}

async fn the_operators_listener_needs_no_token_and_the_api_port_has_no_metrics(backend: Backend) {
    let Some(app) = TestApp::start(backend, settings()).await else {
        return;
    };
    let herald = app.observe().await;
    for path in ["/metrics", "/healthz", "/readyz"] {
        let answer = herald
            .client
            .get(herald.ops_url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        assert!(answer.headers().contains_key("x-request-id"), "{path}");
    }
    let unknown = herald
        .client
        .get(herald.ops_url("/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let on_api = herald
        .client
        .get(herald.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(on_api.status(), 404);
}

on_databases!(
    every_delivery_metric_moves_with_its_event,
    queue_gauges_show_what_waits_and_for_how_long,
    per_webhook_series_exist_only_when_asked_for,
    api_requests_are_counted_by_route_template_not_path,
    failed_and_unsendable_mails_are_counted,
    the_operators_listener_needs_no_token_and_the_api_port_has_no_metrics,
);

on_databases!(queue_stats_count_leases_as_in_flight_until_they_run_out);
