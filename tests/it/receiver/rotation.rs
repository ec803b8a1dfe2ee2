//! Key rotation: the new key signs at once and is shown once; the old one
//! stays in the JWKS for the overlap, then goes, its sealed key erased;
//! the audit trail records it without a key.

use axum::http::StatusCode;
use herald::domain::Role;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use sqlx::Connection;

use super::discovery::{jwks_kids, jwt_header};
use crate::api::audit::{find, holds_none_of, trail};
use crate::api::policies::create_policy;
use crate::on_databases;
use crate::support::receiver::Receiver;
use crate::support::{Backend, TestApp, delivery_settings, eventually};

on_databases!(
    the_new_key_signs_and_the_old_stays_published_for_the_overlap,
    after_the_overlap_the_old_key_is_unpublished_and_erased,
    an_hs_policy_rotates_its_secret,
    rotation_refuses_what_it_cannot_do,
);

/// The rotation's answer, asserted 200.
async fn rotate(app: &TestApp, token: &str, id: &Value, body: Value) -> Value {
    let answer = app
        .post(&format!("/v1/webhook_policies/{id}/rotate"), token, body)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body
}

/// How many retired keys (sealed) the database still holds.
async fn stored_retired_keys(app: &TestApp) -> i64 {
    const COUNT: &str = "SELECT COUNT(*) FROM webhook_policy_retired_keys";
    let (count,): (i64,) = if app.database_url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::query_as(COUNT).fetch_one(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::PgConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::query_as(COUNT).fetch_one(&mut conn).await.unwrap()
    };
    count
}

async fn the_new_key_signs_and_the_old_stays_published_for_the_overlap(backend: Backend) {
    let Some(app) = TestApp::running(backend, delivery_settings()).await else {
        return;
    };
    let token = app.admin("wdc").await;
    let receiver = Receiver::ok().await;
    let policy = create_policy(
        &app,
        &token,
        json!({ "jwt_alg": "rs256", "openid_connect_discovery": true }),
    )
    .await;
    let id = policy["id"].as_i64().unwrap();
    app.create_webhook(
        &token,
        json!({ "event": "task.update", "uri": receiver.url("/"), "webhook_policy_id": id }),
    )
    .await;
    let rotated = rotate(&app, &token, &policy["id"], json!({ "overlap": "1h" })).await;
    let (old_kid, new_kid) = (policy["key_id"].clone(), rotated["key_id"].clone());
    assert!(new_kid.is_string() && new_kid != old_kid, "{rotated}");
    let new_pem = rotated["public_key_pem"].as_str().unwrap();
    assert_ne!(Some(new_pem), policy["public_key_pem"].as_str());
    assert!(rotated["overlap_ends_at"].is_string(), "{rotated}");
    assert!(rotated.get("jwt_secret").is_none());

    // Shown once: never again.
    let shown = app.get(&format!("/v1/webhook_policies/{id}"), &token).await;
    for field in ["public_key_pem", "key_id", "jwt_secret", "webhook_secret"] {
        assert!(shown.body.get(field).is_none(), "{field}: {}", shown.body);
    }
    assert_eq!(
        jwks_kids(&app, "wdc", id).await,
        [new_kid.as_str().unwrap(), old_kid.as_str().unwrap()]
    );

    // The new key signs from now on.
    app.publish(&token, json!({ "event": "task.update", "object_id": 5 }))
        .await;
    let message = receiver.wait_for(1).await.remove(0);
    let jwt = message.body["jwt"].as_str().unwrap();
    assert_eq!(jwt_header(jwt)["kid"], new_kid);
    let mut validation = Validation::new(Algorithm::RS256);
    validation.required_spec_claims.clear();
    validation.validate_aud = false;
    let key = DecodingKey::from_rsa_pem(new_pem.as_bytes()).unwrap();
    let claims = jsonwebtoken::decode::<Value>(jwt, &key, &validation).unwrap();
    assert_eq!(claims.claims["data"]["object_id"], 5);

    // Recorded, with the overlap and the new kid, and no key.
    let trail = trail(&app, &token).await;
    let event = find(&trail, "webhook_policy", &policy["id"], "rotate");
    assert_eq!(event["details"]["overlap_secs"], 3600, "{event}");
    assert_eq!(event["details"]["key_id"], new_kid, "{event}");
    let pems = [
        policy["public_key_pem"].clone(),
        rotated["public_key_pem"].clone(),
    ];
    let secrets: Vec<String> = pems
        .iter()
        .map(|pem| pem.as_str().unwrap().lines().nth(2).unwrap().to_string())
        .collect();
    holds_none_of(&app, &trail, &secrets).await;
}

