//! Reading the audit trail back, filtered, paged and newest first, to the
//! account's administrators alone; each change's client address; no change
//! without its record; and retention.

use std::time::Duration;

use axum::http::StatusCode;
use herald::domain::Role;
use herald::domain::time::now_epoch;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::api::audit::{find, person, trail};
use crate::on_databases;
use crate::support::served::exchange;
use crate::support::{Backend, TestApp};

on_databases!(each_change_records_the_clients_address);

on_databases!(
    a_change_is_not_made_without_its_record,
    the_trail_is_filtered_paged_newest_first_and_kept_to_its_account,
    changes_older_than_the_audit_retention_go,
);

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
        .filter(|e| e["record_type"] == "webhook" && e["action"] == "create")
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
        .filter(|e| e["action"] == "create")
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
        .get(
            "/v1/audit_events?record_type=webhook&action=create",
            &howard,
        )
        .await;
    assert_eq!(hooks.body.as_array().unwrap().len(), 2);
    let one = app
        .get(
            &format!(
                "/v1/audit_events?record_type=webhook&record_id={}&action=create",
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
