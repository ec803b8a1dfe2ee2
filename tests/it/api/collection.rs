//! Collection conventions on `GET /webhooks` (§2): fields, pagination,
//! filters, predefined filters and sorting.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::on_databases;
use crate::support::TestApp;

on_databases!(
    lists_default_fields_and_disabled_extras,
    predefined_filters_by_path_and_state,
    paginates_with_headers_and_links,
    refuses_out_of_range_paging,
    selects_fields_on_request,
    filters_with_every_operator,
    filters_by_dates,
    rejects_unknown_filters_and_bad_values,
    sorts_by_requested_fields,
    caps_filter_values_and_query_length,
);

async fn caps_filter_values_and_query_length(app: TestApp) {
    let token = app.admin("wdc").await;
    let repeated: Vec<String> = (1..=1000).map(|i| format!("id={i}")).collect();
    let response = app
        .get(
            &format!("/v1/webhooks?{}", repeated[..600].join("&")),
            &token,
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.body
    );
    assert_eq!(
        response.body["message"],
        "Too many values for filter id (maximum is 50)"
    );
    let list: Vec<String> = (1..=51).map(|i| i.to_string()).collect();
    let response = app
        .get(&format!("/v1/webhooks?id={}", list.join(",")), &token)
        .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.body
    );
    let response = app
        .get(&format!("/v1/webhooks?id={}", list[..50].join(",")), &token)
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let response = app
        .get(
            &format!("/v1/webhooks?{}", repeated[..50].join("&")),
            &token,
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    // A whole query of 1,000 filters: refused for its length, never a 500.
    let response = app
        .get(&format!("/v1/webhooks?{}", repeated.join("&")), &token)
        .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.body
    );
    let long = format!("/v1/webhooks?name={}", "a".repeat(9000));
    let response = app.get(&long, &token).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        response.body["message"],
        "The query string is too long (maximum is 8192 bytes)"
    );
    let hook = app.webhook(&token, "request.create").await;
    let path = format!(
        "/v1/webhooks/{}/deliveries?{}",
        hook["id"],
        repeated[..100].join("&")
    );
    let response = app.get(&path, &token).await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.body
    );
}

fn ids(body: &Value) -> Vec<i64> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

async fn lists_default_fields_and_disabled_extras(app: TestApp) {
    let token = app.admin("wdc").await;
    let on = app.webhook(&token, "problem.update").await;
    let off = app
        .create_webhook(&token, json!({ "event": "request.team-changed", "uri": "http://postbin.org/axbxd3", "disabled": true }))
        .await;
    let response = app.get("/v1/webhooks", &token).await;
    assert_eq!(response.status, StatusCode::OK);
    let list = response.body.as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&list[0]),
        ["id", "name", "event", "uri", "created_at", "updated_at"]
    );
    assert_eq!(list[0]["id"], on["id"]);
    assert_eq!(
        keys(&list[1]),
        [
            "id",
            "name",
            "event",
            "uri",
            "disabled",
            "last_error",
            "created_at",
            "updated_at"
        ]
    );
    assert_eq!(list[1]["id"], off["id"]);
    assert_eq!(list[1]["disabled"], true);
}

async fn predefined_filters_by_path_and_state(app: TestApp) {
    let token = app.admin("wdc").await;
    let on = app.webhook(&token, "problem.update").await["id"]
        .as_i64()
        .unwrap();
    let off = app
        .create_webhook(
            &token,
            json!({ "event": "request.create", "uri": "https://example.com/", "disabled": true }),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        ids(&app.get("/v1/webhooks/enabled", &token).await.body),
        [on]
    );
    assert_eq!(
        ids(&app.get("/v1/webhooks/disabled", &token).await.body),
        [off]
    );
    assert_eq!(
        ids(&app.get("/v1/webhooks?state=enabled", &token).await.body),
        [on]
    );
    assert_eq!(
        ids(&app.get("/v1/webhooks?state=disabled", &token).await.body),
        [off]
    );
    assert_eq!(
        ids(&app.get("/v1/webhooks?disabled=true", &token).await.body),
        [off]
    );
    let response = app.get("/v1/webhooks?state=sleeping", &token).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(response.body["message"].as_str().unwrap().contains("state"));
}

async fn paginates_with_headers_and_links(app: TestApp) {
    let token = app.admin("wdc").await;
    let all = app.webhook_ids(&token, "request.create", 5).await;
    let response = app
        .get(
            "/v1/webhooks?per_page=2&page=2&event=request.create",
            &token,
        )
        .await;
    assert_eq!(ids(&response.body), all[2..4]);
    assert_eq!(response.header("x-pagination-per-page"), "2");
    assert_eq!(response.header("x-pagination-current-page"), "2");
    assert_eq!(response.header("x-pagination-total-pages"), "3");
    assert_eq!(response.header("x-pagination-total-entries"), "5");
    let base = "http://herald.test/v1/webhooks?per_page=2&event=request.create";
    assert_eq!(
        response.header("link"),
        format!(
            "<{base}&page=1>; rel=\"first\", <{base}&page=1>; rel=\"prev\", \
             <{base}&page=3>; rel=\"next\", <{base}&page=3>; rel=\"last\""
        )
    );
    let last = app.get("/v1/webhooks?per_page=2&page=3", &token).await;
    assert_eq!(ids(&last.body), all[4..]);
    assert!(!last.header("link").contains("rel=\"next\""));
    let beyond = app.get("/v1/webhooks?per_page=2&page=9", &token).await;
    assert_eq!(beyond.status, StatusCode::OK);
    assert_eq!(beyond.body, json!([]));
    let default = app.get("/v1/webhooks", &token).await;
    assert_eq!(default.header("x-pagination-per-page"), "20");
}

