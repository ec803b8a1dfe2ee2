//! The `webhook.verify` handshake (§8).

use axum::http::{Method, StatusCode};
use herald::crypto::tokens::hash_token;
use herald::domain::AccountId;
use herald::domain::time::now_epoch;
use serde_json::{Value, json};

use crate::on_databases;
use crate::support::receiver::{Received, Receiver, Reply};
use crate::support::served::{exchange, get_request};
use crate::support::{Backend, TestApp, delivery_settings};

#[tokio::test]
async fn a_wrong_code_is_answered_while_another_write_holds_the_writer() {
    use sqlx::Connection;
    let Some(app) = app(Backend::Sqlite).await else {
        return;
    };
    let receiver = Receiver::ok().await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    receiver.wait_for(1).await;
    // Another connection holds SQLite's one writer for the whole request.
    let mut holder = sqlx::SqliteConnection::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    let wrong = format!(
        "/v1/webhooks/{}/verify?code=AAAAAAAAAAAAAAAAAAAAAAAA",
        hook["id"]
    );
    let response = app.send(Method::GET, &wrong, None, &[], None).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND, "{}", response.body);
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();
}

/// The code of the callback in `message`.
fn code_of(message: &Received) -> String {
    let callback = callback_of(message);
    let code = callback.split("code=").nth(1).unwrap().split('&').next();
    code.unwrap().to_string()
}

async fn wrong_codes_are_limited_per_client_address(backend: Backend) {
    let mut settings = delivery_settings();
    settings.require_verification = Some(true);
    settings.verify_rate_limit = Some(3);
    let Some(app) = TestApp::start(backend, settings).await else {
        return;
    };
    let served = app.serve().await;
    let receiver = Receiver::ok().await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    let callback = callback_of(&receiver.wait_for(1).await[0]);
    let wrong = format!(
        "/v1/webhooks/{}/verify?code=AAAAAAAAAAAAAAAAAAAAAAAA",
        hook["id"]
    );
    for _ in 0..3 {
        let mut stream = served.connect_from("127.0.0.2").await;
        let answer = exchange(&mut stream, &get_request(&wrong, None)).await;
        assert_eq!(answer.status, 404, "{answer:?}");
    }
    let mut stream = served.connect_from("127.0.0.2").await;
    let answer = exchange(&mut stream, &get_request(&callback, None)).await;
    assert_eq!(answer.status, 429, "{answer:?}");
    assert_eq!(answer.json()["message"], "Too Many Requests");
    assert!(answer.head.contains("retry-after:"), "{}", answer.head);
    // Another address has its own budget.
    let mut stream = served.connect_from("127.0.0.3").await;
    let answer = exchange(&mut stream, &get_request(&callback, None)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(app.webhook_now(&token, &hook).await["verified"], true);
}

async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(backend: Backend) {
    let mut settings = delivery_settings();
    settings.require_verification = Some(true);
    settings.verify_rate_limit = Some(2);
    settings.trusted_proxy = Some(vec!["127.0.0.5/32".into()]);
    let Some(app) = TestApp::start(backend, settings).await else {
        return;
    };
    let served = app.serve().await;
    let receiver = Receiver::ok().await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    let callback = callback_of(&receiver.wait_for(1).await[0]);
    let wrong = format!(
        "/v1/webhooks/{}/verify?code=AAAAAAAAAAAAAAAAAAAAAAAA",
        hook["id"]
    );
    let through_proxy = |path: &str, client: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: herald.test\r\nX-Forwarded-For: 10.9.9.9, {client}\r\n\r\n")
            .into_bytes()
    };
    for expected in [404, 404, 429] {
        let mut stream = served.connect_from("127.0.0.5").await;
        let answer = exchange(&mut stream, &through_proxy(&wrong, "203.0.113.7")).await;
        assert_eq!(answer.status, expected, "{answer:?}");
    }
    // Another client behind the same proxy has its own budget.
    let mut stream = served.connect_from("127.0.0.5").await;
    let answer = exchange(&mut stream, &through_proxy(&callback, "203.0.113.8")).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    // A client that is no trusted proxy cannot pick its address.
    for expected in [404, 404, 429] {
        let mut stream = served.connect_from("127.0.0.6").await;
        let answer = exchange(
            &mut stream,
            &through_proxy(&wrong, &format!("203.0.113.{expected}")),
        )
        .await;
        assert_eq!(answer.status, expected, "{answer:?}");
    }
}

