//! The Webhook Policies API (§5) and linking policies to webhooks.

use axum::http::{Method, StatusCode};
use herald::domain::Role;
use serde_json::{Value, json};

use crate::on_databases;
use crate::support::TestApp;

on_databases!(
    create_generates_a_key_and_shows_it_only_in_the_201,
    create_and_update_validate_fields,
    jwt_alg_cannot_change,
    collections_filter_sort_and_select,
    delete_refuses_policies_in_use,
    webhooks_link_only_enabled_policies_of_their_account,
    policies_are_for_administrators_of_their_account_only,
    no_answer_and_no_stored_byte_holds_a_private_key,
);

const ALGS: [&str; 10] = [
    "none", "hs256", "hs384", "hs512", "rs256", "rs384", "rs512", "es256", "es384", "es512",
];

pub async fn create_policy(app: &TestApp, token: &str, body: Value) -> Value {
    let response = app.post("/v1/webhook_policies", token, body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    response.body
}

async fn create_generates_a_key_and_shows_it_only_in_the_201(app: TestApp) {
    let token = app.admin("wdc").await;
    for alg in ALGS {
        let created = create_policy(&app, &token, json!({ "jwt_alg": alg })).await;
        let name = created["name"].as_str().unwrap();
        assert!(
            name.len() == 56 && name.chars().all(|c| c.is_ascii_hexdigit()),
            "{name}"
        );
        assert_eq!(created["jwt_alg"], alg);
        assert_eq!(created["disabled"], false);
        assert_eq!(created["created_at"], created["updated_at"]);
        let pem = created["public_key_pem"].as_str();
        let secret = created["jwt_secret"].as_str();
        match &alg[..2] {
            "rs" | "es" => {
                assert!(
                    pem.is_some_and(|p| p.starts_with("-----BEGIN PUBLIC KEY-----")),
                    "{alg}"
                );
                assert!(secret.is_none());
            }
            "hs" => {
                assert!(
                    secret.is_some_and(|s| s.len() >= 43),
                    "{alg}: at least 32 bytes"
                );
                assert!(pem.is_none());
            }
            _ => assert!(pem.is_none() && secret.is_none()),
        }
        let shown = app
            .get(&format!("/v1/webhook_policies/{}", created["id"]), &token)
            .await
            .body;
        assert!(
            shown.get("public_key_pem").is_none() && shown.get("jwt_secret").is_none(),
            "{shown}"
        );
        assert_eq!(shown["name"], created["name"]);
        assert_eq!(shown["jwt_audience"], Value::Null);
    }
    let hs = create_policy(&app, &token, json!({ "jwt_alg": "hs256" })).await;
    let other = create_policy(&app, &token, json!({ "jwt_alg": "hs256" })).await;
    assert_ne!(hs["jwt_secret"], other["jwt_secret"]);
}

async fn create_and_update_validate_fields(app: TestApp) {
    let token = app.admin("wdc").await;
    for (body, field) in [
        (json!({}), "jwt_alg"),
        (json!({ "jwt_alg": "ps256" }), "jwt_alg"),
        (json!({ "jwt_alg": 256 }), "jwt_alg"),
        (
            json!({ "jwt_alg": "hs256", "jwt_audience": "a".repeat(2049) }),
            "jwt_audience",
        ),
        (
            json!({ "jwt_alg": "hs256", "jwt_claim_expires_in": 0 }),
            "jwt_claim_expires_in",
        ),
        (
            json!({ "jwt_alg": "hs256", "jwt_claim_expires_in": "ten" }),
            "jwt_claim_expires_in",
        ),
        (json!({ "jwt_alg": "hs256", "disabled": 4 }), "disabled"),
        (
            json!({ "jwt_alg": "hs256", "private_key": "x" }),
            "private_key",
        ),
    ] {
        let response = app.post("/v1/webhook_policies", &token, body.clone()).await;
        assert_eq!(response.error_fields(), [field], "{body}");
    }
    let created = create_policy(
        &app,
        &token,
        json!({ "jwt_alg": "es256", "jwt_audience": "receiver", "jwt_claim_expires_in": 10, "name": "ignored" }),
    )
    .await;
    assert_eq!(created["jwt_audience"], "receiver");
    assert_eq!(created["jwt_claim_expires_in"], 10);
    assert_ne!(created["name"], "ignored");
    let path = format!("/v1/webhook_policies/{}", created["id"]);
    let response = app
        .patch(
            &path,
            &token,
            json!({ "jwt_audience": null, "disabled": "yes" }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.body["jwt_audience"], Value::Null);
    assert_eq!(response.body["disabled"], true);
    assert_eq!(response.body["jwt_claim_expires_in"], 10);
    let body = Some(
        json!({ "jwt_claim_expires_in": 60 })
            .to_string()
            .into_bytes(),
    );
    let put = app.send(Method::PUT, &path, Some(&token), &[], body).await;
    assert_eq!(put.body["jwt_claim_expires_in"], 60);
    let bad = app
        .patch(&path, &token, json!({ "jwt_claim_expires_in": -1 }))
        .await;
    assert_eq!(bad.error_fields(), ["jwt_claim_expires_in"]);
}

async fn jwt_alg_cannot_change(app: TestApp) {
    let token = app.admin("wdc").await;
    let created = create_policy(&app, &token, json!({ "jwt_alg": "rs256" })).await;
    let path = format!("/v1/webhook_policies/{}", created["id"]);
    let response = app
        .patch(&path, &token, json!({ "jwt_alg": "hs256" }))
        .await;
    assert_eq!(
        response.errors(),
        vec![(
            "jwt_alg".to_string(),
            "Jwt alg cannot be changed".to_string()
        )]
    );
    let same = app
        .patch(
            &path,
            &token,
            json!({ "jwt_alg": "rs256", "disabled": true }),
        )
        .await;
    assert_eq!(same.status, StatusCode::OK);
    assert_eq!(app.get(&path, &token).await.body["jwt_alg"], "rs256");
}

async fn collections_filter_sort_and_select(app: TestApp) {
    let token = app.admin("wdc").await;
    let a = create_policy(&app, &token, json!({ "jwt_alg": "hs256" })).await;
    let b = create_policy(&app, &token, json!({ "jwt_alg": "none", "disabled": true })).await;
    let list = app.get("/v1/webhook_policies", &token).await;
    let keys: Vec<&String> = list.body[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "name", "created_at", "updated_at"]);
    assert_eq!(list.header("x-pagination-total-entries"), "2");
    let ids = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&app.get("/v1/webhook_policies/enabled", &token).await.body),
        [a["id"].clone()]
    );
    assert_eq!(
        ids(&app.get("/v1/webhook_policies/disabled", &token).await.body),
        [b["id"].clone()]
    );
    assert_eq!(
        ids(&app
            .get("/v1/webhook_policies?disabled=true", &token)
            .await
            .body),
        [b["id"].clone()]
    );
    let upper = a["name"].as_str().unwrap().to_uppercase();
    let by_name = app
        .get(&format!("/v1/webhook_policies?name={upper}"), &token)
        .await;
    assert_eq!(
        ids(&by_name.body),
        [a["id"].clone()],
        "names match in any case"
    );
    let sorted = app
        .get("/v1/webhook_policies?sort=-created_at,-id", &token)
        .await;
    assert_eq!(ids(&sorted.body), [b["id"].clone(), a["id"].clone()]);
    let fields = app.get("/v1/webhook_policies?fields=jwt_alg", &token).await;
    assert_eq!(fields.body[0], json!({ "id": a["id"], "jwt_alg": "hs256" }));
    for query in ["sort=name", "fields=jwt_secret", "event=x"] {
        let response = app
            .get(&format!("/v1/webhook_policies?{query}"), &token)
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{query}");
    }
}

