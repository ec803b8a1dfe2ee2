//! The console's pages and actions: each shows what the API holds and acts
//! by the API's rules, recorded in the audit trail as the signed-in
//! token's; every answer carries the security headers.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::{Console, Page, request};
use crate::on_databases;
use crate::support::TestApp;

on_databases!(
    every_answer_carries_the_security_headers,
    a_webhook_is_made_and_changed_by_the_apis_rules,
    a_test_shows_its_delivery_and_the_message_it_will_send,
    a_policys_key_is_shown_once_and_one_in_use_is_kept,
    the_overview_and_events_count_the_accounts_webhooks,
);

fn assert_headers(page: &Page, path: &str) {
    let header = |name: &str| {
        page.headers
            .get(name)
            .unwrap_or_else(|| panic!("{path}: no {name}"))
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        header("content-security-policy"),
        herald::api::console::CONTENT_SECURITY_POLICY,
        "{path}"
    );
    assert!(!header("content-security-policy").contains("unsafe-inline"));
    assert_eq!(header("x-frame-options"), "DENY", "{path}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
}

async fn every_answer_carries_the_security_headers(app: TestApp) {
    let token = app.admin("acme").await;
    let hook = app
        .create_webhook(
            &token,
            json!({ "event": "request.create", "uri": "https://example.com/h" }),
        )
        .await;
    app.post(
        &format!("/v1/webhooks/{}/test", hook["id"]),
        &token,
        json!({}),
    )
    .await;
    let delivery = app.deliveries("acme", &hook).await[0].id;
    let console = Console::sign_in(&app, &token).await;
    let id = &hook["id"];
    let pages = [
        "/console".to_string(),
        "/console/webhooks?state=failing&event=request.create&q=x&page=2".into(),
        "/console/webhooks/new".into(),
        format!("/console/webhooks/{id}"),
        format!("/console/webhooks/{id}?status=pending&page=1"),
        format!("/console/webhooks/{id}/edit"),
        format!("/console/webhooks/{id}/delete"),
        format!("/console/deliveries/{delivery}"),
        "/console/policies".into(),
        "/console/events".into(),
    ];
    for path in &pages {
        let page = console.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        assert_headers(&page, path);
        assert!(!page.body.contains("<script>"), "{path}: an inline script");
        assert!(!page.body.contains("style="), "{path}: an inline style");
    }
    for path in [
        "/console/sign-in",
        "/console/assets/console.css",
        "/console/assets/console.js",
    ] {
        let page = request(&app, Method::GET, path, "", None).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_headers(&page, path);
    }
    for path in [
        "/console/nowhere",
        "/console/webhooks/999999",
        "/console/assets/x.js",
    ] {
        let page = console.get(path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert_headers(&page, path);
    }
    let refused = console.post_raw("/console/sign-out", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_headers(&refused, "a refused form");
    let signed_out = request(&app, Method::GET, "/console/webhooks", "", None).await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_out.location(), "/console/sign-in");
    assert_headers(&signed_out, "a page without a session");
}

async fn a_webhook_is_made_and_changed_by_the_apis_rules(app: TestApp) {
    let token = app.admin("acme").await;
    let console = Console::sign_in(&app, &token).await;
    let invalid = console
        .post(
            "/console/webhooks/new",
            &[
                ("name", "Orders"),
                ("event", ""),
                ("uri", "ftp://example.com/x"),
            ],
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    let api = app
        .post(
            "/v1/webhooks",
            &token,
            json!({ "name": "Orders", "uri": "ftp://example.com/x" }),
        )
        .await;
    for (field, message) in api.errors() {
        let escaped = message.replace('\'', "&#39;").replace('"', "&#34;");
        assert!(
            invalid
                .body
                .contains(&format!("id=\"{field}-error\">{escaped}<")),
            "no {field} error {message:?} beside its field: {}",
            invalid.body
        );
    }
    assert!(
        invalid.body.contains("value=\"Orders\""),
        "the name typed is kept"
    );
    let made = console
        .post(
            "/console/webhooks/new",
            &[
                ("name", "Orders"),
                ("event", "request.create"),
                ("uri", "https://example.com/orders"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let path = made.location().split('?').next().unwrap().to_string();
    let id: i64 = path.rsplit('/').next().unwrap().parse().unwrap();
    let hook = app.get(&format!("/v1/webhooks/{id}"), &token).await.body;
    assert_eq!(hook["name"], "Orders");
    assert_eq!(hook["uri"], "https://example.com/orders");
    let edit = console
        .post(
            &format!("{path}/edit"),
            &[
                ("name", "Invoices"),
                ("event", "request.update"),
                ("uri", "https://example.com/invoices"),
                ("description", "billing"),
            ],
        )
        .await;
    assert_eq!(edit.status, StatusCode::SEE_OTHER, "{}", edit.body);
    let hook = app.get(&format!("/v1/webhooks/{id}"), &token).await.body;
    assert_eq!(
        (hook["name"].as_str(), hook["event"].as_str()),
        (Some("Invoices"), Some("request.update"))
    );
    assert_eq!(hook["description"], "billing");
    console.post(&format!("{path}/disable"), &[]).await;
    assert_eq!(
        app.get(&format!("/v1/webhooks/{id}"), &token).await.body["disabled"],
        true
    );
    console.post(&format!("{path}/enable"), &[]).await;
    assert_eq!(
        app.get(&format!("/v1/webhooks/{id}"), &token).await.body["disabled"],
        false
    );
    let trail = app
        .get(
            &format!("/v1/audit_events?record_type=webhook&record_id={id}&sort=id"),
            &token,
        )
        .await
        .body;
    let actions: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // The webhook is not verified, so each change sends the handshake
    // again (§8), and the trail records each sending.
    assert_eq!(
        actions,
        [
            "create", "verify", "update", "verify", "disable", "verify", "enable", "verify"
        ],
        "{trail}"
    );
    let gone = console.post(&format!("{path}/delete"), &[]).await;
    assert_eq!(gone.location(), "/console/webhooks?notice=deleted");
    assert_eq!(
        app.get(&format!("/v1/webhooks/{id}"), &token).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn a_test_shows_its_delivery_and_the_message_it_will_send(app: TestApp) {
    let token = app.admin("acme").await;
    let hook = app
        .create_webhook(
            &token,
            json!({ "name": "Orders", "event": "request.create", "uri": "https://example.com/h" }),
        )
        .await;
    let console = Console::sign_in(&app, &token).await;
    let sent = console
        .post(&format!("/console/webhooks/{}/test", hook["id"]), &[])
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    let delivery = app.deliveries("acme", &hook).await[0].id;
    let page = console
        .get(&format!("/console/webhooks/{}", hook["id"]))
        .await;
    assert!(
        page.body
            .contains(&format!("/console/deliveries/{delivery}"))
    );
    let page = console
        .get(&format!("/console/deliveries/{delivery}"))
        .await;
    assert!(page.body.contains("this is the message it will send"));
    assert!(
        page.body.contains("&#34;object_id&#34;: 12345"),
        "{}",
        page.body
    );
    // The API shows the same message before the first attempt.
    let api = app
        .get(&format!("/v1/webhook_deliveries/{delivery}"), &token)
        .await
        .body;
    assert_eq!(api["message"]["object_id"], 12345, "{api}");
    assert_eq!(api["message"]["name"], "Orders");
    assert_eq!(api["message"]["webhook_id"], hook["id"]);
    let early = console
        .post(&format!("/console/deliveries/{delivery}/redeliver"), &[])
        .await;
    assert_eq!(early.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        early
            .body
            .contains("Only succeeded or given up deliveries can be redelivered")
    );
    let recover = console
        .post(
            &format!("/console/webhooks/{}/recover", hook["id"]),
            &[("since", "yesterday")],
        )
        .await;
    assert_eq!(recover.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(recover.body.contains("since must be a date or date-time"));
    let recover = console
        .post(
            &format!("/console/webhooks/{}/recover", hook["id"]),
            &[("since", "2020-01-01T00:00")],
        )
        .await;
    assert_eq!(recover.status, StatusCode::SEE_OTHER, "{}", recover.body);
    assert!(recover.location().contains("notice=recovered&n=0"));
}

async fn a_policys_key_is_shown_once_and_one_in_use_is_kept(app: TestApp) {
    let token = app.admin("acme").await;
    let console = Console::sign_in(&app, &token).await;
    let bad = console
        .post("/console/policies", &[("jwt_alg", "md5")])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("Jwt alg is not included in the list"));
    let made = console
        .post("/console/policies", &[("jwt_alg", "es256")])
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert!(made.body.contains("-----BEGIN PUBLIC KEY-----"));
    assert!(made.body.contains("Herald shows it this once"));
    let listed = console.get("/console/policies").await;
    assert!(
        !listed.body.contains("BEGIN PUBLIC KEY"),
        "the key is shown once only"
    );
    let policies = app.get("/v1/webhook_policies", &token).await.body;
    let policy = policies[0]["id"].as_i64().unwrap();
    let hook = app
        .create_webhook(&token, json!({ "name": "Signed", "event": "request.create", "uri": "https://example.com/h", "webhook_policy_id": policy }))
        .await;
    let refused = console
        .post(&format!("/console/policies/{policy}/delete"), &[])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .body
            .contains(&format!("“Signed” (id {})", hook["id"])),
        "{}",
        refused.body
    );
    console
        .post(&format!("/console/policies/{policy}/disable"), &[])
        .await;
    assert_eq!(
        app.get(&format!("/v1/webhook_policies/{policy}"), &token)
            .await
            .body["disabled"],
        true
    );
    app.delete(&format!("/v1/webhooks/{}", hook["id"]), &token)
        .await;
    let deleted = console
        .post(&format!("/console/policies/{policy}/delete"), &[])
        .await;
    assert_eq!(deleted.location(), "/console/policies?notice=deleted");
}

async fn the_overview_and_events_count_the_accounts_webhooks(app: TestApp) {
    let token = app.admin("acme").await;
    for uri in ["https://example.com/a", "https://example.com/b"] {
        app.create_webhook(&token, json!({ "event": "request.create", "uri": uri }))
            .await;
    }
    let off = app
        .create_webhook(
            &token,
            json!({ "event": "request.update", "uri": "https://example.com/c", "disabled": true }),
        )
        .await;
    app.post(
        &format!("/v1/webhooks/{}/test", off["id"]),
        &token,
        json!({}),
    )
    .await;
    let console = Console::sign_in(&app, &token).await;
    let overview = console.get("/console").await.body;
    assert!(
        overview.contains("<span class=\"count\">2</span> enabled"),
        "{overview}"
    );
    assert!(overview.contains("<span class=\"count\">1</span> disabled"));
    // Three verification messages and a test wait: no worker runs here.
    assert!(
        overview.contains("<dt>Pending or in flight</dt><dd>4</dd>"),
        "{overview}"
    );
    let events = console.get("/console/events").await.body;
    assert!(
        events.contains("<a href=\"/console/webhooks?event=request.create\">2</a>"),
        "{events}"
    );
    let disabled = console.get("/console/webhooks?state=disabled").await.body;
    assert!(disabled.contains("1 webhook,") && disabled.contains("https://example.com/c"));
    let search = console.get("/console/webhooks?q=EXAMPLE.COM/B").await.body;
    assert!(
        search.contains("1 webhook,") && search.contains("https://example.com/b"),
        "{search}"
    );
    // LIKE's wildcards are taken literally: no URI holds `_` or `%`.
    for wildcard in ["_", "%25", "example.com%2F%25"] {
        let none = console
            .get(&format!("/console/webhooks?q={wildcard}"))
            .await
            .body;
        assert!(none.contains("0 webhooks,"), "{wildcard}: {none}");
    }
}
