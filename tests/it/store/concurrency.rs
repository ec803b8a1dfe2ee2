//! Many concurrent writers and readers on one SQLite file: no
//! `database is locked`, no lost writes.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_and_lists_on_sqlite_never_fail() {
    let app = TestApp::start(Backend::Sqlite, Default::default())
        .await
        .unwrap();
    let token = app.admin("wdc").await;
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let (app, token) = (app.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                let uri = format!("https://example.com/{worker}/{i}");
                let created = app
                    .post(
                        "/v1/webhooks",
                        &token,
                        json!({ "event": "request.create", "uri": uri }),
                    )
                    .await;
                assert_eq!(created.status, StatusCode::OK, "{}", created.body);
                let path = format!("/v1/webhooks/{}", created.body["id"]);
                let patched = app
                    .patch(&path, &token, json!({ "name": format!("w{worker}-{i}") }))
                    .await;
                assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
                let listed = app.get("/v1/webhooks?per_page=100&sort=-id", &token).await;
                assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let listed = app.get("/v1/webhooks?per_page=1", &token).await;
    assert_eq!(listed.header("x-pagination-total-entries"), "320");
}
