//! Delivery history, redelivery, recovery and retention (§10).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use herald::domain::Role;
use herald::domain::delivery::DeliveryStatus;
use herald::domain::time::{format_epoch, now_epoch};
use serde_json::{Value, json};

use crate::on_databases;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{Backend, TestApp, delivery_settings, eventually};

on_databases!(
    history_shows_every_attempt_with_its_answer,
    lists_filter_by_status_newest_first,
    long_response_bodies_are_cut_at_16_kib,
    many_large_response_headers_are_cut_at_16_kib,
    redelivery_sends_the_message_again_with_an_origin,
    recover_redelivers_each_lost_message_once,
    retention_removes_only_finished_deliveries,
    disabling_a_webhook_gives_up_its_queued_events,
    binary_answers_and_verify_codes_are_stored_safely,
    history_is_for_administrators_of_the_account,
);

async fn app_with(
    backend: Backend,
    change: impl FnOnce(&mut herald::config::Settings),
) -> Option<TestApp> {
    let mut settings = delivery_settings();
    change(&mut settings);
    TestApp::running(backend, settings).await
}

async fn history_shows_every_attempt_with_its_answer(backend: Backend) {
    let Some(app) = app_with(backend, |_| {}).await else {
        return;
    };
    let receiver = Receiver::scripted(|n| {
        if n < 2 {
            Reply::status(500).header("x-reason", "busy")
        } else {
            Reply::ok()
        }
    })
    .await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    app.publish(
        &token,
        json!({ "event": "task.update", "object_id": 7, "payload": { "a": 1 } }),
    )
    .await;
    let delivery = app
        .newest_delivery_when("wdc", &hook, "success", |d| {
            d.status == DeliveryStatus::Succeeded
        })
        .await;
    let shown = app
        .get(&format!("/v1/webhook_deliveries/{}", delivery.id), &token)
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    let body = shown.body;
    assert_eq!(body["status"], "succeeded");
    assert_eq!(body["attempts"], 3);
    assert_eq!(body["event"], "task.update");
    assert_eq!(body["object_id"], 7);
    assert_eq!(body["kind"], "event");
    assert_eq!(body["next_attempt_at"], Value::Null);
    assert_eq!(
        body["uuid"],
        receiver.received()[0]
            .header("x-r-service-delivery")
            .unwrap()
    );
    assert_eq!(
        body["message"],
        receiver.received()[2].body,
        "the message as sent"
    );
    let history = body["history"].as_array().unwrap();
    assert_eq!(history.len(), 3);
    let statuses: Vec<&Value> = history.iter().map(|a| &a["response_status"]).collect();
    assert_eq!(statuses, [&json!(500), &json!(500), &json!(200)]);
    assert_eq!(history[0]["error"], "500 Internal Server Error");
    assert_eq!(history[0]["response_headers"]["x-reason"], "busy");
    assert_eq!(history[2]["error"], Value::Null);
    for (i, attempt) in history.iter().enumerate() {
        assert_eq!(attempt["number"], i + 1);
        assert_eq!(attempt["trigger"], "automatic");
        assert_eq!(attempt["ip"], "127.0.0.1");
        assert!(attempt["duration_ms"].as_i64().unwrap() >= 0);
        assert_eq!(attempt["response_body_truncated"], false);
        assert!(attempt["started_at"].as_str().unwrap().ends_with("+00:00"));
    }
}

