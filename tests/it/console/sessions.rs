//! Console sessions: only an administrator's token signs in; a session
//! ends when it expires or signs out; every form needs its token; a
//! session sees only its own account; `--console false` serves nothing.

use axum::http::{Method, StatusCode};
use herald::domain::Role;
use serde_json::json;

use super::{Console, execute, request, sign_in_with};
use crate::on_databases;
use crate::support::{Backend, TestApp};

on_databases!(
    only_an_administrators_token_signs_in,
    a_session_cookie_is_http_only_and_strict,
    an_expired_session_opens_nothing,
    signing_out_ends_the_session,
    a_form_without_its_token_is_refused,
    another_accounts_records_are_not_found,
    signing_in_and_out_is_in_the_audit_trail,
);

async fn only_an_administrators_token_signs_in(app: TestApp) {
    let publisher = app.token("acme", Role::Publisher).await;
    let refused = sign_in_with(&app, &publisher).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("Only an administrator"));
    assert_eq!(refused.cookie("herald_console"), None);
    let unknown = sign_in_with(&app, "hrld_nonsense").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.cookie("herald_console"), None);
    // A sign-in form must come from the console: its token is checked too.
    let admin = app.admin("acme").await;
    let forged = request(
        &app,
        Method::POST,
        "/console/sign-in",
        "",
        Some(&[("csrf", "x"), ("token", admin.as_str())]),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(forged.cookie("herald_console"), None);
}

async fn a_session_cookie_is_http_only_and_strict(app: TestApp) {
    let admin = app.admin("acme").await;
    let answer = sign_in_with(&app, &admin).await;
    let cookie = answer
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("herald_console="))
        .unwrap();
    for part in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
        "Max-Age=43200",
    ] {
        assert!(cookie.contains(part), "{cookie} lacks {part}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    let https = app.with_settings(|s| s.public_url = Some("https://herald.example".into()));
    let answer = sign_in_with(&https, &admin).await;
    let cookie = answer.cookie("herald_console").unwrap();
    let header = answer
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.contains(&cookie))
        .unwrap();
    assert!(header.contains("; Secure"), "{header}");
}

async fn an_expired_session_opens_nothing(app: TestApp) {
    let console = Console::sign_in(&app, &app.admin("acme").await).await;
    assert_eq!(
        console.get("/console/webhooks").await.status,
        StatusCode::OK
    );
    execute(
        &app.database_url,
        "UPDATE console_sessions SET expires_at = 0",
    )
    .await;
    let page = console.get("/console/webhooks").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/console/sign-in?notice=session_ended");
    let form = console
        .post("/console/webhooks/new", &[("event", "request.create")])
        .await;
    assert_eq!(form.status, StatusCode::FORBIDDEN);
    assert!(form.body.contains("Your session has ended"));
}

async fn signing_out_ends_the_session(app: TestApp) {
    let console = Console::sign_in(&app, &app.admin("acme").await).await;
    let out = console.post("/console/sign-out", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/console/sign-in?notice=signed_out");
    assert!(
        out.headers
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    // The old cookie, kept by a thief, opens nothing.
    let page = console.get("/console").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location().starts_with("/console/sign-in"));
    assert_eq!(
        console.post("/console/sign-out", &[]).await.status,
        StatusCode::FORBIDDEN
    );
}

async fn a_form_without_its_token_is_refused(app: TestApp) {
    let token = app.admin("acme").await;
    let hook = app
        .create_webhook(
            &token,
            json!({ "event": "request.create", "uri": "https://example.com/h" }),
        )
        .await;
    let console = Console::sign_in(&app, &token).await;
    let path = format!("/console/webhooks/{}/disable", hook["id"]);
    let missing = console.post_raw(&path, &[]).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(missing.body.contains("security token is missing or wrong"));
    assert!(
        missing.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let wrong = console.post_raw(&path, &[("csrf", "0123")]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    // Another session's token is wrong too.
    let other = Console::sign_in(&app, &token).await;
    let stolen = console
        .post_raw(&path, &[("csrf", other.csrf.as_str())])
        .await;
    assert_eq!(stolen.status, StatusCode::FORBIDDEN);
    assert_eq!(app.webhook_now(&token, &hook).await["disabled"], false);
    assert_eq!(console.post(&path, &[]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(app.webhook_now(&token, &hook).await["disabled"], true);
}

async fn another_accounts_records_are_not_found(app: TestApp) {
    let theirs = app.admin("other").await;
    let hook = app
        .create_webhook(
            &theirs,
            json!({ "event": "request.create", "uri": "https://example.com/h" }),
        )
        .await;
    let policy = app
        .post(
            "/v1/webhook_policies",
            &theirs,
            json!({ "jwt_alg": "hs256" }),
        )
        .await
        .body;
    let test = app
        .post(
            &format!("/v1/webhooks/{}/test", hook["id"]),
            &theirs,
            json!({}),
        )
        .await;
    assert_eq!(test.status, StatusCode::NO_CONTENT);
    let delivery = app.deliveries("other", &hook).await[0].id;
    let console = Console::sign_in(&app, &app.admin("acme").await).await;
    let (h, p) = (&hook["id"], &policy["id"]);
    for path in [
        format!("/console/webhooks/{h}"),
        format!("/console/webhooks/{h}/edit"),
        format!("/console/webhooks/{h}/delete"),
        format!("/console/deliveries/{delivery}"),
        format!("/console/policies/{p}/delete"),
        "/console/webhooks/abc".to_string(),
    ] {
        let page = console.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.body.contains("not in your account"), "{path}");
    }
    for path in [
        format!("/console/webhooks/{h}/disable"),
        format!("/console/webhooks/{h}/test"),
        format!("/console/webhooks/{h}/delete"),
        format!("/console/deliveries/{delivery}/redeliver"),
        format!("/console/policies/{p}/disable"),
        format!("/console/policies/{p}/delete"),
    ] {
        assert_eq!(
            console.post(&path, &[]).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(app.webhook_now(&theirs, &hook).await["disabled"], false);
    let listed = console.get("/console/webhooks").await;
    assert!(listed.body.contains("0 webhooks"), "{}", listed.body);
}

async fn signing_in_and_out_is_in_the_audit_trail(app: TestApp) {
    let token = app.admin("acme").await;
    let console = Console::sign_in(&app, &token).await;
    console.post("/console/sign-out", &[]).await;
    let trail = app
        .get(
            "/v1/audit_events?record_type=console_session&sort=id",
            &token,
        )
        .await;
    assert_eq!(trail.status, StatusCode::OK, "{}", trail.body);
    let actions: Vec<&str> = trail
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["sign_in", "sign_out"], "{}", trail.body);
}

/// With `--console false` nothing is served under `/console`.
#[test]
fn the_console_can_be_turned_off() {
    crate::support::run(
        |backend: Backend| async move {
            let Some(app) = TestApp::start(backend, Default::default()).await else {
                return;
            };
            let off = app.with_settings(|s| s.console = Some(false));
            for path in [
                "/console",
                "/console/sign-in",
                "/console/assets/console.css",
            ] {
                let page = request(&off, Method::GET, path, "", None).await;
                assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
            }
            let on = request(&app, Method::GET, "/console/sign-in", "", None).await;
            assert_eq!(on.status, StatusCode::OK);
        },
        Backend::Sqlite,
    );
}