async fn after_the_overlap_the_old_key_is_unpublished_and_erased(app: TestApp) {
    let token = app.admin("wdc").await;
    let policy = create_policy(
        &app,
        &token,
        json!({ "jwt_alg": "es256", "openid_connect_discovery": true }),
    )
    .await;
    let id = policy["id"].as_i64().unwrap();
    let first = rotate(&app, &token, &policy["id"], json!({ "overlap": 1 })).await;
    assert_eq!(jwks_kids(&app, "wdc", id).await.len(), 2);
    assert_eq!(stored_retired_keys(&app).await, 1);
    let kid = first["key_id"].as_str().unwrap().to_string();
    eventually("the overlap to end", || async {
        (jwks_kids(&app, "wdc", id).await == [kid.clone()]).then_some(())
    })
    .await;
    // The sweep erases what stopped counting.
    let erased = herald::delivery::retention::sweep_retired_keys(&app.store)
        .await
        .unwrap();
    assert_eq!(erased, 1);
    assert_eq!(stored_retired_keys(&app).await, 0);

    // Without an overlap, the old key goes at once, and so does any
    // earlier one still in its overlap.
    rotate(&app, &token, &policy["id"], json!({ "overlap": "1h" })).await;
    assert_eq!(stored_retired_keys(&app).await, 1);
    let last = rotate(&app, &token, &policy["id"], json!({ "overlap": 0 })).await;
    assert_eq!(last["overlap_ends_at"], Value::Null);
    assert_eq!(
        jwks_kids(&app, "wdc", id).await,
        [last["key_id"].as_str().unwrap()]
    );
    assert_eq!(stored_retired_keys(&app).await, 0);
    // Deleting the policy takes its retired keys with it.
    rotate(&app, &token, &policy["id"], json!({})).await;
    let deleted = app
        .delete(&format!("/v1/webhook_policies/{id}"), &token)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(stored_retired_keys(&app).await, 0);
}

async fn an_hs_policy_rotates_its_secret(backend: Backend) {
    let Some(app) = TestApp::running(backend, delivery_settings()).await else {
        return;
    };
    let token = app.admin("wdc").await;
    let receiver = Receiver::ok().await;
    let policy = create_policy(&app, &token, json!({ "jwt_alg": "hs512" })).await;
    app.create_webhook(
        &token,
        json!({ "event": "task.update", "uri": receiver.url("/"),
                "webhook_policy_id": policy["id"] }),
    )
    .await;
    let rotated = rotate(&app, &token, &policy["id"], json!(null)).await;
    let secret = rotated["jwt_secret"].as_str().unwrap();
    assert_ne!(Some(secret), policy["jwt_secret"].as_str());
    assert!(rotated.get("key_id").is_none() && rotated.get("public_key_pem").is_none());
    app.publish(&token, json!({ "event": "task.update", "object_id": 6 }))
        .await;
    let message = receiver.wait_for(1).await.remove(0);
    let mut validation = Validation::new(Algorithm::HS512);
    validation.required_spec_claims.clear();
    validation.validate_aud = false;
    let jwt = message.body["jwt"].as_str().unwrap();
    let key = DecodingKey::from_secret(secret.as_bytes()).unwrap();
    assert!(jsonwebtoken::decode::<Value>(jwt, &key, &validation).is_ok());
    let old = DecodingKey::from_secret(policy["jwt_secret"].as_str().unwrap().as_bytes()).unwrap();
    assert!(jsonwebtoken::decode::<Value>(jwt, &old, &validation).is_err());
    let trail = trail(&app, &token).await;
    find(&trail, "webhook_policy", &policy["id"], "rotate");
    let secrets = [
        secret.to_string(),
        policy["jwt_secret"].as_str().unwrap().to_string(),
    ];
    holds_none_of(&app, &trail, &secrets).await;
}

async fn rotation_refuses_what_it_cannot_do(app: TestApp) {
    let token = app.admin("wdc").await;
    let policy = create_policy(&app, &token, json!({ "jwt_alg": "es256" })).await;
    let path = format!("/v1/webhook_policies/{}/rotate", policy["id"]);
    for overlap in [
        json!(-1),
        json!(2_592_001),
        json!("31d"),
        json!("soon"),
        json!(true),
        json!(1.5),
    ] {
        let answer = app.post(&path, &token, json!({ "overlap": overlap })).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{overlap}");
        assert_eq!(answer.error_fields(), ["overlap"], "{overlap}");
    }
    let answer = app.post(&path, &token, json!({ "overlaps": 5 })).await;
    assert_eq!(answer.error_fields(), ["overlaps"]);
    let none = create_policy(&app, &token, json!({ "jwt_alg": "none" })).await;
    let answer = app
        .post(
            &format!("/v1/webhook_policies/{}/rotate", none["id"]),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let other = app.admin("other").await;
    assert_eq!(
        app.post(&path, &other, json!({})).await.status,
        StatusCode::NOT_FOUND
    );
    let publisher = app.token("wdc", Role::Publisher).await;
    assert_eq!(
        app.post(&path, &publisher, json!({})).await.status,
        StatusCode::FORBIDDEN
    );
    let missing = app
        .post("/v1/webhook_policies/999999/rotate", &token, json!({}))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}
