//! The audit trail records every kind of change, with who made it and the
//! fields it moved, and never a secret.

use axum::http::{Method, StatusCode};
use herald::crypto::tokens::{generate_token, hash_token};
use herald::domain::Role;
use herald::domain::audit::Actor;
use herald::domain::delivery::DeliveryStatus;
use herald::domain::time::now_epoch;
use herald::store::{NewToken, PersonSpec, Successor};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::on_databases;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{Backend, TestApp, delivery_settings, eventually};

on_databases!(
    webhook_changes_are_recorded_with_who_made_them_and_the_fields_they_moved,
    redeliveries_and_recoveries_are_recorded,
    a_webhook_herald_disables_is_recorded_as_disabled_by_the_system,
);

on_databases!(
    policy_changes_are_recorded_without_the_policys_secret,
    token_changes_are_recorded_without_a_token,
);

/// A token of a person of that name (found again by the e-mail it makes).
pub fn person(name: &str, role: Role) -> NewToken {
    NewToken::plain(PersonSpec {
        name: Some(name.into()),
        email: Some(format!("{}@example.com", name.to_lowercase())),
        role,
    })
}

/// Every event of the account's trail, newest first.
pub async fn trail(app: &TestApp, token: &str) -> Vec<Value> {
    let answer = app.get("/v1/audit_events?per_page=100", token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body.as_array().unwrap().clone()
}

/// The one event of `record_type` `record_id` and `action`.
pub fn find<'a>(
    trail: &'a [Value],
    record_type: &str,
    record_id: &Value,
    action: &str,
) -> &'a Value {
    let found: Vec<&Value> = trail
        .iter()
        .filter(|e| {
            e["record_type"] == record_type && &e["record_id"] == record_id && e["action"] == action
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {action} of {record_type} {record_id} in {trail:#?}"
    );
    found[0]
}

/// Asserts that `event` was made over the API with token `token_id` of
/// the person named `name`.
fn made_by(event: &Value, token_id: i64, name: &str) {
    assert_eq!(event["actor"], "token", "{event}");
    assert_eq!(event["token_id"], token_id, "{event}");
    assert_eq!(event["person"]["name"], name, "{event}");
}

/// Asserts that no secret is in the trail, as shown or as stored.
pub async fn holds_none_of(app: &TestApp, trail: &[Value], secrets: &[String]) {
    const ALL: &str = "SELECT actor || ' ' || COALESCE(client_ip, '') || ' ' || changes || ' ' \
         || COALESCE(details, '') FROM audit_events";
    let rows: Vec<(String,)> = if app.database_url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::query_as(ALL).fetch_all(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::PgConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::query_as(ALL).fetch_all(&mut conn).await.unwrap()
    };
    assert!(!rows.is_empty());
    let stored: Vec<String> = rows.into_iter().map(|(row,)| row).collect();
    let stored = stored.join("\n");
    let shown = Value::Array(trail.to_vec()).to_string();
    for secret in secrets {
        assert!(!shown.contains(secret.as_str()), "{secret} shown");
        assert!(!stored.contains(secret.as_str()), "{secret} stored");
    }
}

async fn webhook_changes_are_recorded_with_who_made_them_and_the_fields_they_moved(
    backend: Backend,
) {
    let mut settings = delivery_settings();
    settings.require_verification = Some(true);
    let Some(app) = TestApp::running(backend, settings).await else {
        return;
    };
    let (admin, admin_id) = app
        .make_token("wdc", person("Howard", Role::Administrator))
        .await;
    let receiver = Receiver::ok().await;
    let hook = app.task_hook(&admin, &receiver).await;
    let id = hook["id"].clone();
    // The receiver verifies it, without a token.
    let message = &receiver.wait_for(1).await[0];
    let callback = message.body["payload"]["callback"].as_str().unwrap();
    let code = callback.split("code=").nth(1).unwrap().split('&').next();
    let code = code.unwrap().to_string();
    let path = callback.strip_prefix("http://herald.test").unwrap();
    let verified = app.send(Method::GET, path, None, &[], None).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    let path = format!("/v1/webhooks/{id}");
    for change in [
        json!({ "name": "Tasks" }),
        json!({ "name": "Tasks" }),
        json!({ "disabled": true }),
        json!({ "disabled": false }),
    ] {
        assert_eq!(
            app.patch(&path, &admin, change).await.status,
            StatusCode::OK
        );
    }
    let tested = app.post(&format!("{path}/test"), &admin, json!({})).await;
    assert_eq!(tested.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.delete(&path, &admin).await.status,
        StatusCode::NO_CONTENT
    );

    let trail = trail(&app, &admin).await;
    let created = find(&trail, "webhook", &id, "create");
    made_by(created, admin_id, "Howard");
    assert_eq!(
        created["changes"]["event"],
        json!({ "old": null, "new": "task.update" })
    );
    assert!(created["created_at"].is_string());
    let verifications: Vec<&Value> = trail
        .iter()
        .filter(|e| e["record_id"] == id && e["action"] == "verify")
        .collect();
    assert_eq!(verifications.len(), 2, "{verifications:?}");
    // Newest first: the receiver's callback, then the handshake's sending.
    let (verify, sent) = (verifications[0], verifications[1]);
    made_by(sent, admin_id, "Howard");
    assert_eq!(sent["details"]["reason"], "webhook.verify sent");
    assert_eq!(sent["changes"], json!({}));
    let who = (&verify["actor"], &verify["token_id"], &verify["person"]);
    assert_eq!(who, (&json!("anonymous"), &Value::Null, &Value::Null));
    assert_eq!(
        verify["changes"],
        json!({ "verified": { "old": false, "new": true } })
    );
    let updated = find(&trail, "webhook", &id, "update");
    made_by(updated, admin_id, "Howard");
    let renamed = json!({ "name": { "old": "task.update", "new": "Tasks" } });
    assert_eq!(
        updated["changes"], renamed,
        "the PATCH that changed nothing is not recorded"
    );
    let disabled = find(&trail, "webhook", &id, "disable");
    assert_eq!(
        disabled["changes"],
        json!({ "disabled": { "old": false, "new": true } })
    );
    made_by(find(&trail, "webhook", &id, "enable"), admin_id, "Howard");
    let test = find(&trail, "webhook", &id, "test");
    assert!(test["details"]["delivery_id"].is_i64(), "{test}");
    let deleted = find(&trail, "webhook", &id, "delete");
    assert_eq!(
        deleted["changes"]["name"],
        json!({ "old": "Tasks", "new": null })
    );
    assert_eq!(deleted["changes"]["uri"]["old"], receiver.url("/"));
    holds_none_of(
        &app,
        &trail,
        &[
            admin.clone(),
            hash_token(&admin),
            code.clone(),
            hash_token(&code),
        ],
    )
    .await;
}

async fn redeliveries_and_recoveries_are_recorded(backend: Backend) {
    let Some(app) = TestApp::running(backend, delivery_settings()).await else {
        return;
    };
    let (admin, admin_id) = app
        .make_token("wdc", person("Howard", Role::Administrator))
        .await;
    let receiver = Receiver::ok().await;
    let hook = app.task_hook(&admin, &receiver).await;
    app.publish(&admin, json!({ "event": "task.update", "object_id": 7 }))
        .await;
    let delivered = app
        .newest_delivery_when("wdc", &hook, "the event delivered", |d| {
            d.status == DeliveryStatus::Succeeded
        })
        .await;
    let redeliver = format!("/v1/webhook_deliveries/{}/redeliver", delivered.id);
    let redelivered = app.post(&redeliver, &admin, json!({})).await;
    assert_eq!(
        redelivered.status,
        StatusCode::ACCEPTED,
        "{}",
        redelivered.body
    );
    let recover = format!("/v1/webhooks/{}/recover", hook["id"]);
    let window = json!({ "since": "2016-03-17", "until": "2016-03-18T12:00:00Z" });
    let recovered = app.post(&recover, &admin, window).await;
    assert_eq!(recovered.status, StatusCode::ACCEPTED, "{}", recovered.body);

    let trail = trail(&app, &admin).await;
    let redelivery = find(
        &trail,
        "webhook_delivery",
        &json!(delivered.id),
        "redeliver",
    );
    made_by(redelivery, admin_id, "Howard");
    assert_eq!(
        redelivery["details"],
        json!({ "redelivery_id": redelivered.body["id"] })
    );
    let recovery = find(&trail, "webhook", &hook["id"], "recover");
    made_by(recovery, admin_id, "Howard");
    assert_eq!(
        recovery["details"],
        json!({ "since": "2016-03-17T00:00:00+00:00", "until": "2016-03-18T12:00:00+00:00", "queued": 0 })
    );
    assert_eq!(recovery["changes"], json!({}));
}

async fn policy_changes_are_recorded_without_the_policys_secret(app: TestApp) {
    let (admin, admin_id) = app
        .make_token("wdc", person("Howard", Role::Administrator))
        .await;
    let policy = app
        .post(
            "/v1/webhook_policies",
            &admin,
            json!({ "jwt_alg": "hs256" }),
        )
        .await
        .body;
    let secret = policy["jwt_secret"].as_str().unwrap().to_string();
    let path = format!("/v1/webhook_policies/{}", policy["id"]);
    for change in [
        json!({ "jwt_audience": "receivers" }),
        json!({ "disabled": true }),
    ] {
        assert_eq!(
            app.patch(&path, &admin, change).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(
        app.delete(&path, &admin).await.status,
        StatusCode::NO_CONTENT
    );

    let trail = trail(&app, &admin).await;
    let id = &policy["id"];
    let made = find(&trail, "webhook_policy", id, "create");
    made_by(made, admin_id, "Howard");
    assert_eq!(
        made["changes"]["jwt_alg"],
        json!({ "old": null, "new": "hs256" })
    );
    assert_eq!(made["changes"]["name"]["new"], policy["name"]);
    let audience = json!({ "jwt_audience": { "old": null, "new": "receivers" } });
    assert_eq!(
        find(&trail, "webhook_policy", id, "update")["changes"],
        audience
    );
    made_by(
        find(&trail, "webhook_policy", id, "disable"),
        admin_id,
        "Howard",
    );
    let deleted = find(&trail, "webhook_policy", id, "delete");
    assert_eq!(
        deleted["changes"]["disabled"],
        json!({ "old": true, "new": null })
    );
    holds_none_of(&app, &trail, &[secret]).await;
}

async fn token_changes_are_recorded_without_a_token(app: TestApp) {
    let (admin, admin_id) = app
        .make_token("wdc", person("Howard", Role::Administrator))
        .await;
    let (deploy, deploy_id) = app.make_token("wdc", person("Deploy", Role::Member)).await;
    // A token of a new role for the same person adds it to the person's.
    let (publisher, _) = app
        .make_token("wdc", person("Deploy", Role::Publisher))
        .await;
    let successor = generate_token();
    let rotation = app
        .store
        .rotate_token(
            deploy_id,
            &Successor {
                overlap_secs: 600,
                expires_at: None,
            },
            &hash_token(&successor),
            &Actor::command_line(),
            now_epoch(),
        )
        .await
        .unwrap()
        .unwrap();
    let path = format!("/v1/api_tokens/{}", rotation.token_id);
    assert_eq!(
        app.delete(&path, &admin).await.status,
        StatusCode::NO_CONTENT
    );

    let trail = trail(&app, &admin).await;
    let made = find(&trail, "api_token", &json!(deploy_id), "create");
    assert_eq!(
        (&made["actor"], &made["token_id"], &made["client_ip"]),
        (&json!("command_line"), &Value::Null, &Value::Null)
    );
    assert_eq!(
        made["changes"]["role"],
        json!({ "old": null, "new": "member" })
    );
    let deploys = made["changes"]["person_id"]["new"].clone();
    let person_made = find(&trail, "person", &deploys, "create");
    assert_eq!(person_made["changes"]["name"]["new"], "Deploy");
    let roles = json!({ "roles": { "old": "", "new": "publisher" } });
    assert_eq!(find(&trail, "person", &deploys, "update")["changes"], roles);
    let rotated = find(&trail, "api_token", &json!(deploy_id), "rotate");
    let details = json!({ "successor_id": rotation.token_id, "overlap_secs": 600 });
    assert_eq!(rotated["details"], details);
    assert!(
        rotated["changes"]["expires_at"]["new"].is_string(),
        "{rotated}"
    );
    let successor_made = find(&trail, "api_token", &json!(rotation.token_id), "create");
    assert_eq!(
        successor_made["details"],
        json!({ "rotated_from": deploy_id })
    );
    let revoked = find(&trail, "api_token", &json!(rotation.token_id), "revoke");
    made_by(revoked, admin_id, "Howard");
    assert!(revoked["changes"]["revoked_at"]["new"].is_string());
    let secrets: Vec<String> = [admin, deploy, publisher, successor]
        .iter()
        .flat_map(|t| [t.clone(), hash_token(t)])
        .collect();
    holds_none_of(&app, &trail, &secrets).await;
}

async fn a_webhook_herald_disables_is_recorded_as_disabled_by_the_system(backend: Backend) {
    let Some(app) = TestApp::running(backend, delivery_settings()).await else {
        return;
    };
    let admin = app.admin("wdc").await;
    let gone = Receiver::scripted(|_| Reply::status(410)).await;
    let hook = app.task_hook(&admin, &gone).await;
    app.publish(&admin, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    eventually("the webhook disabled", || async {
        let now = app.webhook_now(&admin, &hook).await;
        (now["disabled"] == true).then_some(())
    })
    .await;
    let trail = trail(&app, &admin).await;
    let disabled = find(&trail, "webhook", &hook["id"], "disable");
    let who = (
        &disabled["actor"],
        &disabled["token_id"],
        &disabled["person"],
    );
    assert_eq!(who, (&json!("system"), &Value::Null, &Value::Null));
    assert_eq!(
        disabled["changes"],
        json!({ "disabled": { "old": false, "new": true } })
    );
    assert_eq!(disabled["details"]["reason"], "410 Gone");
    assert_eq!(disabled["details"]["last_error"], "410 Gone");
}