async fn lists_filter_by_status_newest_first(backend: Backend) {
    let Some(app) = app_with(backend, |s| s.max_attempts = Some(1)).await else {
        return;
    };
    let failing = Arc::new(AtomicBool::new(false));
    let flag = failing.clone();
    let receiver = Receiver::scripted(move |_| {
        if flag.load(Ordering::SeqCst) {
            Reply::status(404)
        } else {
            Reply::ok()
        }
    })
    .await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    app.publish(&token, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    receiver.wait_for(1).await;
    app.newest_delivery_when("wdc", &hook, "a success", |d| {
        d.status == DeliveryStatus::Succeeded
    })
    .await;
    failing.store(true, Ordering::SeqCst);
    app.publish(&token, json!({ "event": "task.update", "object_id": 2 }))
        .await;
    app.given_up("wdc", &hook).await;

    let path = format!("/v1/webhooks/{}/deliveries", hook["id"]);
    let all = app.get(&path, &token).await;
    assert_eq!(all.status, StatusCode::OK);
    let list = all.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["object_id"], 2, "newest first");
    let keys: Vec<&String> = list[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "event",
            "object_id",
            "status",
            "attempts",
            "created_at",
            "updated_at"
        ]
    );
    assert_eq!(all.header("x-pagination-total-entries"), "2");
    let given_up = app
        .get(&format!("{path}?status=given_up&fields=last_error"), &token)
        .await
        .body;
    assert_eq!(given_up.as_array().unwrap().len(), 1);
    assert_eq!(given_up[0]["last_error"], "404 Not Found");
    let done = app
        .get(&format!("{path}?status=succeeded,given_up&sort=id"), &token)
        .await
        .body;
    assert_eq!(done[0]["object_id"], 1);
    assert_eq!(
        app.get(&format!("{path}?status=pending"), &token)
            .await
            .body,
        json!([])
    );
    let today = &format_epoch(now_epoch())[..10];
    assert_eq!(
        app.get(
            &format!("{path}?created_at={today}&event=task.update"),
            &token
        )
        .await
        .body
        .as_array()
        .unwrap()
        .len(),
        2
    );
    assert_eq!(
        app.get(&format!("{path}?status=lost"), &token).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get(&format!("{path}?colour=red"), &token).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/v1/webhooks/999999/deliveries", &token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn long_response_bodies_are_cut_at_16_kib(backend: Backend) {
    let Some(app) = app_with(backend, |_| {}).await else {
        return;
    };
    let big = "x".repeat(20 * 1024);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = axum::Router::new().fallback(move || {
        let big = big.clone();
        async move { big }
    });
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let token = app.admin("wdc").await;
    let hook = app
        .create_webhook(
            &token,
            json!({ "event": "task.update", "uri": format!("http://{address}/") }),
        )
        .await;
    app.publish(&token, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    let delivery = app
        .newest_delivery_when("wdc", &hook, "success", |d| {
            d.status == DeliveryStatus::Succeeded
        })
        .await;
    let body = app
        .get(&format!("/v1/webhook_deliveries/{}", delivery.id), &token)
        .await
        .body;
    let attempt = &body["history"][0];
    assert_eq!(attempt["response_body"].as_str().unwrap().len(), 16 * 1024);
    assert_eq!(attempt["response_body_truncated"], true);
    server.abort();
}

async fn many_large_response_headers_are_cut_at_16_kib(backend: Backend) {
    let Some(app) = app_with(backend, |_| {}).await else {
        return;
    };
    let receiver = Receiver::scripted(|_| {
        (0..95).fold(Reply::ok(), |reply, i| {
            reply.header(format!("x-h{i}"), "v".repeat(4000))
        })
    })
    .await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    app.publish(&token, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    let delivery = app
        .newest_delivery_when("wdc", &hook, "success", |d| {
            d.status == DeliveryStatus::Succeeded
        })
        .await;
    let body = app
        .get(&format!("/v1/webhook_deliveries/{}", delivery.id), &token)
        .await
        .body;
    let attempt = &body["history"][0];
    assert_eq!(attempt["response_headers_truncated"], true);
    let headers = attempt["response_headers"].as_object().unwrap();
    let stored: usize = headers
        .iter()
        .map(|(name, value)| name.len() + value.as_str().unwrap().len())
        .sum();
    assert!(stored <= 16 * 1024, "{stored} bytes of headers stored");
    assert!(!headers.is_empty());
    // A few small headers are kept whole.
    let small = Receiver::scripted(|_| Reply::ok().header("x-small", "1")).await;
    let hook = app
        .create_webhook(
            &token,
            json!({ "event": "request.create", "uri": small.url("/") }),
        )
        .await;
    app.publish(&token, json!({ "event": "request.create", "object_id": 1 }))
        .await;
    let delivery = app
        .newest_delivery_when("wdc", &hook, "success", |d| {
            d.status == DeliveryStatus::Succeeded
        })
        .await;
    let body = app
        .get(&format!("/v1/webhook_deliveries/{}", delivery.id), &token)
        .await
        .body;
    assert_eq!(body["history"][0]["response_headers_truncated"], false);
    assert_eq!(body["history"][0]["response_headers"]["x-small"], "1");
}

async fn redelivery_sends_the_message_again_with_an_origin(backend: Backend) {
    let Some(app) = app_with(backend, |s| s.retry_schedule = Some("1h".into())).await else {
        return;
    };
    let failing = Arc::new(AtomicBool::new(false));
    let flag = failing.clone();
    let receiver = Receiver::scripted(move |_| {
        if flag.load(Ordering::SeqCst) {
            Reply::status(500)
        } else {
            Reply::ok()
        }
    })
    .await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    app.publish(&token, json!({ "event": "task.update", "object_id": 5 }))
        .await;
    let first = app
        .newest_delivery_when("wdc", &hook, "success", |d| {
            d.status == DeliveryStatus::Succeeded
        })
        .await;

    let response = app
        .post(
            &format!("/v1/webhook_deliveries/{}/redeliver", first.id),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.body);
    assert_ne!(response.body["id"], first.id);
    assert_eq!(response.body["origin"], first.uuid);
    assert_ne!(response.body["uuid"], first.uuid);
    let received = receiver.wait_for(2).await;
    assert_eq!(received[1].body, received[0].body, "the same message");
    assert_eq!(
        received[1].header("x-r-service-delivery"),
        response.body["uuid"].as_str()
    );
    assert_eq!(
        received[1].header("x-r-service-delivery-origin"),
        Some(first.uuid.as_str())
    );
    let again = app
        .newest_delivery_when("wdc", &hook, "the redelivery", |d| {
            d.status == DeliveryStatus::Succeeded
        })
        .await;
    let shown = app
        .get(&format!("/v1/webhook_deliveries/{}", again.id), &token)
        .await
        .body;
    assert_eq!(shown["history"][0]["trigger"], "redelivery");

    // A redelivery of a redelivery keeps the first uuid as its origin.
    let second = app
        .post(
            &format!("/v1/webhook_deliveries/{}/redeliver", again.id),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(second.body["origin"], first.uuid);

    // Unfinished deliveries cannot be redelivered.
    failing.store(true, Ordering::SeqCst);
    app.publish(&token, json!({ "event": "task.update", "object_id": 6 }))
        .await;
    let waiting = app
        .newest_delivery_when("wdc", &hook, "a failed attempt", |d| {
            d.object_id == 6 && d.attempts == 1
        })
        .await;
    assert_eq!(waiting.status, DeliveryStatus::Pending);
    let refused = app
        .post(
            &format!("/v1/webhook_deliveries/{}/redeliver", waiting.id),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(refused.error_fields(), ["status"]);
    let missing = app
        .post("/v1/webhook_deliveries/999999/redeliver", &token, json!({}))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

async fn recover_redelivers_each_lost_message_once(backend: Backend) {
    let Some(app) = app_with(backend, |s| s.max_attempts = Some(1)).await else {
        return;
    };
    let failing = Arc::new(AtomicBool::new(true));
    let flag = failing.clone();
    let receiver = Receiver::scripted(move |_| {
        if flag.load(Ordering::SeqCst) {
            Reply::status(503)
        } else {
            Reply::ok()
        }
    })
    .await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    let given_up = |n: usize| {
        let app = app.clone();
        let hook = hook.clone();
        async move {
            eventually(&format!("{n} given up"), || async {
                let count = app
                    .deliveries("wdc", &hook)
                    .await
                    .iter()
                    .filter(|d| d.status == DeliveryStatus::GivenUp)
                    .count();
                (count == n).then_some(())
            })
            .await
        }
    };
    for object_id in [1, 2] {
        app.publish(
            &token,
            json!({ "event": "task.update", "object_id": object_id }),
        )
        .await;
    }
    given_up(2).await;
    // A failed manual redelivery: the same message is given up twice.
    let first = app
        .deliveries("wdc", &hook)
        .await
        .into_iter()
        .find(|d| d.object_id == 1)
        .unwrap();
    app.post(
        &format!("/v1/webhook_deliveries/{}/redeliver", first.id),
        &token,
        json!({}),
    )
    .await;
    given_up(3).await;

    failing.store(false, Ordering::SeqCst);
    let path = format!("/v1/webhooks/{}/recover", hook["id"]);
    let since = format_epoch(now_epoch() - 3600);
    let response = app.post(&path, &token, json!({ "since": since })).await;
    assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.body);
    assert_eq!(
        response.body,
        json!({ "queued": 2 }),
        "each lost message once"
    );
    let received = eventually("the recovered messages", || async {
        let ok: Vec<_> = receiver
            .received()
            .into_iter()
            .filter(|r| r.header("x-r-service-delivery-origin").is_some())
            .collect();
        (ok.len() >= 3).then_some(ok)
    })
    .await;
    let mut objects: Vec<i64> = received
        .iter()
        .filter_map(|r| r.body["object_id"].as_i64())
        .collect();
    objects.sort();
    assert_eq!(
        objects,
        [1, 1, 2],
        "the failed manual redelivery and the two recovered"
    );
    app.newest_delivery_when("wdc", &hook, "recoveries done", |d| {
        d.status == DeliveryStatus::Succeeded
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = app.post(&path, &token, json!({ "since": since })).await;
    assert_eq!(
        again.body,
        json!({ "queued": 0 }),
        "delivered messages are not sent again"
    );

    let past = app
        .post(
            &path,
            &token,
            json!({ "since": "2001-01-01", "until": "2001-01-02" }),
        )
        .await;
    assert_eq!(past.body, json!({ "queued": 0 }));
    assert_eq!(
        app.post(&path, &token, json!({})).await.error_fields(),
        ["since"]
    );
    assert_eq!(
        app.post(&path, &token, json!({ "since": "soon" }))
            .await
            .error_fields(),
        ["since"]
    );
    let backwards = app
        .post(
            &path,
            &token,
            json!({ "since": "2020-01-02", "until": "2020-01-01" }),
        )
        .await;
    assert_eq!(backwards.error_fields(), ["until"]);
    let unknown = app
        .post(
            "/v1/webhooks/999999/recover",
            &token,
            json!({ "since": since }),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

async fn retention_removes_only_finished_deliveries(backend: Backend) {
    let Some(app) = app_with(backend, |s| s.retry_schedule = Some("1h".into())).await else {
        return;
    };
    let receiver = Receiver::scripted(|n| {
        if n == 0 {
            Reply::ok()
        } else {
            Reply::status(500)
        }
    })
    .await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    app.publish(
        &token,
        json!({ "event": "task.update", "object_id": 1, "idempotency_key": "k1" }),
    )
    .await;
    let done = app
        .newest_delivery_when("wdc", &hook, "success", |d| {
            d.status == DeliveryStatus::Succeeded
        })
        .await;
    app.publish(&token, json!({ "event": "task.update", "object_id": 2 }))
        .await;
    let waiting = app
        .newest_delivery_when("wdc", &hook, "a retry", |d| {
            d.object_id == 2 && d.attempts == 1
        })
        .await;

    // Within retention nothing goes.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let removed = herald::delivery::retention::sweep(
        app.store.as_ref(),
        Duration::from_secs(3600),
        &shutdown,
    )
    .await
    .unwrap();
    assert_eq!(removed, 0);
    assert_eq!(app.deliveries("wdc", &hook).await.len(), 2);

    // Past it, the finished delivery, its attempt, its event and old keys go.
    let future = now_epoch() + 10;
    let removed = app.store.purge(future, future, 500).await.unwrap();
    assert!(
        removed >= 4,
        "delivery, attempt, event, idempotency key: {removed}"
    );
    let left = app.deliveries("wdc", &hook).await;
    assert_eq!(left.len(), 1);
    assert_eq!(
        left[0].id, waiting.id,
        "pending deliveries are never deleted"
    );
    let gone = app
        .get(&format!("/v1/webhook_deliveries/{}", done.id), &token)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let shown = app
        .get(&format!("/v1/webhook_deliveries/{}", waiting.id), &token)
        .await
        .body;
    assert_eq!(
        shown["history"].as_array().unwrap().len(),
        1,
        "its attempts stay"
    );
    // The key was purged: the same key is new again.
    let again = app
        .publish(
            &token,
            json!({ "event": "task.update", "object_id": 1, "idempotency_key": "k1" }),
        )
        .await;
    assert!(again.get("duplicate").is_none());
}

async fn history_is_for_administrators_of_the_account(backend: Backend) {
    let Some(app) = app_with(backend, |_| {}).await else {
        return;
    };
    let receiver = Receiver::ok().await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    app.publish(&token, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    let delivery = app
        .newest_delivery_when("wdc", &hook, "success", |d| {
            d.status == DeliveryStatus::Succeeded
        })
        .await;
    let publisher = app.token("wdc", Role::Publisher).await;
    let other = app.admin("acme").await;
    let paths = [
        format!("/v1/webhooks/{}/deliveries", hook["id"]),
        format!("/v1/webhook_deliveries/{}", delivery.id),
    ];
    for path in &paths {
        assert_eq!(
            app.get(path, &publisher).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
        assert_eq!(
            app.get(path, &other).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let redeliver = format!("/v1/webhook_deliveries/{}/redeliver", delivery.id);
    assert_eq!(
        app.post(&redeliver, &publisher, json!({})).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post(&redeliver, &other, json!({})).await.status,
        StatusCode::NOT_FOUND
    );
    let recover = format!("/v1/webhooks/{}/recover", hook["id"]);
    assert_eq!(
        app.post(&recover, &other, json!({ "since": "2020-01-01" }))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.count(), 1, "nothing was sent again");
}

async fn disabling_a_webhook_gives_up_its_queued_events(backend: Backend) {
    let Some(app) = app_with(backend, |s| s.retry_schedule = Some("1h".into())).await else {
        return;
    };
    let receiver = Receiver::scripted(|_| Reply::status(500)).await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    app.publish(&token, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    let waiting = app
        .newest_delivery_when("wdc", &hook, "a retry", |d| d.attempts == 1)
        .await;
    assert_eq!(waiting.status, DeliveryStatus::Pending);
    let path = format!("/v1/webhooks/{}", hook["id"]);
    app.patch(&path, &token, json!({ "disabled": true })).await;
    let given_up = app.given_up("wdc", &hook).await;
    assert_eq!(given_up.last_error.as_deref(), Some("webhook disabled"));
    app.patch(&path, &token, json!({ "disabled": false })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.count(), 1, "old events do not come back");
}

async fn binary_answers_and_verify_codes_are_stored_safely(backend: Backend) {
    let mut settings = delivery_settings();
    settings.require_verification = Some(true);
    let Some(app) = TestApp::running(backend, settings).await else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router =
        axum::Router::new().fallback(|| async { (StatusCode::OK, b"bin\0ary\xff".to_vec()) });
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let token = app.admin("wdc").await;
    let hook = app
        .create_webhook(
            &token,
            json!({ "event": "task.update", "uri": format!("http://{address}/") }),
        )
        .await;
    let verify = app
        .newest_delivery_when("wdc", &hook, "the handshake", |d| {
            d.status == DeliveryStatus::Succeeded
        })
        .await;
    let shown = app
        .get(&format!("/v1/webhook_deliveries/{}", verify.id), &token)
        .await
        .body;
    assert_eq!(shown["kind"], "verify");
    assert_eq!(
        shown["message"]["payload"]["callback"], "[redacted]",
        "no one but the receiver sees the code"
    );
    assert_eq!(
        shown["history"][0]["response_body"],
        "bin\u{FFFD}ary\u{FFFD}"
    );
    server.abort();
}
