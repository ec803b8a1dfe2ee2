//! The audit trail: every kind of change is recorded, in the change's own
//! transaction, with who made it and from where, and never a secret; it is
//! read back filtered, paged and newest first, and goes after its retention.

use std::time::Duration;

use axum::http::StatusCode;
use herald::crypto::tokens::{generate_token, hash_token};
use herald::domain::Role;
use herald::domain::audit::Actor;
use herald::domain::time::now_epoch;
use herald::store::{NewToken, PersonSpec, Successor};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::support::receiver::{Received, Receiver, Reply};
use crate::support::served::exchange;
use crate::support::{Backend, TestApp, delivery_settings};
use crate::{on_both_backends, on_both_databases};

on_both_backends!(
    every_kind_of_change_is_recorded_with_who_made_it_and_none_holds_a_secret,
    each_change_records_the_clients_address,
);

on_both_databases!(
    a_change_is_not_made_without_its_record,
    the_trail_is_filtered_paged_newest_first_and_kept_to_its_account,
    changes_older_than_the_audit_retention_go,
);

fn person(name: &str, role: Role) -> NewToken {
    NewToken::plain(PersonSpec {
        name: Some(name.into()),
        email: Some(format!("{}@example.com", name.to_lowercase())),
        role,
    })
}

/// Every event of the account's trail, newest first.
async fn trail(app: &TestApp, token: &str) -> Vec<Value> {
    let answer = app.get("/v1/audit_events?per_page=100", token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body.as_array().unwrap().clone()
}

/// The one event of `record_type` `record_id` and `action`.
fn find<'a>(trail: &'a [Value], record_type: &str, record_id: &Value, action: &str) -> &'a Value {
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

/// The verification code the webhook.verify message carries.
fn code_of(message: &Received) -> (String, String) {
    assert_eq!(message.body["event"], "webhook.verify");
    let callback = message.body["payload"]["callback"].as_str().unwrap();
    let path = callback
        .strip_prefix("http://herald.test")
        .unwrap()
        .to_string();
    let code = callback.split("code=").nth(1).unwrap().split('&').next();
    (path, code.unwrap().to_string())
}

