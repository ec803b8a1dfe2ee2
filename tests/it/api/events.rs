//! `POST /v1/events` (§6): roles, validation, answers and idempotency.

use axum::http::{Method, StatusCode};
use herald::domain::Role;
use serde_json::{Value, json};

use crate::on_databases;
use crate::support::TestApp;

on_databases!(
    publishing_needs_the_publisher_or_administrator_role,
    validates_each_event_with_named_fields,
    a_batch_with_one_bad_event_is_refused_whole,
    batches_hold_one_to_a_thousand_events,
    answers_in_request_order_with_delivery_counts,
    large_batches_match_each_answer_to_its_event,
    idempotency_keys_deduplicate_per_account,
    automation_rule_events_go_to_the_named_webhook_only,
    malformed_bodies_are_400,
    concurrent_publishes_share_commits_and_keep_keys_unique,
);

pub fn event(name: &str, object_id: i64) -> Value {
    json!({ "event": name, "object_id": object_id })
}

/// The app with verification off, so webhooks get events at once.
pub fn unverified(app: &TestApp) -> TestApp {
    app.with_settings(|s| s.require_verification = Some(false))
}

async fn publishing_needs_the_publisher_or_administrator_role(app: TestApp) {
    let member = app.token("wdc", Role::Member).await;
    let response = app
        .post("/v1/events", &member, event("request.create", 1))
        .await;
    assert_eq!(
        (response.status, response.body),
        (StatusCode::FORBIDDEN, json!({ "message": "Forbidden" }))
    );
    for role in [Role::Publisher, Role::Administrator] {
        let token = app.token("wdc", role).await;
        let response = app
            .post("/v1/events", &token, event("request.create", 1))
            .await;
        assert_eq!(
            response.status,
            StatusCode::ACCEPTED,
            "{role:?}: {}",
            response.body
        );
    }
    let none = app
        .send(Method::POST, "/v1/events", None, &[], Some(b"{}".to_vec()))
        .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
}

async fn validates_each_event_with_named_fields(app: TestApp) {
    let token = app.token("wdc", Role::Publisher).await;
    let cases = [
        (json!({}), vec!["event", "object_id"]),
        (
            json!({ "event": "request.created", "object_id": 1 }),
            vec!["event"],
        ),
        (
            json!({ "event": "webhook.verify", "object_id": 1 }),
            vec!["event"],
        ),
        (
            json!({ "event": 7, "object_id": "219" }),
            vec!["event", "object_id"],
        ),
        (
            json!({ "event": "request.create", "object_id": 1, "person_id": "x", "person_name": 5 }),
            vec!["person_id", "person_name"],
        ),
        (
            json!({ "event": "request.create", "object_id": 1, "payload": [1] }),
            vec!["payload"],
        ),
        (
            json!({ "event": "request.create", "object_id": 1, "links": { "canonical": "not a url" } }),
            vec!["links"],
        ),
        (
            json!({ "event": "request.create", "object_id": 1, "links": { "elsewhere": "https://x.example.com/" } }),
            vec!["links"],
        ),
        (
            json!({ "event": "request.create", "object_id": 1, "idempotency_key": "" }),
            vec!["idempotency_key"],
        ),
        (
            json!({ "event": "request.create", "object_id": 1, "colour": "red" }),
            vec!["colour"],
        ),
        (
            json!({ "event": "automation_rule", "object_id": 1 }),
            vec!["webhook_id"],
        ),
        (
            json!({ "event": "request.create", "object_id": 1, "webhook_id": 3 }),
            vec!["webhook_id"],
        ),
    ];
    for (body, fields) in cases {
        let response = app.post("/v1/events", &token, body.clone()).await;
        let mut got = response.error_fields();
        got.sort();
        let mut want: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "{body}");
    }
}

async fn a_batch_with_one_bad_event_is_refused_whole(app: TestApp) {
    let app = unverified(&app);
    let admin = app.admin("wdc").await;
    let hook = app
        .create_webhook(
            &admin,
            json!({ "event": "request.create", "uri": "https://example.com/h" }),
        )
        .await;
    let batch = json!([event("request.create", 1), { "event": "nope", "object_id": 2 }, { "object_id": 3 }]);
    let response = app.post("/v1/events", &admin, batch).await;
    assert_eq!(response.error_fields(), ["[1].event", "[2].event"]);
    let queued = app.deliveries("wdc", &hook).await;
    assert!(queued.is_empty(), "nothing was stored: {queued:?}");
}