async fn refuses_out_of_range_paging(app: TestApp) {
    let token = app.admin("wdc").await;
    for query in [
        "per_page=0",
        "per_page=101",
        "per_page=x",
        "page=0",
        "page=-1",
    ] {
        let response = app.get(&format!("/v1/webhooks?{query}"), &token).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{query}");
        let name = query.split('=').next().unwrap();
        assert!(
            response.body["message"].as_str().unwrap().contains(name),
            "{query}"
        );
    }
    assert_eq!(
        app.get("/v1/webhooks?per_page=100", &token).await.status,
        StatusCode::OK
    );
}

async fn selects_fields_on_request(app: TestApp) {
    let token = app.admin("wdc").await;
    app.create_webhook(
        &token,
        json!({ "event": "request.create", "uri": "https://example.com/", "description": "d" }),
    )
    .await;
    let response = app
        .get("/v1/webhooks?fields=description,nodeID", &token)
        .await;
    let record = response.body[0].as_object().unwrap();
    assert_eq!(
        record.keys().collect::<Vec<_>>(),
        ["id", "nodeID", "description"]
    );
    assert_eq!(record["description"], "d");
    let response = app.get("/v1/webhooks?fields=name,secret", &token).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.body["message"], "Unknown field: secret");
}

async fn filters_with_every_operator(app: TestApp) {
    let token = app.admin("wdc").await;
    let a = app
        .create_webhook(
            &token,
            json!({ "event": "request.create", "uri": "https://a.example.com/", "name": "Alpha" }),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let b = app
        .create_webhook(
            &token,
            json!({ "event": "problem.update", "uri": "https://b.example.com/", "name": "Beta" }),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let c = app
        .create_webhook(
            &token,
            json!({ "event": "task.update", "uri": "https://c.example.com/", "name": "Gamma" }),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let check = |query: String, expected: Vec<i64>| {
        let app = app.clone();
        let token = token.clone();
        async move {
            let response = app.get(&format!("/v1/webhooks?{query}"), &token).await;
            assert_eq!(
                response.status,
                StatusCode::OK,
                "{query}: {}",
                response.body
            );
            assert_eq!(ids(&response.body), expected, "{query}");
        }
    };
    check("name=Beta".into(), vec![b]).await;
    check("name=!Beta".into(), vec![a, c]).await;
    check("name=".into(), vec![]).await;
    check("name=!".into(), vec![a, b, c]).await;
    check("event=request.create,task.update".into(), vec![a, c]).await;
    check("uri=https://b.example.com/".into(), vec![b]).await;
    check(format!("id={a},{c}"), vec![a, c]).await;
    check(format!("id=>{a}"), vec![b, c]).await;
    check(format!("id=>={b}<={c}"), vec![b, c]).await;
    check(format!("id=<{b}"), vec![a]).await;
    check("name=Alpha&event=problem.update".into(), vec![]).await;
}

async fn filters_by_dates(app: TestApp) {
    let token = app.admin("wdc").await;
    let hook = app.webhook(&token, "request.create").await;
    let created = hook["created_at"].as_str().unwrap().to_string();
    let day = &created[..10];
    let id = hook["id"].as_i64().unwrap();
    let cases = [
        (format!("created_at={day}"), vec![id]),
        (format!("created_at=>{day}"), vec![id]),
        ("created_at=<2001-01-01".to_string(), vec![]),
        ("created_at=>2001-01-01<2002-01-01".to_string(), vec![]),
        (
            "updated_at=>=2001-01-01T00:00:00-06:00".to_string(),
            vec![id],
        ),
        (
            format!("updated_at=<={}", created.replace('+', "%2B")),
            vec![id],
        ),
    ];
    for (query, expected) in cases {
        let response = app.get(&format!("/v1/webhooks?{query}"), &token).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{query}: {}",
            response.body
        );
        assert_eq!(ids(&response.body), expected, "{query}");
    }
}

async fn rejects_unknown_filters_and_bad_values(app: TestApp) {
    let token = app.admin("wdc").await;
    for (query, needle) in [
        ("colour=red", "Unknown filter: colour"),
        ("created_at=>soon", "created_at"),
        ("id=abc", "id"),
        ("sort=colour", "Unsupported sort field: colour"),
    ] {
        let response = app.get(&format!("/v1/webhooks?{query}"), &token).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            response.body["message"].as_str().unwrap().contains(needle),
            "{query}: {}",
            response.body
        );
    }
}

async fn sorts_by_requested_fields(app: TestApp) {
    let token = app.admin("wdc").await;
    let mut made = Vec::new();
    for name in ["b", "c", "a"] {
        made.push(
            app.create_webhook(
                &token,
                json!({ "event": "request.create", "uri": "https://example.com/", "name": name }),
            )
            .await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    assert_eq!(ids(&app.get("/v1/webhooks", &token).await.body), made);
    let mut descending = made.clone();
    descending.reverse();
    assert_eq!(
        ids(&app.get("/v1/webhooks?sort=-id", &token).await.body),
        descending
    );
    assert_eq!(
        ids(&app.get("/v1/webhooks?sort=name", &token).await.body),
        [made[2], made[0], made[1]]
    );
    assert_eq!(
        ids(&app
            .get("/v1/webhooks?sort=-created_at,-id", &token)
            .await
            .body),
        descending
    );
}
