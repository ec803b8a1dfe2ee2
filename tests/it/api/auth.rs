//! Authentication, roles, account isolation and rate limiting (§2).

use axum::http::{Method, StatusCode};
use herald::domain::Role;
use serde_json::json;

use crate::on_databases;
use crate::support::TestApp;

on_databases!(
    refuses_missing_unknown_and_malformed_tokens,
    account_header_must_name_the_tokens_account,
    webhooks_api_is_for_administrators_only,
    accounts_never_see_each_others_webhooks,
    v1_root_answers_an_empty_object,
    rate_limits_each_token_with_headers,
);

async fn refuses_missing_unknown_and_malformed_tokens(app: TestApp) {
    app.admin("wdc").await;
    let unauthorized = json!({ "message": "Unauthorized" });
    let none = app.send(Method::GET, "/v1/webhooks", None, &[], None).await;
    assert_eq!(
        (none.status, none.body),
        (StatusCode::UNAUTHORIZED, unauthorized.clone())
    );
    let unknown = app.get("/v1/webhooks", "hrld_not-a-real-token").await;
    assert_eq!(
        (unknown.status, unknown.body),
        (StatusCode::UNAUTHORIZED, unauthorized.clone())
    );
    let basic = app
        .send(
            Method::GET,
            "/v1/webhooks",
            None,
            &[("authorization", "Basic dXNlcjpwdw==")],
            None,
        )
        .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
}

async fn account_header_must_name_the_tokens_account(app: TestApp) {
    let token = app.admin("wdc").await;
    app.admin("other").await;
    let matching = app
        .send(
            Method::GET,
            "/v1/webhooks",
            Some(&token),
            &[("x-r-service-account", "wdc")],
            None,
        )
        .await;
    assert_eq!(matching.status, StatusCode::OK);
    let other = app
        .send(
            Method::GET,
            "/v1/webhooks",
            Some(&token),
            &[("x-r-service-account", "other")],
            None,
        )
        .await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED);
    assert_eq!(other.body, json!({ "message": "Unauthorized" }));
}

async fn webhooks_api_is_for_administrators_only(app: TestApp) {
    let admin = app.admin("wdc").await;
    let hook = app.webhook(&admin, "request.create").await;
    let path = format!("/v1/webhooks/{}", hook["id"]);
    for role in [Role::Publisher, Role::Member] {
        let token = app.token("wdc", role).await;
        let body = Some(
            json!({ "event": "request.create", "uri": "https://example.com/" })
                .to_string()
                .into_bytes(),
        );
        for (method, path, body) in [
            (Method::GET, "/v1/webhooks", None),
            (Method::GET, "/v1/webhooks/enabled", None),
            (Method::POST, "/v1/webhooks", body.clone()),
            (Method::GET, path.as_str(), None),
            (Method::PATCH, path.as_str(), body),
            (Method::DELETE, path.as_str(), None),
            (Method::POST, &format!("{path}/test"), None),
        ] {
            let response = app
                .send(method.clone(), path, Some(&token), &[], body)
                .await;
            assert_eq!(
                response.status,
                StatusCode::FORBIDDEN,
                "{role:?} {method} {path}"
            );
            assert_eq!(response.body, json!({ "message": "Forbidden" }));
        }
    }
    assert_eq!(
        app.get(&path, &admin).await.status,
        StatusCode::OK,
        "nothing was changed"
    );
}

async fn accounts_never_see_each_others_webhooks(app: TestApp) {
    let ours = app.admin("wdc").await;
    let theirs = app.admin("acme").await;
    let hook = app.webhook(&ours, "request.create").await;
    app.webhook(&theirs, "request.create").await;
    let path = format!("/v1/webhooks/{}", hook["id"]);
    assert_eq!(app.get(&path, &theirs).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.patch(&path, &theirs, json!({ "name": "x" }))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&path, &theirs).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(&format!("{path}/test"), &theirs, json!({}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let listed = app.get("/v1/webhooks", &theirs).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert_ne!(listed.body[0]["id"], hook["id"]);
    assert_eq!(listed.header("x-pagination-total-entries"), "1");
    let ids = format!("/v1/webhooks?id={}", hook["id"]);
    assert_eq!(app.get(&ids, &theirs).await.body, json!([]));
    assert_eq!(
        app.get(&path, &ours).await.body,
        hook,
        "the owner's record is untouched"
    );
}

async fn v1_root_answers_an_empty_object(app: TestApp) {
    let token = app.token("wdc", Role::Member).await;
    let response = app.get("/v1", &token).await;
    assert_eq!(
        (response.status, response.body),
        (StatusCode::OK, json!({}))
    );
}

async fn rate_limits_each_token_with_headers(app: TestApp) {
    let limited = app.with_settings(|s| s.rate_limit = Some(2));
    let token = limited.admin("wdc").await;
    let first = limited.get("/v1/webhooks", &token).await;
    assert_eq!(first.header("x-ratelimit-limit"), "2");
    assert_eq!(first.header("x-ratelimit-remaining"), "1");
    let reset: i64 = first.header("x-ratelimit-reset").parse().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(reset > now && reset <= now + 3600, "{reset}");
    // Errors count and carry the headers too.
    let forbidden = limited.get("/v1/webhooks/999", &token).await;
    assert_eq!(forbidden.header("x-ratelimit-remaining"), "0");
    let refused = limited.get("/v1/webhooks", &token).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.body, json!({ "message": "Too Many Requests" }));
    let retry: i64 = refused.header("retry-after").parse().unwrap();
    assert!((1..=3600).contains(&retry));
    let other = limited.admin("wdc").await;
    assert_eq!(
        limited.get("/v1/webhooks", &other).await.status,
        StatusCode::OK
    );
}