async fn every_kind_of_change_is_recorded_with_who_made_it_and_none_holds_a_secret(
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

    // Webhooks: create, verify (the receiver, without a token), update,
    // disable, enable, test.
    let hook = app.task_hook(&admin, &receiver).await;
    let id = hook["id"].clone();
    let (callback, code) = code_of(&receiver.wait_for(1).await[0]);
    let verified = app
        .send(axum::http::Method::GET, &callback, None, &[], None)
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    let path = format!("/v1/webhooks/{id}");
    for change in [
        json!({ "name": "Tasks" }),
        json!({ "disabled": true }),
        json!({ "disabled": false }),
    ] {
        assert_eq!(
            app.patch(&path, &admin, change).await.status,
            StatusCode::OK
        );
    }
    let unchanged = app.patch(&path, &admin, json!({ "name": "Tasks" })).await;
    assert_eq!(unchanged.status, StatusCode::OK);
    assert_eq!(
        app.post(&format!("{path}/test"), &admin, json!({}))
            .await
            .status,
        204
    );

    // Deliveries: a redelivery of a delivered event, a recovery.
    app.publish(&admin, json!({ "event": "task.update", "object_id": 7 }))
        .await;
    let delivered = app
        .newest_delivery_when("wdc", &hook, "the event delivered", |d| {
            d.object_id == 7 && d.status == herald::domain::delivery::DeliveryStatus::Succeeded
        })
        .await;
    let redelivered = app
        .post(
            &format!("/v1/webhook_deliveries/{}/redeliver", delivered.id),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(
        redelivered.status,
        StatusCode::ACCEPTED,
        "{}",
        redelivered.body
    );
    let recovered = app
        .post(
            &format!("{path}/recover"),
            &admin,
            json!({ "since": "2016-03-17" }),
        )
        .await;
    assert_eq!(recovered.status, StatusCode::ACCEPTED, "{}", recovered.body);

    // Policies: create (its secret shown this once), update, disable, delete.
    let policy = app
        .post(
            "/v1/webhook_policies",
            &admin,
            json!({ "jwt_alg": "hs256" }),
        )
        .await
        .body;
    let secret = policy["jwt_secret"].as_str().unwrap().to_string();
    let policy_path = format!("/v1/webhook_policies/{}", policy["id"]);
    for change in [
        json!({ "jwt_audience": "receivers" }),
        json!({ "disabled": true }),
    ] {
        assert_eq!(
            app.patch(&policy_path, &admin, change).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(
        app.delete(&policy_path, &admin).await.status,
        StatusCode::NO_CONTENT
    );

    // Tokens: made, rotated and revoked at the command line, revoked over
    // the API; and a webhook deleted.
    let (deploy, deploy_id) = app
        .make_token("wdc", person("Deploy", Role::Publisher))
        .await;
    let successor = generate_token();
    let rotation = app
        .store
        .rotate_token(
            deploy_id,
            &Successor {
                overlap_secs: 0,
                expires_at: None,
            },
            &hash_token(&successor),
            &Actor::command_line(),
            now_epoch(),
        )
        .await
        .unwrap()
        .unwrap();
    let revoked = app
        .delete(&format!("/v1/api_tokens/{}", rotation.token_id), &admin)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.delete(&path, &admin).await.status,
        StatusCode::NO_CONTENT
    );

    // Herald itself: a receiver that answers 410 Gone has its webhook disabled.
    let gone = Receiver::scripted(|_| Reply::status(410)).await;
    let doomed = app
        .create_webhook(
            &admin,
            json!({ "event": "task.update", "uri": gone.url("/") }),
        )
        .await;
    crate::support::eventually("the webhook disabled", || async {
        let now = app.webhook_now(&admin, &doomed).await;
        (now["disabled"] == true).then_some(())
    })
    .await;

    let trail = trail(&app, &admin).await;
    let by_howard = |event: &Value| {
        assert_eq!(event["actor"], "token", "{event}");
        assert_eq!(event["token_id"], admin_id, "{event}");
        assert_eq!(event["person"]["name"], "Howard", "{event}");
    };
    let created = find(&trail, "webhook", &id, "create");
    by_howard(created);
    assert_eq!(
        created["changes"]["event"],
        json!({ "old": null, "new": "task.update" })
    );
    let verify = find(&trail, "webhook", &id, "verify");
    assert_eq!(
        (&verify["actor"], &verify["token_id"], &verify["person"]),
        (&json!("anonymous"), &Value::Null, &Value::Null)
    );
    assert_eq!(
        verify["changes"],
        json!({ "verified": { "old": false, "new": true } })
    );
    let updated = find(&trail, "webhook", &id, "update");
    by_howard(updated);
    assert_eq!(
        updated["changes"],
        json!({ "name": { "old": "task.update", "new": "Tasks" } })
    );
    assert_eq!(
        find(&trail, "webhook", &id, "disable")["changes"],
        json!({ "disabled": { "old": false, "new": true } })
    );
    by_howard(find(&trail, "webhook", &id, "enable"));
    let tested = find(&trail, "webhook", &id, "test");
    assert!(tested["details"]["delivery_id"].is_i64(), "{tested}");
    let redelivery = find(
        &trail,
        "webhook_delivery",
        &json!(delivered.id),
        "redeliver",
    );
    assert_eq!(
        redelivery["details"]["redelivery_id"],
        redelivered.body["id"]
    );
    let recovery = find(&trail, "webhook", &id, "recover");
    assert_eq!(recovery["details"]["since"], "2016-03-17T00:00:00+00:00");
    let deleted = find(&trail, "webhook", &id, "delete");
    assert_eq!(
        deleted["changes"]["name"],
        json!({ "old": "Tasks", "new": null })
    );

    let policy_id = &policy["id"];
    let made = find(&trail, "webhook_policy", policy_id, "create");
    assert_eq!(made["changes"]["jwt_alg"]["new"], "hs256");
    assert_eq!(
        find(&trail, "webhook_policy", policy_id, "update")["changes"],
        json!({ "jwt_audience": { "old": null, "new": "receivers" } })
    );
    find(&trail, "webhook_policy", policy_id, "disable");
    find(&trail, "webhook_policy", policy_id, "delete");

    let token_made = find(&trail, "api_token", &json!(deploy_id), "create");
    assert_eq!(token_made["actor"], "command_line");
    assert_eq!(token_made["changes"]["role"]["new"], "publisher");
    let rotated = find(&trail, "api_token", &json!(deploy_id), "rotate");
    assert_eq!(rotated["details"]["successor_id"], rotation.token_id);
    find(&trail, "api_token", &json!(rotation.token_id), "create");
    let revocation = find(&trail, "api_token", &json!(rotation.token_id), "revoke");
    by_howard(revocation);
    find(&trail, "person", &revocation["person"]["id"], "create");

    let disabled = find(&trail, "webhook", &doomed["id"], "disable");
    assert_eq!(disabled["actor"], "system");
    assert_eq!(disabled["details"]["reason"], "410 Gone");
    assert_eq!(disabled["token_id"], Value::Null);

    // No secret in any of it, as shown or as stored.
    let stored = stored_trail(&app).await;
    let shown = Value::Array(trail).to_string();
    let secrets = [
        admin.clone(),
        hash_token(&admin),
        deploy.clone(),
        hash_token(&deploy),
        successor.clone(),
        hash_token(&successor),
        secret,
        code.clone(),
        hash_token(&code),
    ];
    for secret in &secrets {
        assert!(
            !shown.contains(secret.as_str()),
            "{secret} shown in the trail"
        );
        assert!(
            !stored.contains(secret.as_str()),
            "{secret} stored in the trail"
        );
    }
}

/// Every row of the audit trail as stored, as text.
async fn stored_trail(app: &TestApp) -> String {
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
    rows.into_iter()
        .map(|(row,)| row)
        .collect::<Vec<_>>()
        .join("\n")
}

/// `POST /v1/webhooks` on a raw connection, with more header lines.
fn create_request(token: &str, extra: &str) -> Vec<u8> {
    let body = json!({ "event": "task.update", "uri": "https://example.com/" }).to_string();
    format!(
        "POST /v1/webhooks HTTP/1.1\r\nHost: herald.test\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn each_change_records_the_clients_address(backend: Backend) {
    let settings = herald::config::Settings {
        trusted_proxy: Some(vec!["127.0.0.2/32".into()]),
        ..Default::default()
    };
    let Some(app) = TestApp::start(backend, settings).await else {
        return;
    };
    let served = app.serve().await;
    let admin = app.admin("wdc").await;
    let mut direct = served.connect_from("127.0.0.3").await;
    let answer = exchange(&mut direct, &create_request(&admin, "")).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let mut proxied = served.connect_from("127.0.0.2").await;
    let forwarded = "X-Forwarded-For: 192.0.2.1, 198.51.100.7\r\n";
    let answer = exchange(&mut proxied, &create_request(&admin, forwarded)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    // An untrusted peer's own X-Forwarded-For is not believed.
    let mut lying = served.connect_from("127.0.0.4").await;
    let spoofed = "X-Forwarded-For: 203.0.113.5\r\n";
    let answer = exchange(&mut lying, &create_request(&admin, spoofed)).await;
    assert_eq!(answer.status, 200, "{answer:?}");

    let addresses: Vec<Value> = trail(&app, &admin)
        .await
        .iter()
        .filter(|e| e["record_type"] == "webhook")
        .map(|e| e["client_ip"].clone())
        .collect();
    assert_eq!(
        addresses,
        [
            json!("127.0.0.4"),
            json!("198.51.100.7"),
            json!("127.0.0.3")
        ]
    );
}

async fn a_change_is_not_made_without_its_record(app: TestApp) {
    let admin = app.admin("wdc").await;
    let hook = app.webhook(&admin, "request.create").await;
    const DROP: &str = "DROP TABLE audit_events";
    if app.database_url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::raw_sql(DROP).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::raw_sql(DROP).execute(&mut conn).await.unwrap();
    }
    let path = format!("/v1/webhooks/{}", hook["id"]);
    let failed = app.patch(&path, &admin, json!({ "name": "renamed" })).await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    let made = app
        .post(
            "/v1/webhooks",
            &admin,
            json!({ "event": "task.update", "uri": "https://example.com/" }),
        )
        .await;
    assert_eq!(made.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        app.delete(&path, &admin).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let hooks = app.get("/v1/webhooks", &admin).await.body;
    assert_eq!(hooks.as_array().unwrap().len(), 1, "{hooks}");
    assert_eq!(
        hooks[0]["name"], "request.create",
        "the change was rolled back"
    );
}

async fn the_trail_is_filtered_paged_newest_first_and_kept_to_its_account(app: TestApp) {
    let (howard, _) = app
        .make_token("wdc", person("Howard", Role::Administrator))
        .await;
    let (grace, _) = app
        .make_token("wdc", person("Grace", Role::Administrator))
        .await;
    let (theirs, _) = app
        .make_token("acme", person("Ada", Role::Administrator))
        .await;
    let first = app.webhook(&howard, "request.create").await;
    let second = app.webhook(&grace, "request.update").await;
    app.webhook(&theirs, "request.create").await;
    let policy = app
        .post("/v1/webhook_policies", &grace, json!({ "jwt_alg": "none" }))
        .await;
    assert_eq!(policy.status, StatusCode::CREATED);

    let all = trail(&app, &howard).await;
    let webhook_or_policy: Vec<&Value> = all
        .iter()
        .filter(|e| e["record_type"] == "webhook" || e["record_type"] == "webhook_policy")
        .collect();
    assert_eq!(
        webhook_or_policy.len(),
        3,
        "only the account's own: {all:#?}"
    );
    assert_eq!(all[0]["record_type"], "webhook_policy", "newest first");
    let ids: Vec<i64> = all.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");

    let hooks = app
        .get("/v1/audit_events?record_type=webhook", &howard)
        .await;
    assert_eq!(hooks.body.as_array().unwrap().len(), 2);
    let one = app
        .get(
            &format!(
                "/v1/audit_events?record_type=webhook&record_id={}",
                second["id"]
            ),
            &howard,
        )
        .await;
    assert_eq!(one.body.as_array().unwrap().len(), 1);
    assert_eq!(one.body[0]["person"]["name"], "Grace");
    let graces = one.body[0]["person"]["id"].clone();
    let by_grace = app
        .get(
            &format!("/v1/audit_events?person_id={graces}&action=create"),
            &howard,
        )
        .await;
    let records: Vec<&Value> = by_grace
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["record_type"])
        .collect();
    assert_eq!(records, [&json!("webhook_policy"), &json!("webhook")]);
    let today = app
        .get("/v1/audit_events?created_at=%3E%3D2016-03-17", &howard)
        .await;
    assert_eq!(today.body.as_array().unwrap().len(), all.len());
    let before = app
        .get("/v1/audit_events?created_at=%3C2016-03-17", &howard)
        .await;
    assert_eq!(before.body, json!([]));

    let page = app.get("/v1/audit_events?per_page=2&page=2", &howard).await;
    assert_eq!(
        page.header("x-pagination-total-entries"),
        all.len().to_string()
    );
    assert_eq!(page.body.as_array().unwrap()[0]["id"], all[2]["id"]);
    assert!(all.len() > 4, "{all:#?}");
    assert!(page.header("link").contains("rel=\"next\""));
    let picked = app
        .get("/v1/audit_events?fields=action&per_page=1", &howard)
        .await;
    assert_eq!(
        picked.body,
        json!([{ "id": all[0]["id"], "action": "create" }])
    );

    for bad in [
        "record_type=nothing",
        "action=explode",
        "actor=someone",
        "unknown=1",
    ] {
        let answer = app.get(&format!("/v1/audit_events?{bad}"), &howard).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            answer.body
        );
    }
    let single = app
        .get(&format!("/v1/audit_events/{}", all[0]["id"]), &howard)
        .await;
    assert!(single.body["nodeID"].is_string(), "{}", single.body);
    assert_eq!(single.body["record_id"], policy.body["id"]);
    let hidden = app
        .get(&format!("/v1/audit_events/{}", all[0]["id"]), &theirs)
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    let created = find(&all, "webhook", &first["id"], "create");
    assert_eq!(created["person"]["name"], "Howard");
}

async fn changes_older_than_the_audit_retention_go(app: TestApp) {
    let admin = app.admin("wdc").await;
    app.webhook(&admin, "request.create").await;
    let kept = trail(&app, &admin).await.len();
    assert!(kept >= 2, "the token and the webhook");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let year = Duration::from_secs(365 * 86_400);
    let removed = herald::delivery::retention::sweep_audit(app.store.as_ref(), year, &shutdown)
        .await
        .unwrap();
    assert_eq!(removed, 0, "within retention nothing goes");
    assert_eq!(trail(&app, &admin).await.len(), kept);
    let removed = app
        .store
        .purge_audit_events(now_epoch() + 10, 500)
        .await
        .unwrap();
    assert_eq!(removed as usize, kept);
    assert_eq!(trail(&app, &admin).await, Vec::<Value>::new());
}