async fn the_code_is_sent_on_every_attempt_but_stored_and_shown_redacted(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    // The first attempt fails: the retry must carry the code again.
    let receiver = Receiver::scripted(|n| {
        if n == 0 {
            Reply::status(500)
        } else {
            Reply::ok()
        }
    })
    .await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    let sent = receiver.wait_for(2).await;
    let code = code_of(&sent[0]);
    assert_eq!(code_of(&sent[1]), code);
    assert_ne!(code, "REDACTED");

    let delivery = app
        .newest_delivery_when("wdc", &hook, "the verify message delivered", |d| {
            d.status == herald::domain::delivery::DeliveryStatus::Succeeded
        })
        .await;
    let shown = app
        .get(&format!("/v1/webhook_deliveries/{}", delivery.id), &token)
        .await;
    assert!(!shown.body.to_string().contains(&code), "{}", shown.body);
    let stored = stored_verify_payloads(&app).await;
    assert!(!stored.is_empty());
    let kept = delivery.message.clone().unwrap().to_string();
    for text in stored.iter().chain([&kept]) {
        assert!(!text.contains(&code), "a code stored in plain text: {text}");
        assert!(text.contains("?code=REDACTED&"), "{text}");
    }
    // And the code sent works.
    let response = app
        .send(Method::GET, &callback_of(&sent[1]), None, &[], None)
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
}

/// The payloads of the verify events as stored, read with SQL.
pub async fn stored_verify_payloads(app: &TestApp) -> Vec<String> {
    use sqlx::Connection;
    const SQL: &str = "SELECT payload FROM events WHERE kind = 'verify'";
    let rows: Vec<(String,)> = if app.database_url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::query_as(SQL).fetch_all(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::PgConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::query_as(SQL).fetch_all(&mut conn).await.unwrap()
    };
    rows.into_iter().map(|(payload,)| payload).collect()
}

on_databases!(
    wrong_codes_are_limited_per_client_address,
    behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget,
    the_code_is_sent_on_every_attempt_but_stored_and_shown_redacted,
    new_webhooks_get_events_only_after_the_callback,
    wrong_and_expired_codes_are_404,
    a_uri_verified_in_the_account_needs_no_new_handshake,
    changing_the_uri_starts_a_new_handshake_and_voids_the_old_code,
    verification_can_be_switched_off,
);

async fn app(backend: Backend) -> Option<TestApp> {
    let mut settings = delivery_settings();
    settings.require_verification = Some(true);
    TestApp::running(backend, settings).await
}

/// The callback path and query of a verify message.
fn callback_of(message: &Received) -> String {
    assert_eq!(message.body["event"], "webhook.verify");
    let callback = message.body["payload"]["callback"].as_str().unwrap();
    callback
        .strip_prefix("http://herald.test")
        .unwrap()
        .to_string()
}

async fn new_webhooks_get_events_only_after_the_callback(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let receiver = Receiver::ok().await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    assert_eq!(hook["verified"], false);
    let verify = receiver.wait_for(1).await.remove(0);
    assert_eq!(verify.body["object_id"], hook["id"]);
    assert_eq!(verify.body["webhook_id"], hook["id"]);
    let callback = callback_of(&verify);
    let expected = format!("/v1/webhooks/{}/verify?code=", hook["id"]);
    assert!(callback.starts_with(&expected), "{callback}");
    let code = callback[expected.len()..].split('&').next().unwrap();
    assert_eq!(code.len(), 24);
    assert!(
        code.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    let expires: i64 = callback
        .split("expires_at=")
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!((expires - now_epoch() - 24 * 3600).abs() < 60);

    let answer = app
        .publish(&token, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    assert_eq!(answer["deliveries"], 0, "unverified webhooks get no events");

    // No token needed: the code is the credential. GET and POST both work.
    let response = app.send(Method::GET, &callback, None, &[], None).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(app.webhook_now(&token, &hook).await["verified"], true);
    let again = app.send(Method::POST, &callback, None, &[], None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "a code works once");

    let answer = app
        .publish(&token, json!({ "event": "task.update", "object_id": 2 }))
        .await;
    assert_eq!(answer["deliveries"], 1);
    let event = receiver.wait_for(2).await.remove(1);
    assert_eq!(event.body["object_id"], 2);
}

async fn wrong_and_expired_codes_are_404(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let receiver = Receiver::ok().await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    let callback = callback_of(&receiver.wait_for(1).await[0]);
    let code = callback
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let id = hook["id"].as_i64().unwrap();
    for path in [
        format!("/v1/webhooks/{id}/verify?code=AAAAAAAAAAAAAAAAAAAAAAAA"),
        format!("/v1/webhooks/{id}/verify"),
        format!("/v1/webhooks/{}/verify?code={code}", id + 1),
    ] {
        let response = app.send(Method::GET, &path, None, &[], None).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(response.body, json!({ "message": "Not Found" }));
    }
    // 24 hours and a second later the code is void.
    let expired = app
        .store
        .confirm_verification(
            id,
            &hash_token(&code),
            &herald::domain::audit::Actor::system(),
            now_epoch() + 24 * 3600 + 1,
        )
        .await
        .unwrap();
    assert!(!expired);
    assert_eq!(app.webhook_now(&token, &hook).await["verified"], false);
}

async fn a_uri_verified_in_the_account_needs_no_new_handshake(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let receiver = Receiver::ok().await;
    let token = app.admin("wdc").await;
    app.task_hook(&token, &receiver).await;
    let callback = callback_of(&receiver.wait_for(1).await[0]);
    app.send(Method::GET, &callback, None, &[], None).await;
    let second = app
        .create_webhook(
            &token,
            json!({ "event": "request.create", "uri": receiver.url("/") }),
        )
        .await;
    assert_eq!(second["verified"], true);
    // Another account must verify the same URI itself.
    let other = app.admin("acme").await;
    let theirs = app
        .create_webhook(
            &other,
            json!({ "event": "task.update", "uri": receiver.url("/") }),
        )
        .await;
    assert_eq!(theirs["verified"], false);
    let received = receiver.wait_for(2).await;
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].body["account_id"], "acme");
}

