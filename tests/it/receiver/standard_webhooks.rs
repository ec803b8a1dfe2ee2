//! Standard Webhooks policies: the plain message with `webhook-*` headers,
//! verified by the official `standardwebhooks` library, also across a
//! rotation (a signature per secret during the overlap).

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::live::{Live, example_receivers};
use crate::api::policies::create_policy;
use crate::on_databases;
use crate::support::receiver::Receiver;
use crate::support::{Backend, TestApp, delivery_settings};

on_databases!(
    a_standard_webhooks_policy_shows_its_whsec_secret_once,
    messages_carry_the_plain_message_and_webhook_headers,
    the_official_library_verifies_with_either_secret_during_the_overlap,
);

async fn a_standard_webhooks_policy_shows_its_whsec_secret_once(app: TestApp) {
    let token = app.admin("wdc").await;
    let policy = create_policy(
        &app,
        &token,
        json!({ "signature_scheme": "standard_webhooks" }),
    )
    .await;
    assert_eq!(policy["signature_scheme"], "standard_webhooks");
    assert_eq!(policy["jwt_alg"], "hs256");
    let secret = policy["webhook_secret"].as_str().unwrap();
    let key = secret.strip_prefix("whsec_").expect("whsec_ and base64");
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key)
        .unwrap();
    assert_eq!(bytes.len(), 32);
    for field in ["jwt_secret", "public_key_pem", "key_id"] {
        assert!(policy.get(field).is_none(), "{field}");
    }
    let shown = app
        .get(&format!("/v1/webhook_policies/{}", policy["id"]), &token)
        .await;
    assert!(shown.body.get("webhook_secret").is_none());
    assert_eq!(shown.body["signature_scheme"], "standard_webhooks");

    for (body, field) in [
        (
            json!({ "signature_scheme": "standard_webhooks", "jwt_alg": "rs256" }),
            "jwt_alg",
        ),
        (
            json!({ "signature_scheme": "standard_webhooks", "jwt_audience": "x" }),
            "jwt_audience",
        ),
        (
            json!({ "signature_scheme": "standard_webhooks", "jwt_claim_expires_in": 5 }),
            "jwt_claim_expires_in",
        ),
        (
            json!({ "signature_scheme": "hmac", "jwt_alg": "hs256" }),
            "signature_scheme",
        ),
        (
            json!({ "signature_scheme": 1, "jwt_alg": "hs256" }),
            "signature_scheme",
        ),
    ] {
        let answer = app.post("/v1/webhook_policies", &token, body.clone()).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(answer.error_fields(), [field], "{body}");
    }
    let path = format!("/v1/webhook_policies/{}", policy["id"]);
    for (body, field) in [
        (json!({ "signature_scheme": "jws" }), "signature_scheme"),
        (json!({ "jwt_audience": "x" }), "jwt_audience"),
    ] {
        let answer = app.patch(&path, &token, body.clone()).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(answer.error_fields(), [field], "{body}");
    }
    let same = app
        .patch(
            &path,
            &token,
            json!({ "signature_scheme": "standard_webhooks", "disabled": true }),
        )
        .await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.body);
}

async fn messages_carry_the_plain_message_and_webhook_headers(backend: Backend) {
    let Some(app) = TestApp::running(backend, delivery_settings()).await else {
        return;
    };
    let token = app.admin("wdc").await;
    let receiver = Receiver::ok().await;
    let policy = create_policy(
        &app,
        &token,
        json!({ "signature_scheme": "standard_webhooks" }),
    )
    .await;
    let hook = app
        .create_webhook(
            &token,
            json!({ "event": "task.update", "uri": receiver.url("/"),
                    "webhook_policy_id": policy["id"] }),
        )
        .await;
    let rotated = app
        .post(
            &format!("/v1/webhook_policies/{}/rotate", policy["id"]),
            &token,
            json!({ "overlap": "2h" }),
        )
        .await;
    assert!(
        rotated.body["webhook_secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    app.publish(&token, json!({ "event": "task.update", "object_id": 7 }))
        .await;
    let message = receiver.wait_for(1).await.remove(0);
    assert_eq!(
        message.body["webhook_id"], hook["id"],
        "the §7 message, no JWT"
    );
    assert!(message.body.get("jwt").is_none());
    let id = message.header("webhook-id").unwrap();
    assert_eq!(Some(id), message.header("x-r-service-delivery"));
    let timestamp: i64 = message
        .header("webhook-timestamp")
        .unwrap()
        .parse()
        .unwrap();
    assert!((timestamp - herald::domain::time::now_epoch()).abs() < 60);
    let signatures: Vec<&str> = message
        .header("webhook-signature")
        .unwrap()
        .split(' ')
        .collect();
    assert_eq!(signatures.len(), 2, "new and old secret: {signatures:?}");
    assert!(signatures.iter().all(|s| s.starts_with("v1,")));
}

async fn the_official_library_verifies_with_either_secret_during_the_overlap(backend: Backend) {
    let Some(app) = TestApp::start(backend, delivery_settings()).await else {
        return;
    };
    let live = Live::start(&app).await;
    let token = app.admin("wdc").await;
    let policy = create_policy(
        &app,
        &token,
        json!({ "signature_scheme": "standard_webhooks" }),
    )
    .await;
    let old = policy["webhook_secret"].as_str().unwrap().to_string();
    let mut old_receivers =
        example_receivers("standard_webhooks", &[("WEBHOOK_SECRET", &old)]).await;
    for receiver in &old_receivers {
        live.hook(&token, "task.update", &receiver.url(), &policy["id"])
            .await;
    }
    let event = |object_id: i64| json!({ "event": "task.update", "object_id": object_id });
    live.publish(&token, event(1)).await;
    for receiver in &mut old_receivers {
        let printed = receiver.next().await;
        assert_eq!(printed["verified"], true, "{}: {printed}", receiver.script);
        assert_eq!(printed["data"]["object_id"], 1);
    }

    let path = format!("/v1/webhook_policies/{}/rotate", policy["id"]);
    let (status, rotated) = live.post(&path, &token, json!({ "overlap": "1h" })).await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["webhook_secret"].as_str().unwrap().to_string();
    let mut new_receivers =
        example_receivers("standard_webhooks", &[("WEBHOOK_SECRET", &new)]).await;
    for receiver in &new_receivers {
        live.hook(&token, "task.update", &receiver.url(), &policy["id"])
            .await;
    }
    live.publish(&token, event(2)).await;
    for receiver in old_receivers.iter_mut().chain(new_receivers.iter_mut()) {
        let printed = receiver.next().await;
        assert_eq!(printed["verified"], true, "{}: {printed}", receiver.script);
        assert_eq!(printed["data"]["object_id"], 2);
    }

    // A rotation without overlap: only the newest secret verifies, which
    // none of these receivers holds.
    let (status, _) = live.post(&path, &token, json!({ "overlap": 0 })).await;
    assert_eq!(status, 200);
    live.publish(&token, event(3)).await;
    for receiver in old_receivers.iter_mut().chain(new_receivers.iter_mut()) {
        let refused: Value = receiver.next().await;
        assert_eq!(refused["verified"], false, "{}: {refused}", receiver.script);
    }
}
