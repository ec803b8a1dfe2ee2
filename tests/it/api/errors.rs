//! Errors only ever in the contract's JSON form (§2), and the health check.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::on_databases;
use crate::support::TestApp;

on_databases!(
    malformed_json_is_a_400_naming_the_problem,
    nul_characters_are_a_400_not_a_database_error,
    bodies_over_the_limit_are_413,
    unknown_routes_are_404_and_wrong_methods_405,
    healthz_answers_when_the_database_does,
    ids_that_are_not_utf8_are_a_json_404,
);

async fn ids_that_are_not_utf8_are_a_json_404(app: TestApp) {
    let token = app.admin("wdc").await;
    for (method, path) in [
        (Method::DELETE, "/v1/webhook_policies/%16%B7"),
        (Method::GET, "/v1/webhook_policies/%FF"),
        (Method::GET, "/v1/webhooks/%C0%AF"),
        (Method::PATCH, "/v1/webhooks/%FF"),
        (Method::GET, "/v1/webhooks/%FF/deliveries"),
        (Method::POST, "/v1/webhooks/%FF/test"),
        (Method::GET, "/v1/webhook_deliveries/%FE"),
        (Method::POST, "/v1/webhook_deliveries/%FE/redeliver"),
    ] {
        let response = app
            .send(
                method.clone(),
                path,
                Some(&token),
                &[],
                Some(b"{}".to_vec()),
            )
            .await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(
            response.body,
            json!({ "message": "Not Found" }),
            "{method} {path}"
        );
        assert_eq!(response.header("content-type"), "application/json");
    }
    // The verification callback needs no token.
    let response = app
        .send(
            Method::GET,
            "/v1/webhooks/%FF/verify?code=x",
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert_eq!(response.body, json!({ "message": "Not Found" }));
}

async fn malformed_json_is_a_400_naming_the_problem(app: TestApp) {
    let token = app.admin("wdc").await;
    for body in [
        &b"{\"event\": "[..],
        b"not json",
        b"[1,2]",
        b"\"text\"",
        &[0xff, 0xfe][..],
    ] {
        let response = app
            .send(
                Method::POST,
                "/v1/webhooks",
                Some(&token),
                &[],
                Some(body.to_vec()),
            )
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{body:?}");
        assert!(response.body["message"].is_string(), "{}", response.body);
    }
    let hook = app.webhook(&token, "request.create").await;
    let response = app
        .send(
            Method::PATCH,
            &format!("/v1/webhooks/{}", hook["id"]),
            Some(&token),
            &[],
            Some(b"{".to_vec()),
        )
        .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(
        response.body["message"]
            .as_str()
            .unwrap()
            .starts_with("Malformed JSON")
    );
}

async fn bodies_over_the_limit_are_413(app: TestApp) {
    let small = app.with_settings(|s| s.max_body_size = Some(200));
    let token = small.admin("wdc").await;
    let body = json!({ "event": "request.create", "uri": "https://example.com/", "description": "d".repeat(300) });
    let response = small.post("/v1/webhooks", &token, body).await;
    assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.body, json!({ "message": "Payload Too Large" }));
    assert_eq!(
        small.get("/v1/webhooks", &token).await.body,
        json!([]),
        "nothing stored"
    );
}

async fn unknown_routes_are_404_and_wrong_methods_405(app: TestApp) {
    let token = app.admin("wdc").await;
    for path in ["/v1/nothing", "/nothing", "/v1/webhooks/1/nothing"] {
        let response = app.get(path, &token).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(response.body, json!({ "message": "Not Found" }));
    }
    for (method, path) in [
        (Method::DELETE, "/v1/webhooks"),
        (Method::POST, "/v1/webhooks/enabled"),
        (Method::GET, "/v1/webhooks/1/test"),
    ] {
        let response = app
            .send(method.clone(), path, Some(&token), &[], None)
            .await;
        assert_eq!(
            response.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(response.body, json!({ "message": "Method Not Allowed" }));
    }
}

async fn healthz_answers_when_the_database_does(app: TestApp) {
    let response = app.send(Method::GET, "/healthz", None, &[], None).await;
    assert_eq!(
        (response.status, response.body),
        (StatusCode::OK, json!({ "status": "ok" }))
    );
}

async fn nul_characters_are_a_400_not_a_database_error(app: TestApp) {
    let token = app.admin("wdc").await;
    let body =
        br#"{"event":"request.create","uri":"https://example.com/","name":"a\u0000b"}"#.to_vec();
    let response = app
        .send(Method::POST, "/v1/webhooks", Some(&token), &[], Some(body))
        .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.body
    );
    let event = br#"{"event":"request.create","object_id":1,"payload":{"k":"\u0000"}}"#.to_vec();
    let response = app
        .send(Method::POST, "/v1/events", Some(&token), &[], Some(event))
        .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    let response = app.get("/v1/webhooks?name=%00", &token).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get("/v1/webhooks", &token).await.body,
        json!([]),
        "nothing stored"
    );
}