async fn changing_the_uri_starts_a_new_handshake_and_voids_the_old_code(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let receiver = Receiver::ok().await;
    let token = app.admin("wdc").await;
    let hook = app
        .create_webhook(
            &token,
            json!({ "event": "task.update", "uri": receiver.url("/one") }),
        )
        .await;
    let first = callback_of(&receiver.wait_for(1).await[0]);
    let path = format!("/v1/webhooks/{}", hook["id"]);
    let changed = app
        .patch(&path, &token, json!({ "uri": receiver.url("/two") }))
        .await
        .body;
    assert_eq!(changed["verified"], false);
    let second_message = receiver.wait_for(2).await.remove(1);
    assert_eq!(second_message.path, "/two");
    let second = callback_of(&second_message);
    assert_ne!(first, second);
    assert_eq!(
        app.send(Method::GET, &first, None, &[], None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.send(Method::GET, &second, None, &[], None).await.status,
        StatusCode::OK
    );

    // A verified webhook whose URI changes must verify again.
    let moved = app
        .patch(&path, &token, json!({ "uri": receiver.url("/three") }))
        .await
        .body;
    assert_eq!(moved["verified"], false);
    let third = receiver.wait_for(3).await.remove(2);
    assert_eq!(third.path, "/three");
    let account = AccountId::parse("wdc").unwrap();
    let stored = app
        .store
        .get_webhook(&account, hook["id"].as_i64().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.verified);
    // Any other change to an unverified webhook sends a fresh code too.
    app.patch(&path, &token, json!({ "name": "renamed" })).await;
    let fourth = receiver.wait_for(4).await.remove(3);
    assert_ne!(callback_of(&fourth), callback_of(&third));
    assert_eq!(fourth.body["payload"].as_object().map(|p| p.len()), Some(1));
    assert_eq!(
        fourth.body["payload"]["callback"]
            .as_str()
            .map(|c| c.contains("/verify?code=")),
        Some(true)
    );

    // A webhook moved to a URI the account verified: verified at once,
    // and recorded.
    let fourth = callback_of(&fourth);
    let confirmed = app.send(Method::GET, &fourth, None, &[], None).await;
    assert_eq!(confirmed.status, StatusCode::OK);
    let other = app
        .create_webhook(
            &token,
            json!({ "event": "task.update", "uri": receiver.url("/four") }),
        )
        .await;
    receiver.wait_for(5).await;
    let other_path = format!("/v1/webhooks/{}", other["id"]);
    let moved = app.patch(
        &other_path,
        &token,
        json!({ "uri": receiver.url("/three") }),
    );
    assert_eq!(moved.await.body["verified"], true);
    let query = format!(
        "/v1/audit_events?record_type=webhook&record_id={}",
        other["id"]
    );
    let trail = app.get(&query, &token).await.body;
    let verify: Vec<&Value> = trail
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "verify")
        .collect();
    let reasons: Vec<&str> = verify
        .iter()
        .map(|e| e["details"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "the account verified this URI already",
            "webhook.verify sent"
        ],
        "newest first"
    );
    assert_eq!(
        verify[0]["changes"],
        json!({ "verified": { "old": false, "new": true } })
    );
}

async fn verification_can_be_switched_off(backend: Backend) {
    let Some(app) = TestApp::running(backend, delivery_settings()).await else {
        return;
    };
    let receiver = Receiver::ok().await;
    let token = app.admin("wdc").await;
    let hook = app.task_hook(&token, &receiver).await;
    assert_eq!(hook["verified"], true);
    app.publish(&token, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    let received = receiver.wait_for(1).await;
    assert_eq!(received[0].body["event"], "task.update");
}
