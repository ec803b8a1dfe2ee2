//! The delivery engine against real receivers on loopback (§7, §9).

use std::time::Duration;

use herald::config::Settings;
use herald::domain::delivery::DeliveryStatus;
use herald::domain::node_id::node_id;
use herald::domain::time::now_millis;
use serde_json::{Value, json};

use crate::on_databases;
use crate::support::receiver::{Receiver, Reply};
use crate::support::smtp::SmtpServer;
use crate::support::{Backend, TestApp, delivery_settings, eventually};

on_databases!(
    fans_out_to_matching_enabled_webhooks_of_the_account_only,
    sends_the_contract_envelope_and_headers,
    retries_until_success_with_the_same_delivery_id,
    schedules_retries_by_the_retry_schedule,
    honours_retry_after_on_429,
    gives_up_after_max_attempts,
    disables_after_consecutive_failures_and_mails_about_it,
    a_success_resets_the_failure_count,
    gone_disables_at_once,
    redirects_are_failures_and_not_followed,
    slow_receivers_time_out,
    closed_ports_are_connection_refused,
    disabled_webhooks_get_nothing_until_enabled_again,
    test_messages_reach_disabled_webhooks,
    failure_mails_are_rate_limited_per_webhook,
    one_slow_receiver_does_not_hold_up_others,
    a_slow_webhook_holds_at_most_its_share_of_slots,
    a_timing_out_webhooks_queue_is_deferred_not_passed_over,
);

async fn app_with(backend: Backend, change: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    let mut settings = delivery_settings();
    change(&mut settings);
    TestApp::running(backend, settings).await
}

async fn fans_out_to_matching_enabled_webhooks_of_the_account_only(backend: Backend) {
    let Some(app) = app_with(backend, |_| {}).await else {
        return;
    };
    let receiver = Receiver::ok().await;
    let ours = app.admin("wdc").await;
    let theirs = app.admin("acme").await;
    for path in ["/a", "/b"] {
        app.create_webhook(
            &ours,
            json!({ "event": "request.create", "uri": receiver.url(path) }),
        )
        .await;
    }
    app.create_webhook(
        &ours,
        json!({ "event": "request.update", "uri": receiver.url("/other-event") }),
    )
    .await;
    app.create_webhook(
        &ours,
        json!({ "event": "request.create", "uri": receiver.url("/disabled"), "disabled": true }),
    )
    .await;
    app.create_webhook(
        &theirs,
        json!({ "event": "request.create", "uri": receiver.url("/other-account") }),
    )
    .await;

    let answer = app
        .publish(
            &ours,
            json!({ "event": "request.create", "object_id": 219 }),
        )
        .await;
    assert_eq!(answer["deliveries"], 2);
    let received = receiver.wait_for(2).await;
    // Give a wrong extra delivery the chance to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut paths: Vec<String> = receiver.received().iter().map(|r| r.path.clone()).collect();
    paths.sort();
    assert_eq!(paths, ["/a", "/b"], "{received:?}");
}

