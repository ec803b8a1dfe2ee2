//! The OpenAPI document: served without a token, the same as
//! `docs/openapi.json`, and true to the routes (every operation it lists
//! is routed, and answers one of the statuses it lists).

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_databases;
use crate::support::TestApp;

const KEPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");

async fn the_document_is_served_without_a_token_and_kept_in_docs(app: TestApp) {
    let served = app
        .send(Method::GET, "/v1/openapi.json", None, &[], None)
        .await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.body["openapi"], "3.1.0");
    let kept: Value = serde_json::from_str(&std::fs::read_to_string(KEPT).unwrap()).unwrap();
    assert!(
        served.body == kept,
        "docs/openapi.json is not the document served: run `cargo run -- openapi > docs/openapi.json`"
    );
}

/// A request for each operation, with the ids of records that exist and
/// each body's example; every answer must be a status the document lists
/// for it, JSON when it has a body.
async fn every_documented_operation_is_routed_and_answers_a_documented_status(app: TestApp) {
    let token = app.admin("wdc").await;
    let hook = app.webhook(&token, "task.update").await;
    let policy = app
        .post(
            "/v1/webhook_policies",
            &token,
            json!({ "jwt_alg": "hs256" }),
        )
        .await
        .body;
    app.publish(&token, json!({ "event": "task.update", "object_id": 1 }))
        .await;
    let delivery = app.deliveries("wdc", &hook).await[0].id;
    let document = herald::api::openapi_document();
    let document = serde_json::to_value(&document).unwrap();
    let schemas = &document["components"]["schemas"];
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        let id = if path.starts_with("/v1/webhook_policies") {
            policy["id"].clone()
        } else if path.starts_with("/v1/webhook_deliveries") {
            json!(delivery)
        } else {
            hook["id"].clone()
        };
        let uri = path.replace("{id}", &id.to_string());
        for (method, operation) in item.as_object().unwrap() {
            let body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .map(|schema| {
                    let name = schema.rsplit('/').next().unwrap();
                    let example = &schemas[name]["example"];
                    if example.is_null() {
                        json!({})
                    } else {
                        example.clone()
                    }
                });
            let method: Method = method.to_uppercase().parse().unwrap();
            let answer = app
                .send(
                    method.clone(),
                    &uri,
                    Some(&token),
                    &[],
                    body.map(|b| b.to_string().into_bytes()),
                )
                .await;
            let status = answer.status.as_str().to_string();
            let listed = &operation["responses"][&status];
            assert!(
                listed.is_object(),
                "{method} {uri} answered {status}, which the document does not list: {}",
                answer.body
            );
            if !answer.body.is_null() {
                assert!(
                    answer.headers["content-type"]
                        .to_str()
                        .unwrap()
                        .starts_with("application/json"),
                    "{method} {uri}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 28, "only {checked} operations");
}

on_databases!(
    the_document_is_served_without_a_token_and_kept_in_docs,
    every_documented_operation_is_routed_and_answers_a_documented_status,
);
