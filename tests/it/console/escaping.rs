//! Everything a user or a receiver wrote reaches a page escaped: a
//! `<script>` in any of it is text, never markup.

use std::net::SocketAddr;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use herald::domain::Role;
use serde_json::json;
use tokio::net::TcpListener;

use super::{Console, execute};
use crate::on_databases;
use crate::support::{Backend, TestApp, delivery_settings, eventually};

on_databases!(
    a_script_anyone_wrote_is_shown_as_text,
    a_script_a_receiver_answered_is_shown_as_text,
);

const SCRIPT: &str = "<script>alert(1)</script>";
const ESCAPED: &str = "&#60;script&#62;alert(1)&#60;/script&#62;";

/// Panics if the page holds the raw script, or not its escaped text.
fn assert_escaped(body: &str, what: &str) {
    assert!(!body.contains(SCRIPT), "raw script on the page of {what}");
    assert!(
        body.contains(ESCAPED),
        "no escaped script on the page of {what}"
    );
}

async fn a_script_anyone_wrote_is_shown_as_text(app: TestApp) {
    let token = app.admin("acme").await;
    let policy = app
        .post(
            "/v1/webhook_policies",
            &token,
            json!({ "jwt_alg": "hs256", "jwt_audience": SCRIPT }),
        )
        .await;
    assert_eq!(policy.status, StatusCode::CREATED, "{}", policy.body);
    let hook = app
        .create_webhook(
            &token,
            json!({
                "name": SCRIPT,
                "event": "request.create",
                "uri": format!("https://example.com/hook?q={SCRIPT}"),
                "description": SCRIPT,
                "source": "console-test",
                "sourceID": SCRIPT,
                "mail_exceptions_to": null,
                "webhook_policy_id": policy.body["id"],
            }),
        )
        .await;
    let id = hook["id"].as_i64().unwrap();
    app.publish(
        &token,
        json!({ "event": "request.create", "object_id": 7, "payload": { "note": SCRIPT } }),
    )
    .await;
    let console = Console::sign_in(&app, &token).await;
    assert_escaped(&console.get("/console/webhooks").await.body, "webhooks");
    assert_escaped(
        &console.get(&format!("/console/webhooks/{id}")).await.body,
        "webhook",
    );
    assert_escaped(
        &console
            .get(&format!("/console/webhooks/{id}/edit"))
            .await
            .body,
        "edit form",
    );
    assert_escaped(
        &console
            .get(&format!("/console/webhooks/{id}/delete"))
            .await
            .body,
        "delete confirmation",
    );
    let delivery = app.deliveries("acme", &hook).await[0].id;
    let page = console
        .get(&format!("/console/deliveries/{delivery}"))
        .await;
    assert!(!page.body.contains(SCRIPT), "raw script in the message");
    assert!(
        page.body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;")
    );
    assert_escaped(&console.get("/console/policies").await.body, "policies");
    // Herald names policies itself; a name is escaped all the same.
    let rename = format!("UPDATE webhook_policies SET name = '{SCRIPT}'");
    execute(&app.database_url, &rename).await;
    let policies = console.get("/console/policies").await.body;
    assert_eq!(policies.matches(ESCAPED).count(), 2, "name and audience");
    assert!(!policies.contains(SCRIPT));
    let search = console.get("/console/webhooks?q=%3Cscript%3E").await;
    assert_escaped(&search.body, "a search");
    let invalid = console
        .post(
            "/console/webhooks/new",
            &[
                ("name", SCRIPT),
                ("event", "request.create"),
                ("uri", SCRIPT),
            ],
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_escaped(&invalid.body, "a form sent back");
}

async fn a_script_a_receiver_answered_is_shown_as_text(backend: Backend) {
    let Some(app) = TestApp::running(backend, delivery_settings()).await else {
        return;
    };
    let receiver = evil_receiver().await;
    let token = app.token("acme", Role::Administrator).await;
    let hook = app
        .create_webhook(
            &token,
            json!({ "event": "request.create", "uri": format!("http://{receiver}/hook") }),
        )
        .await;
    let console = Console::sign_in(&app, &token).await;
    let id = hook["id"].as_i64().unwrap();
    let sent = console
        .post(&format!("/console/webhooks/{id}/test"), &[])
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let delivery = eventually("the test's attempt", || async {
        let newest = app.deliveries("acme", &hook).await.into_iter().next()?;
        (newest.attempts > 0).then_some(newest)
    })
    .await;
    let page = console
        .get(&format!("/console/deliveries/{}", delivery.id))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.body.contains("<script>"),
        "raw script from the receiver"
    );
    assert!(
        page.body
            .contains("x-evil: &#60;script&#62;alert(1)&#60;/script&#62;")
    );
    assert!(
        page.body
            .contains("&#60;script&#62;alert(2)&#60;/script&#62;")
    );
}

/// A receiver whose answer carries scripts in a header and its body.
async fn evil_receiver() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/hook",
        post(|| async { ([("x-evil", SCRIPT)], "<script>alert(2)</script>") }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}