async fn sends_the_contract_envelope_and_headers(backend: Backend) {
    let Some(app) = app_with(backend, |_| {}).await else {
        return;
    };
    let receiver = Receiver::ok().await;
    let token = app.admin("wdc").await;
    let hook = app
        .create_webhook(
            &token,
            json!({ "event": "request.note-added", "uri": receiver.url("/hook"), "name": "Notes" }),
        )
        .await;
    app.publish(
        &token,
        json!({ "event": "request.note-added", "object_id": 219, "person_id": 8543, "person_name": "Howard Tanner",
                "payload": { "note_id": 3455, "status": "workflow_pending" },
                "links": { "canonical": "https://wdc.example.com/requests/219",
                           "resource": "https://api.example.com/v1/requests/219" } }),
    )
    .await;
    let message = receiver.wait_for(1).await.remove(0);
    let domain = "herald.test";
    assert_eq!(
        message.body,
        json!({ "webhook_id": hook["id"], "webhook_nodeID": node_id(domain, "Webhook", hook["id"].as_i64().unwrap()),
                "account_id": "wdc", "account": "https://wdc.example.com", "name": "Notes",
                "event": "request.note-added", "object_id": 219, "object_nodeID": node_id(domain, "Request", 219),
                "person_id": 8543, "person_nodeID": node_id(domain, "Person", 8543), "person_name": "Howard Tanner",
                "payload": { "note_id": 3455, "status": "workflow_pending" } })
    );
    // In the order §7 lists them.
    let keys: Vec<&str> = message
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "webhook_id",
            "webhook_nodeID",
            "account_id",
            "account",
            "name",
            "event",
            "object_id",
            "object_nodeID",
            "person_id",
            "person_nodeID",
            "person_name",
            "payload"
        ]
    );
    assert_eq!(
        message.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(message.header("user-agent"), Some("R-Service/1.0 (Herald)"));
    let delivery = message.header("x-r-service-delivery").unwrap();
    assert!(
        uuid::Uuid::parse_str(delivery).is_ok_and(|u| u.get_version_num() == 4),
        "{delivery}"
    );
    assert_eq!(
        message.header("link"),
        Some(
            "<https://wdc.example.com/requests/219>; rel=\"canonical\", <https://api.example.com/v1/requests/219>; rel=\"resource\""
        )
    );
    assert!(message.header("x-r-service-delivery-origin").is_none());

    // A system event has empty person fields and no Link header.
    app.publish(
        &token,
        json!({ "event": "request.note-added", "object_id": 220 }),
    )
    .await;
    let system = receiver.wait_for(2).await.remove(1);
    for field in ["person_id", "person_nodeID", "person_name"] {
        assert_eq!(system.body[field], Value::Null, "{field}");
    }
    assert_eq!(system.body["payload"], json!({}));
    assert!(system.header("link").is_none());
    assert_ne!(system.header("x-r-service-delivery"), Some(delivery));
}