async fn delete_refuses_policies_in_use(app: TestApp) {
    let token = app.admin("wdc").await;
    let policy = create_policy(&app, &token, json!({ "jwt_alg": "hs256" })).await;
    let hook = app
        .create_webhook(&token, json!({ "event": "task.update", "uri": "https://example.com/", "webhook_policy_id": policy["id"] }))
        .await;
    let path = format!("/v1/webhook_policies/{}", policy["id"]);
    let refused = app.delete(&path, &token).await;
    let errors = refused.errors();
    assert!(errors[0].1.contains(&hook["id"].to_string()), "{errors:?}");
    assert_eq!(app.get(&path, &token).await.status, StatusCode::OK);
    app.patch(
        &format!("/v1/webhooks/{}", hook["id"]),
        &token,
        json!({ "webhook_policy_id": null }),
    )
    .await;
    assert_eq!(
        app.delete(&path, &token).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(&path, &token).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.delete(&path, &token).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn webhooks_link_only_enabled_policies_of_their_account(app: TestApp) {
    let token = app.admin("wdc").await;
    let other = app.admin("acme").await;
    let policy = create_policy(&app, &token, json!({ "jwt_alg": "es384" })).await;
    let disabled = create_policy(
        &app,
        &token,
        json!({ "jwt_alg": "hs256", "disabled": true }),
    )
    .await;
    let foreign = create_policy(&app, &other, json!({ "jwt_alg": "hs256" })).await;
    let base = json!({ "event": "task.update", "uri": "https://example.com/" });
    for bad in [
        disabled["id"].clone(),
        foreign["id"].clone(),
        json!(999_999),
    ] {
        let mut body = base.clone();
        body["webhook_policy_id"] = bad.clone();
        let response = app.post("/v1/webhooks", &token, body).await;
        assert_eq!(response.error_fields(), ["webhook_policy_id"], "{bad}");
    }
    let mut body = base.clone();
    body["webhook_policy_id"] = policy["id"].clone();
    let hook = app.create_webhook(&token, body).await;
    assert_eq!(
        hook["webhook_policy"],
        json!({ "id": policy["id"], "name": policy["name"] })
    );
    let path = format!("/v1/webhooks/{}", hook["id"]);
    assert_eq!(
        app.get(&path, &token).await.body["webhook_policy"],
        hook["webhook_policy"]
    );
    let unlinked = app
        .patch(&path, &token, json!({ "webhook_policy_id": null }))
        .await
        .body;
    assert_eq!(unlinked["webhook_policy"], Value::Null);
    let relinked = app
        .patch(&path, &token, json!({ "webhook_policy_id": policy["id"] }))
        .await
        .body;
    assert_eq!(relinked["webhook_policy"]["name"], policy["name"]);
    let listed = app
        .get("/v1/webhooks?fields=webhook_policy", &token)
        .await
        .body;
    assert_eq!(listed[0]["webhook_policy"]["id"], policy["id"]);
}

async fn policies_are_for_administrators_of_their_account_only(app: TestApp) {
    let admin = app.admin("wdc").await;
    let policy = create_policy(&app, &admin, json!({ "jwt_alg": "hs256" })).await;
    let path = format!("/v1/webhook_policies/{}", policy["id"]);
    let publisher = app.token("wdc", Role::Publisher).await;
    for (method, path) in [
        (Method::GET, "/v1/webhook_policies"),
        (Method::GET, path.as_str()),
        (Method::DELETE, path.as_str()),
    ] {
        let response = app
            .send(method.clone(), path, Some(&publisher), &[], None)
            .await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    let other = app.admin("acme").await;
    assert_eq!(app.get(&path, &other).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.patch(&path, &other, json!({ "disabled": true }))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&path, &other).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/v1/webhook_policies", &other).await.body,
        json!([])
    );
    assert_eq!(app.get(&path, &admin).await.body["disabled"], false);
}

async fn no_answer_and_no_stored_byte_holds_a_private_key(app: TestApp) {
    let token = app.admin("wdc").await;
    let mut answers = Vec::new();
    let mut secrets = Vec::new();
    for alg in ["hs512", "rs256", "es512"] {
        let created = create_policy(&app, &token, json!({ "jwt_alg": alg })).await;
        if let Some(secret) = created["jwt_secret"].as_str() {
            secrets.push(secret.to_string());
        }
        answers.push(created.to_string());
        answers.push(
            app.get(&format!("/v1/webhook_policies/{}", created["id"]), &token)
                .await
                .body
                .to_string(),
        );
    }
    answers.push(
        app.get(
            "/v1/webhook_policies?fields=name,jwt_alg,jwt_audience",
            &token,
        )
        .await
        .body
        .to_string(),
    );
    for answer in &answers {
        assert!(!answer.contains("PRIVATE KEY"), "{answer}");
    }
    for answer in &answers[1..] {
        for secret in &secrets {
            assert!(
                !answer.contains(secret.as_str()),
                "the secret shows again: {answer}"
            );
        }
    }
    // At rest, the secret is sealed: not in the SQLite file in plain text.
    if let Some(path) = app.database_url.strip_prefix("sqlite://") {
        let mut bytes = std::fs::read(path).unwrap();
        bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
        for secret in &secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "stored in plain text"
            );
        }
    }
}