async fn batches_hold_one_to_a_thousand_events(app: TestApp) {
    let token = app.token("wdc", Role::Publisher).await;
    let response = app.post("/v1/events", &token, json!([])).await;
    assert_eq!(response.error_fields(), ["events"]);
    let too_many: Vec<Value> = (0..1001).map(|i| event("request.create", i)).collect();
    let response = app.post("/v1/events", &token, Value::Array(too_many)).await;
    assert_eq!(response.error_fields(), ["events"]);
    let most: Vec<Value> = (0..1000).map(|i| event("request.create", i)).collect();
    let response = app.post("/v1/events", &token, Value::Array(most)).await;
    assert_eq!(response.status, StatusCode::ACCEPTED);
    assert_eq!(response.body.as_array().unwrap().len(), 1000);
}

async fn answers_in_request_order_with_delivery_counts(app: TestApp) {
    let app = unverified(&app);
    let admin = app.admin("wdc").await;
    for path in ["a", "b"] {
        app.create_webhook(
            &admin,
            json!({ "event": "request.create", "uri": format!("https://example.com/{path}") }),
        )
        .await;
    }
    app.create_webhook(
        &admin,
        json!({ "event": "problem.update", "uri": "https://example.com/p" }),
    )
    .await;
    let single = app
        .post("/v1/events", &admin, event("problem.update", 5))
        .await;
    assert_eq!(single.status, StatusCode::ACCEPTED);
    assert_eq!(single.body["deliveries"], 1);
    assert!(single.body["id"].as_i64().unwrap() > 0);
    assert_eq!(single.body.as_object().unwrap().len(), 2);
    let batch = app
        .post(
            "/v1/events",
            &admin,
            json!([
                event("request.create", 1),
                event("task.update", 2),
                event("problem.update", 3)
            ]),
        )
        .await;
    let counts: Vec<i64> = batch
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["deliveries"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [2, 0, 1]);
    let ids: Vec<i64> = batch
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

/// A batch stored many rows a statement (several statement sizes) still
/// answers each event with its own id and delivery count.
async fn large_batches_match_each_answer_to_its_event(app: TestApp) {
    let app = unverified(&app);
    let admin = app.admin("wdc").await;
    let mut update_hook = 0;
    for (name, path) in [
        ("request.create", "a"),
        ("request.create", "b"),
        ("request.update", "c"),
    ] {
        let hook = app
            .create_webhook(
                &admin,
                json!({ "event": name, "uri": format!("https://example.com/{path}") }),
            )
            .await;
        update_hook = hook["id"].as_i64().unwrap();
    }
    let names = ["request.create", "request.update", "problem.create"];
    // 343 = 256 + 64 + 16 + 4 + 3: every statement size.
    let events: Vec<Value> = (0..343).map(|i| event(names[i % 3], i as i64)).collect();
    let batch = app.post("/v1/events", &admin, Value::Array(events)).await;
    assert_eq!(batch.status, StatusCode::ACCEPTED, "{}", batch.body);
    let answers = batch.body.as_array().unwrap();
    let mut object_of_event = std::collections::HashMap::new();
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(answer["deliveries"], [2, 1, 0][i % 3], "event {i}");
        object_of_event.insert(answer["id"].as_i64().unwrap(), i as i64);
    }
    let ids: Vec<i64> = answers.iter().map(|a| a["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    // Each delivery of request.update carries the event its answer named.
    let mut seen = 0;
    for page in 1..=2 {
        let list = app
            .get(
                &format!("/v1/webhooks/{update_hook}/deliveries?per_page=100&page={page}&fields=event_id,object_id"),
                &admin,
            )
            .await;
        for delivery in list.body.as_array().unwrap() {
            let event_id = delivery["event_id"].as_i64().unwrap();
            assert_eq!(
                Some(&delivery["object_id"].as_i64().unwrap()),
                object_of_event.get(&event_id),
                "{delivery}"
            );
            seen += 1;
        }
    }
    assert_eq!(seen, (1..343).step_by(3).count());
}

async fn idempotency_keys_deduplicate_per_account(app: TestApp) {
    let app = unverified(&app);
    let admin = app.admin("wdc").await;
    app.create_webhook(
        &admin,
        json!({ "event": "request.create", "uri": "https://example.com/a" }),
    )
    .await;
    let keyed = json!({ "event": "request.create", "object_id": 1, "idempotency_key": "req-1" });
    let first = app.post("/v1/events", &admin, keyed.clone()).await;
    assert_eq!(first.body["deliveries"], 1);
    let again = app.post("/v1/events", &admin, keyed.clone()).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(
        again.body,
        json!({ "id": first.body["id"], "deliveries": 0, "duplicate": true })
    );
    // Within one batch too.
    let batch = app
        .post("/v1/events", &admin, json!([{ "event": "request.create", "object_id": 2, "idempotency_key": "k2" },
                                          { "event": "request.create", "object_id": 2, "idempotency_key": "k2" }]))
        .await;
    assert_eq!(batch.body[1]["duplicate"], true);
    assert_eq!(batch.body[1]["id"], batch.body[0]["id"]);
    // Keys belong to an account.
    let other = app.admin("acme").await;
    let theirs = app.post("/v1/events", &other, keyed).await;
    assert!(theirs.body.get("duplicate").is_none());
    assert_ne!(theirs.body["id"], first.body["id"]);

    // After 24 hours a key is new again.
    let account = herald::domain::AccountId::parse("wdc").unwrap();
    let event = herald::domain::event::NewEvent {
        event: herald::domain::EventName::parse("request.create").unwrap(),
        object_id: 1,
        person_id: None,
        person_name: None,
        payload: json!({}),
        links: Default::default(),
        idempotency_key: Some("req-1".into()),
        webhook_id: None,
    };
    let later = herald::domain::time::now_epoch() + 24 * 3600 + 1;
    let request = herald::store::PublishRequest {
        account,
        events: vec![event],
    };
    let published = app
        .store
        .publish(&[request], 24 * 3600, later, later * 1000, None)
        .await
        .unwrap()
        .answers
        .remove(0);
    assert!(!published[0].duplicate);
    assert_eq!(published[0].deliveries, 1);
}

async fn automation_rule_events_go_to_the_named_webhook_only(app: TestApp) {
    let app = unverified(&app);
    let admin = app.admin("wdc").await;
    let a = app
        .create_webhook(
            &admin,
            json!({ "event": "automation_rule", "uri": "https://example.com/a" }),
        )
        .await;
    app.create_webhook(
        &admin,
        json!({ "event": "automation_rule", "uri": "https://example.com/b" }),
    )
    .await;
    let plain = app
        .create_webhook(
            &admin,
            json!({ "event": "request.create", "uri": "https://example.com/c" }),
        )
        .await;
    let response = app
        .post(
            "/v1/events",
            &admin,
            json!({ "event": "automation_rule", "object_id": 9, "webhook_id": a["id"] }),
        )
        .await;
    assert_eq!(response.body["deliveries"], 1, "{}", response.body);
    let wrong = app
        .post(
            "/v1/events",
            &admin,
            json!({ "event": "automation_rule", "object_id": 9, "webhook_id": plain["id"] }),
        )
        .await;
    assert_eq!(wrong.error_fields(), ["webhook_id"]);
    let other = app.admin("acme").await;
    let foreign = app
        .post(
            "/v1/events",
            &other,
            json!({ "event": "automation_rule", "object_id": 9, "webhook_id": a["id"] }),
        )
        .await;
    assert_eq!(foreign.error_fields(), ["webhook_id"]);
}

async fn malformed_bodies_are_400(app: TestApp) {
    let token = app.token("wdc", Role::Publisher).await;
    for body in [&b"{"[..], b"", b"42", b"\"x\""] {
        let response = app
            .send(
                Method::POST,
                "/v1/events",
                Some(&token),
                &[],
                Some(body.to_vec()),
            )
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{body:?}");
    }
}

/// Publishes that arrive together are committed together; each still gets
/// its own answer, and a key used twice at once still counts once.
async fn concurrent_publishes_share_commits_and_keep_keys_unique(app: TestApp) {
    let app = unverified(&app);
    let admin = app.admin("wdc").await;
    app.create_webhook(
        &admin,
        json!({ "event": "request.create", "uri": "https://example.com/a" }),
    )
    .await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (app, admin) = (app.clone(), admin.clone());
        tasks.push(tokio::spawn(async move {
            let body = json!({ "event": "request.create", "object_id": i, "idempotency_key": format!("k{}", i % 20) });
            app.post("/v1/events", &admin, body).await
        }));
    }
    let mut fresh = Vec::new();
    let mut duplicates = 0;
    for task in tasks {
        let response = task.await.unwrap();
        assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.body);
        if response.body.get("duplicate").is_some() {
            duplicates += 1;
        } else {
            assert_eq!(response.body["deliveries"], 1);
            fresh.push(response.body["id"].as_i64().unwrap());
        }
    }
    fresh.sort();
    fresh.dedup();
    assert_eq!((fresh.len(), duplicates), (20, 20));
}