async fn retries_until_success_with_the_same_delivery_id(backend: Backend) {
    let Some(app) = app_with(backend, |_| {}).await else {
        return;
    };
    let receiver = Receiver::scripted(|n| {
        if n < 2 {
            Reply::status(500)
        } else {
            Reply::ok()
        }
    })
    .await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    app.publish(&token, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    let received = receiver.wait_for(3).await;
    let ids: Vec<_> = received
        .iter()
        .map(|r| r.header("x-r-service-delivery").unwrap().to_string())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let delivery = app
        .newest_delivery_when("wdc", &hook, "the success to be recorded", |d| {
            d.status == DeliveryStatus::Succeeded
        })
        .await;
    assert_eq!(delivery.attempts, 3);
    assert_eq!(
        app.webhook_now(&token, &hook).await["last_error"],
        "500 Internal Server Error"
    );
    assert_eq!(app.webhook_now(&token, &hook).await["disabled"], false);
}

async fn schedules_retries_by_the_retry_schedule(backend: Backend) {
    let Some(app) = app_with(backend, |s| s.retry_schedule = Some("30s,2m".into())).await else {
        return;
    };
    let receiver = Receiver::scripted(|_| Reply::status(503)).await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    let before = now_millis();
    app.publish(&token, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    let delivery = app
        .newest_delivery_when("wdc", &hook, "the failed attempt to be recorded", |d| {
            d.attempts == 1
        })
        .await;
    let after = now_millis();
    assert_eq!(delivery.status, DeliveryStatus::Pending);
    assert_eq!(
        delivery.last_error.as_deref(),
        Some("503 Service Unavailable")
    );
    // 30 s ± 20 %.
    assert!(
        delivery.next_attempt_at >= before + 24_000,
        "{}",
        delivery.next_attempt_at - before
    );
    assert!(
        delivery.next_attempt_at <= after + 36_000,
        "{}",
        delivery.next_attempt_at - after
    );
    assert_eq!(receiver.count(), 1);
}

async fn honours_retry_after_on_429(backend: Backend) {
    let Some(app) = app_with(backend, |_| {}).await else {
        return;
    };
    let receiver = Receiver::scripted(|_| Reply::status(429).header("retry-after", "120")).await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    let before = now_millis();
    app.publish(&token, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    let delivery = app
        .newest_delivery_when("wdc", &hook, "the failed attempt to be recorded", |d| {
            d.attempts == 1
        })
        .await;
    assert_eq!(
        delivery.last_error.as_deref(),
        Some("429 Too Many Requests")
    );
    let wait = delivery.next_attempt_at - before;
    assert!((119_000..=125_000).contains(&wait), "{wait}");
}

async fn gives_up_after_max_attempts(backend: Backend) {
    let Some(app) = app_with(backend, |s| s.max_attempts = Some(3)).await else {
        return;
    };
    let receiver = Receiver::scripted(|_| Reply::status(500)).await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    app.publish(&token, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    let delivery = app.given_up("wdc", &hook).await;
    assert_eq!(delivery.attempts, 3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.count(), 3);
}

async fn disables_after_consecutive_failures_and_mails_about_it(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let Some(app) = app_with(backend, |s| {
        s.disable_after_failures = Some(3);
        s.smtp_url = Some(smtp.url());
        s.mail_from = Some("Herald <herald@example.com>".into());
    })
    .await
    else {
        return;
    };
    let receiver = Receiver::scripted(|_| Reply::status(500)).await;
    let token = app.admin_with_email("wdc", "boss@example.com").await;
    let hook = app.task_hook(&token, &receiver).await;
    app.publish(&token, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    let shown = disabled(&app, &token, &hook).await;
    assert_eq!(shown["last_error"], "500 Internal Server Error");
    let delivery = app.given_up("wdc", &hook).await;
    assert_eq!(delivery.attempts, 3);
    assert_eq!(receiver.count(), 3);
    let mails = eventually("two mails", || async {
        let mails = smtp.messages();
        (mails.len() >= 2).then_some(mails)
    })
    .await;
    assert_eq!(
        mails.len(),
        2,
        "one failure mail (then the interval), one disable mail"
    );
    assert!(mails.iter().all(|m| m.to == ["boss@example.com"]));
    assert!(mails.iter().all(|m| m.from.contains("herald@example.com")));
    let failure = mails
        .iter()
        .find(|m| m.data.contains("failed: 500"))
        .expect("a failure mail");
    assert!(failure.data.contains(&receiver.url("/")));
    let disabled = mails
        .iter()
        .find(|m| m.data.contains("was disabled"))
        .expect("a disable mail");
    assert!(disabled.data.contains("\"disabled\": false"));
    assert!(disabled.data.contains("wdc"));
}

/// Only consecutive failures count toward disabling: two failures, a
/// success, then two more leave a webhook that disables after three
/// enabled.
async fn a_success_resets_the_failure_count(backend: Backend) {
    let Some(app) = app_with(backend, |s| s.disable_after_failures = Some(3)).await else {
        return;
    };
    let receiver = Receiver::scripted(|n| {
        if n % 3 < 2 {
            Reply::status(500)
        } else {
            Reply::ok()
        }
    })
    .await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    for object_id in 1..=2 {
        app.publish(
            &token,
            json!({ "event": "task.update", "object_id": object_id }),
        )
        .await;
        let delivery = app
            .newest_delivery_when("wdc", &hook, "the success to be recorded", |d| {
                d.status == DeliveryStatus::Succeeded
            })
            .await;
        assert_eq!((delivery.object_id, delivery.attempts), (object_id, 3));
    }
    assert_eq!(receiver.count(), 6);
    assert_eq!(app.webhook_now(&token, &hook).await["disabled"], false);
}

async fn gone_disables_at_once(backend: Backend) {
    let Some(app) = app_with(backend, |_| {}).await else {
        return;
    };
    let receiver = Receiver::scripted(|_| Reply::status(410)).await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    app.publish(&token, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    let shown = disabled(&app, &token, &hook).await;
    assert_eq!(shown["last_error"], "410 Gone");
    let delivery = app.deliveries("wdc", &hook).await.remove(0);
    assert_eq!(
        (delivery.status, delivery.attempts),
        (DeliveryStatus::GivenUp, 1)
    );
}

async fn redirects_are_failures_and_not_followed(backend: Backend) {
    let Some(app) = app_with(backend, |s| s.max_attempts = Some(1)).await else {
        return;
    };
    let target = Receiver::ok().await;
    let location = target.url("/moved");
    let receiver =
        Receiver::scripted(move |_| Reply::status(302).header("location", location.clone())).await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    app.publish(&token, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    let delivery = app.given_up("wdc", &hook).await;
    assert_eq!(delivery.last_error.as_deref(), Some("302 Found"));
    assert_eq!(target.count(), 0);
}

async fn slow_receivers_time_out(backend: Backend) {
    let Some(app) = app_with(backend, |s| {
        s.delivery_timeout = Some("300ms".into());
        s.max_attempts = Some(1);
    })
    .await
    else {
        return;
    };
    let receiver = Receiver::scripted(|_| Reply::ok().after(Duration::from_secs(3))).await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    app.publish(&token, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    let delivery = app.given_up("wdc", &hook).await;
    assert_eq!(delivery.last_error.as_deref(), Some("timeout after 300ms"));
}

async fn closed_ports_are_connection_refused(backend: Backend) {
    let Some(app) = app_with(backend, |s| s.max_attempts = Some(1)).await else {
        return;
    };
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let token = app.admin("wdc").await;
    let hook = app
        .create_webhook(
            &token,
            json!({ "event": "task.update", "uri": format!("http://{closed}/") }),
        )
        .await;
    app.publish(&token, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    let delivery = app.given_up("wdc", &hook).await;
    assert_eq!(delivery.last_error.as_deref(), Some("connection refused"));
}

async fn disabled_webhooks_get_nothing_until_enabled_again(backend: Backend) {
    let Some(app) = app_with(backend, |_| {}).await else {
        return;
    };
    let receiver = Receiver::ok().await;
    let token = app.admin("wdc").await;
    let hook = app
        .create_webhook(
            &token,
            json!({ "event": "task.update", "uri": receiver.url("/"), "disabled": true }),
        )
        .await;
    let answer = app
        .publish(&token, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    assert_eq!(answer["deliveries"], 0);
    let path = format!("/v1/webhooks/{}", hook["id"]);
    app.patch(&path, &token, json!({ "disabled": false })).await;
    app.publish(&token, json!({ "event": "task.update", "object_id": 2 }))
        .await;
    let received = receiver.wait_for(1).await;
    assert_eq!(received[0].body["object_id"], 2);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.count(), 1);
}

async fn test_messages_reach_disabled_webhooks(backend: Backend) {
    let Some(app) = app_with(backend, |_| {}).await else {
        return;
    };
    let receiver = Receiver::ok().await;
    let token = app.admin("wdc").await;
    let hook = app
        .create_webhook(
            &token,
            json!({ "event": "problem.update", "uri": receiver.url("/"), "disabled": true }),
        )
        .await;
    let response = app
        .post(
            &format!("/v1/webhooks/{}/test", hook["id"]),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(response.status, axum::http::StatusCode::NO_CONTENT);
    let message = receiver.wait_for(1).await.remove(0);
    assert_eq!(message.body["object_id"], 12345);
    assert_eq!(message.body["event"], "problem.update");
    assert_eq!(message.body["webhook_id"], hook["id"]);
}

async fn failure_mails_are_rate_limited_per_webhook(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let Some(app) = app_with(backend, |s| {
        s.smtp_url = Some(smtp.url());
        s.max_attempts = Some(1);
    })
    .await
    else {
        return;
    };
    let receiver = Receiver::scripted(|_| Reply::status(500)).await;
    let token = app.admin("wdc").await;
    let hook = app
        .create_webhook(
            &token,
            json!({ "event": "task.update", "uri": receiver.url("/"), "mail_exceptions_to": "ops@example.com,dev@example.com" }),
        )
        .await;
    for object_id in 1..=3 {
        app.publish(
            &token,
            json!({ "event": "task.update", "object_id": object_id }),
        )
        .await;
        eventually("the attempt to be recorded", || async {
            let given_up = app
                .deliveries("wdc", &hook)
                .await
                .iter()
                .filter(|d| d.status == DeliveryStatus::GivenUp)
                .count();
            (given_up == object_id as usize).then_some(())
        })
        .await;
    }
    let mails = eventually("a mail", || async {
        let mails = smtp.messages();
        (!mails.is_empty()).then_some(mails)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        smtp.messages().len(),
        1,
        "one failure mail per 20 minutes: {mails:?}"
    );
    assert_eq!(mails[0].to, ["ops@example.com", "dev@example.com"]);
}

async fn one_slow_receiver_does_not_hold_up_others(backend: Backend) {
    let Some(app) = app_with(backend, |s| s.delivery_concurrency = Some(8)).await else {
        return;
    };
    let slow = Receiver::scripted(|_| Reply::ok().after(Duration::from_secs(3))).await;
    let fast = Receiver::ok().await;
    let token = app.admin("wdc").await;
    app.create_webhook(
        &token,
        json!({ "event": "task.update", "uri": slow.url("/") }),
    )
    .await;
    app.create_webhook(
        &token,
        json!({ "event": "task.update", "uri": fast.url("/") }),
    )
    .await;
    for object_id in 0..4 {
        app.publish(
            &token,
            json!({ "event": "task.update", "object_id": object_id }),
        )
        .await;
    }
    // All four reach the fast receiver while the slow one still holds its
    // four attempts open.
    fast.wait_for(4).await;
    assert!(slow.count() <= 4);
}

/// More deliveries to a slow webhook than the engine has slots: the slow
/// webhook gets its share (2 of 8), the rest wait, and the fast webhook's
/// deliveries all go out meanwhile.
async fn a_slow_webhook_holds_at_most_its_share_of_slots(backend: Backend) {
    let Some(app) = app_with(backend, |s| {
        s.delivery_concurrency = Some(8);
        s.delivery_concurrency_per_webhook = Some(2);
    })
    .await
    else {
        return;
    };
    let slow = Receiver::scripted(|_| Reply::ok().after(Duration::from_secs(3))).await;
    let fast = Receiver::ok().await;
    let token = app.admin("wdc").await;
    for receiver in [&slow, &fast] {
        app.task_hook(&token, receiver).await;
    }
    let events: Vec<Value> = (0..12)
        .map(|i| json!({ "event": "task.update", "object_id": i }))
        .collect();
    app.publish(&token, Value::Array(events)).await;
    fast.wait_for(12).await;
    assert!(slow.count() <= 2, "{} at the slow receiver", slow.count());
    // The slow webhook's waiting deliveries go out too, two at a time.
    slow.wait_for(4).await;
}

/// A webhook whose attempts keep timing out, at its limit (1 slot of 3 once
/// failing): its queued deliveries are moved to when its slot is likely free
/// (one attempt time, 1.5 s, later), so claims do not pass over them
/// meanwhile. By claims alone, at most the few one took beyond the
/// webhook's line would be.
async fn a_timing_out_webhooks_queue_is_deferred_not_passed_over(backend: Backend) {
    let Some(app) = app_with(backend, |s| {
        s.delivery_timeout = Some("1500ms".into());
        s.delivery_concurrency = Some(3);
        s.delivery_concurrency_per_webhook = Some(3);
    })
    .await
    else {
        return;
    };
    let hanging = Receiver::scripted(|_| Reply::ok().after(Duration::from_secs(10))).await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &hanging).await;
    let publish = |from: i64, n: i64| {
        let events: Vec<Value> = (from..from + n)
            .map(|i| json!({ "event": "task.update", "object_id": i }))
            .collect();
        app.publish(&token, Value::Array(events))
    };
    // Three attempts time out: the webhook is failing. Then 100 more wait,
    // going out one per attempt time.
    publish(0, 3).await;
    hanging.wait_for(3).await;
    publish(3, 100).await;
    eventually("the queued deliveries to be deferred", || async {
        let now = now_millis();
        let deferred = app
            .deliveries("wdc", &hook)
            .await
            .iter()
            .filter(|d| {
                d.object_id >= 3
                    && d.attempts == 0
                    && d.status == DeliveryStatus::Pending
                    && d.next_attempt_at > now
            })
            .count();
        (deferred >= 50).then_some(())
    })
    .await;
}

/// Waits until the webhook shows `disabled: true`; returns it.
async fn disabled(app: &TestApp, token: &str, hook: &Value) -> Value {
    eventually("the webhook to be disabled", || async {
        let shown = app.webhook_now(token, hook).await;
        (shown["disabled"] == true).then_some(shown)
    })
    .await
}
