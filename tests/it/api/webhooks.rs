//! The Webhooks API (§4): records, field rules, updates and deletes.

use axum::http::{Method, StatusCode};
use herald::domain::node_id::node_id;
use serde_json::{Value, json};

use crate::on_databases;
use crate::support::TestApp;

on_databases!(
    create_returns_the_full_record_with_defaults,
    create_requires_event_and_uri,
    rejects_events_outside_the_catalogue,
    rejects_uris_that_are_not_absolute_http,
    rejects_literal_private_addresses_unless_allowed,
    enforces_field_lengths_and_formats,
    names_fields_of_the_wrong_json_type,
    rejects_unknown_fields_and_ignores_readonly_ones,
    source_comes_from_body_then_header_then_default,
    caps_the_failure_mail_recipients,
    accepts_the_contract_boolean_spellings,
    get_finds_the_record_and_404s_otherwise,
    patch_changes_only_given_fields,
    put_is_an_alias_of_patch,
    patch_validates_like_create,
    delete_answers_204_then_404,
    test_endpoint_queues_a_message_and_404s_for_unknown_webhooks,
    description_attachments_aggregate_into_attachments,
);

async fn create_returns_the_full_record_with_defaults(app: TestApp) {
    let token = app.admin("wdc").await;
    let hook = app
        .create_webhook(
            &token,
            json!({ "event": "problem.update", "uri": "https://myserver.example.com/mywebhook" }),
        )
        .await;
    let id = hook["id"].as_i64().unwrap();
    assert_eq!(hook["name"], "problem.update");
    assert_eq!(hook["event"], "problem.update");
    assert_eq!(hook["uri"], "https://myserver.example.com/mywebhook");
    assert_eq!(hook["disabled"], false);
    assert_eq!(hook["source"], "R-Service API");
    assert_eq!(hook["nodeID"], node_id("herald.test", "Webhook", id));
    assert_eq!(hook["created_at"], hook["updated_at"]);
    for blank in [
        "description",
        "mail_exceptions_to",
        "sourceID",
        "webhook_policy",
        "last_error",
    ] {
        assert_eq!(hook[blank], Value::Null, "{blank}");
    }
    assert_eq!(hook["attachments"], json!([]));
    let created = hook["created_at"].as_str().unwrap();
    assert!(
        created.ends_with("+00:00") && created.len() == 25,
        "{created}"
    );
}

async fn create_requires_event_and_uri(app: TestApp) {
    let token = app.admin("wdc").await;
    let response = app.post("/v1/webhooks", &token, json!({})).await;
    assert_eq!(
        response.errors(),
        vec![
            ("event".to_string(), "Event can't be blank".to_string()),
            ("uri".to_string(), "Uri can't be blank".to_string())
        ]
    );
    let response = app
        .post("/v1/webhooks", &token, json!({ "event": "", "uri": "  " }))
        .await;
    assert_eq!(response.error_fields(), ["event", "uri"]);
}

async fn rejects_events_outside_the_catalogue(app: TestApp) {
    let token = app.admin("wdc").await;
    for event in ["request.created", "webhook.verify", "REQUEST.CREATE"] {
        let response = app
            .post(
                "/v1/webhooks",
                &token,
                json!({ "event": event, "uri": "https://example.com/" }),
            )
            .await;
        assert_eq!(
            response.errors(),
            vec![(
                "event".to_string(),
                "Event is not included in the list".to_string()
            )],
            "{event}"
        );
    }
}

async fn rejects_uris_that_are_not_absolute_http(app: TestApp) {
    let token = app.admin("wdc").await;
    let long = format!("https://example.com/{}", "a".repeat(2030));
    for uri in [
        "example.com/hook",
        "ftp://example.com/",
        "mailto:a@b.com",
        "https://",
        long.as_str(),
        "https://user:pw@example.com/",
    ] {
        let response = app
            .post(
                "/v1/webhooks",
                &token,
                json!({ "event": "request.create", "uri": uri }),
            )
            .await;
        assert_eq!(response.error_fields(), ["uri"], "{uri}");
    }
}

async fn caps_the_failure_mail_recipients(app: TestApp) {
    let token = app.admin("wdc").await;
    let addresses = |n: usize| {
        (0..n)
            .map(|i| format!("ops{i}@example.com"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let create = |mail: String| json!({ "event": "request.create", "uri": "https://example.com/", "mail_exceptions_to": mail });
    let hook = app.create_webhook(&token, create(addresses(20))).await;
    assert_eq!(hook["mail_exceptions_to"], addresses(20));
    for (mail, message) in [
        (
            addresses(21),
            "Mail exceptions to has too many addresses (maximum is 20)",
        ),
        (
            addresses(30_000),
            "Mail exceptions to is too long (maximum is 2000 characters)",
        ),
        (
            format!("{}@example.com", "a".repeat(2000)),
            "Mail exceptions to is too long (maximum is 2000 characters)",
        ),
    ] {
        let response = app.post("/v1/webhooks", &token, create(mail.clone())).await;
        assert_eq!(
            response.errors(),
            vec![("mail_exceptions_to".to_string(), message.to_string())]
        );
        let path = format!("/v1/webhooks/{}", hook["id"]);
        let response = app
            .patch(&path, &token, json!({ "mail_exceptions_to": mail }))
            .await;
        assert_eq!(response.error_fields(), vec!["mail_exceptions_to"]);
    }
}

async fn rejects_literal_private_addresses_unless_allowed(app: TestApp) {
    let token = app.admin("wdc").await;
    for uri in [
        "http://127.0.0.1:9000/",
        "http://10.0.0.5/",
        "http://[::1]/",
        "http://2130706433/",
        "http://[::ffff:192.168.1.1]/",
        "http://169.254.169.254/latest",
        // IPv4-translated, local-use NAT64 and discard-only, in each spelling.
        "http://[::ffff:0:127.0.0.1]/",
        "http://[::ffff:0:7f00:1]/",
        "http://[0:0:0:0:ffff:0:a00:1]/",
        "http://[64:ff9b:1::a00:1]/",
        "http://[64:ff9b:1::8.8.8.8]/",
        "http://[64:ff9b:1:0:0:0:808:808]/",
        "http://[100::1]/",
        "http://[100:0:0:0:1:2:3:4]/",
        "http://[100::]/",
        "http://[2001:db8::1]/",
        "http://[3fff::1]/",
        "http://198.18.0.1/",
    ] {
        let response = app
            .post(
                "/v1/webhooks",
                &token,
                json!({ "event": "request.create", "uri": uri }),
            )
            .await;
        let errors = response.errors();
        assert_eq!(errors[0].0, "uri", "{uri}");
        assert!(
            errors[0].1.starts_with("Uri is refused: "),
            "{uri}: {}",
            errors[0].1
        );
    }
    let allowed = app.with_settings(|s| s.allow_private_targets = Some(true));
    allowed
        .create_webhook(
            &token,
            json!({ "event": "request.create", "uri": "http://127.0.0.1:9000/" }),
        )
        .await;
    let ranged = app.with_settings(|s| s.allow_target = Some(vec!["10.0.0.0/8".into()]));
    ranged
        .create_webhook(
            &token,
            json!({ "event": "request.create", "uri": "http://10.0.0.5/" }),
        )
        .await;
    let response = ranged
        .post(
            "/v1/webhooks",
            &token,
            json!({ "event": "request.create", "uri": "http://192.168.0.1/" }),
        )
        .await;
    assert_eq!(response.error_fields(), ["uri"]);
}

async fn enforces_field_lengths_and_formats(app: TestApp) {
    let token = app.admin("wdc").await;
    let base = json!({ "event": "request.create", "uri": "https://example.com/" });
    let cases = [
        ("name", json!("n".repeat(201))),
        ("description", json!("d".repeat(64 * 1024 + 1))),
        ("source", json!("s".repeat(31))),
        ("sourceID", json!("i".repeat(129))),
        (
            "mail_exceptions_to",
            json!("john@example.com,not-an-address"),
        ),
    ];
    for (field, value) in cases {
        let mut body = base.clone();
        body[field] = value;
        let response = app.post("/v1/webhooks", &token, body).await;
        assert_eq!(response.error_fields(), [field], "{field}");
    }
    let mut body = base.clone();
    body["name"] = json!("n".repeat(200));
    body["description"] = json!("d".repeat(64 * 1024));
    body["source"] = json!("s".repeat(30));
    body["sourceID"] = json!("i".repeat(128));
    body["mail_exceptions_to"] = json!("john.doe@example.com, jane.doe@example.com");
    let hook = app.create_webhook(&token, body).await;
    assert_eq!(
        hook["mail_exceptions_to"],
        "john.doe@example.com,jane.doe@example.com"
    );
    assert_eq!(hook["sourceID"], "i".repeat(128));
}

async fn names_fields_of_the_wrong_json_type(app: TestApp) {
    let token = app.admin("wdc").await;
    let response = app
        .post(
            "/v1/webhooks",
            &token,
            json!({ "event": 5, "uri": ["x"], "name": {}, "disabled": 3, "description": true,
                    "webhook_policy_id": "one", "description_attachments": "file" }),
        )
        .await;
    let mut fields = response.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "description",
            "description_attachments",
            "disabled",
            "event",
            "name",
            "uri",
            "webhook_policy_id"
        ]
    );
}

async fn rejects_unknown_fields_and_ignores_readonly_ones(app: TestApp) {
    let token = app.admin("wdc").await;
    let response = app
        .post(
            "/v1/webhooks",
            &token,
            json!({ "event": "request.create", "uri": "https://example.com/", "colour": "red" }),
        )
        .await;
    assert_eq!(
        response.errors(),
        vec![(
            "colour".to_string(),
            "colour is not a known field".to_string()
        )]
    );
    // A record as read back can be sent back: readonly fields are ignored.
    let hook = app.webhook(&token, "request.create").await;
    let mut edited = hook.clone();
    edited["name"] = json!("Renamed");
    edited["id"] = json!(999);
    edited["created_at"] = json!("2000-01-01T00:00:00+00:00");
    let response = app
        .send(
            Method::PUT,
            &format!("/v1/webhooks/{}", hook["id"]),
            Some(&token),
            &[],
            Some(edited.to_string().into_bytes()),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.body["id"], hook["id"]);
    assert_eq!(response.body["name"], "Renamed");
    assert_eq!(response.body["created_at"], hook["created_at"]);
}

async fn source_comes_from_body_then_header_then_default(app: TestApp) {
    let token = app.admin("wdc").await;
    let body =
        json!({ "event": "request.create", "uri": "https://example.com/", "source": "body-tool" });
    let from_body = app
        .send(
            Method::POST,
            "/v1/webhooks",
            Some(&token),
            &[("x-r-service-source", "header-tool")],
            Some(body.to_string().into_bytes()),
        )
        .await;
    assert_eq!(from_body.body["source"], "body-tool");
    let body = json!({ "event": "request.create", "uri": "https://example.com/" });
    let from_header = app
        .send(
            Method::POST,
            "/v1/webhooks",
            Some(&token),
            &[("x-r-service-source", "header-tool")],
            Some(body.to_string().into_bytes()),
        )
        .await;
    assert_eq!(from_header.body["source"], "header-tool");
    let long_header = "h".repeat(31);
    let too_long = app
        .send(
            Method::POST,
            "/v1/webhooks",
            Some(&token),
            &[("x-r-service-source", &long_header)],
            Some(body.to_string().into_bytes()),
        )
        .await;
    assert_eq!(too_long.error_fields(), ["source"]);
}

async fn accepts_the_contract_boolean_spellings(app: TestApp) {
    let token = app.admin("wdc").await;
    for (value, expected) in [
        (json!(true), true),
        (json!("YES"), true),
        (json!("on"), true),
        (json!("1"), true),
        (json!("t"), true),
        (json!(false), false),
        (json!("no"), false),
        (json!("maybe"), false),
    ] {
        let hook = app
            .create_webhook(&token, json!({ "event": "request.create", "uri": "https://example.com/", "disabled": value }))
            .await;
        assert_eq!(hook["disabled"], expected, "{value}");
    }
}

async fn get_finds_the_record_and_404s_otherwise(app: TestApp) {
    let token = app.admin("wdc").await;
    let hook = app.webhook(&token, "request.create").await;
    let response = app
        .get(&format!("/v1/webhooks/{}", hook["id"]), &token)
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, hook);
    for path in ["/v1/webhooks/99999", "/v1/webhooks/abc", "/v1/webhooks/-1"] {
        let response = app.get(path, &token).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(response.body, json!({ "message": "Not Found" }));
    }
}

async fn patch_changes_only_given_fields(app: TestApp) {
    let token = app.admin("wdc").await;
    let hook = app
        .create_webhook(
            &token,
            json!({ "event": "request.create", "uri": "https://example.com/", "name": "Mine",
                    "description": "why", "mail_exceptions_to": "a@example.com" }),
        )
        .await;
    let path = format!("/v1/webhooks/{}", hook["id"]);
    let response = app
        .patch(
            &path,
            &token,
            json!({ "uri": "https://example.org/new", "description": null, "disabled": true }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let updated = response.body;
    assert_eq!(updated["uri"], "https://example.org/new");
    assert_eq!(updated["description"], Value::Null);
    assert_eq!(updated["disabled"], true);
    assert_eq!(updated["name"], "Mine");
    assert_eq!(updated["mail_exceptions_to"], "a@example.com");
    assert_eq!(updated["event"], "request.create");
    assert_eq!(app.get(&path, &token).await.body, updated);

    // A null name falls back to the event name.
    let response = app
        .patch(
            &path,
            &token,
            json!({ "name": null, "event": "problem.update" }),
        )
        .await;
    assert_eq!(response.body["name"], "problem.update");
    assert_eq!(response.body["event"], "problem.update");
}

async fn put_is_an_alias_of_patch(app: TestApp) {
    let token = app.admin("wdc").await;
    let hook = app.webhook(&token, "request.create").await;
    let body = json!({ "name": "Via PUT" }).to_string().into_bytes();
    let response = app
        .send(
            Method::PUT,
            &format!("/v1/webhooks/{}", hook["id"]),
            Some(&token),
            &[],
            Some(body),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body["name"], "Via PUT");
    assert_eq!(response.body["uri"], hook["uri"]);
}

async fn patch_validates_like_create(app: TestApp) {
    let token = app.admin("wdc").await;
    let hook = app.webhook(&token, "request.create").await;
    let path = format!("/v1/webhooks/{}", hook["id"]);
    let response = app
        .patch(
            &path,
            &token,
            json!({ "event": null, "uri": null, "name": "x".repeat(201), "bogus": 1 }),
        )
        .await;
    let mut fields = response.error_fields();
    fields.sort();
    assert_eq!(fields, ["bogus", "event", "name", "uri"]);
    let response = app.patch(&path, &token, json!({ "event": "nope" })).await;
    assert_eq!(response.error_fields(), ["event"]);
    // Nothing was stored by the refused updates.
    assert_eq!(app.get(&path, &token).await.body, hook);
    let response = app
        .patch("/v1/webhooks/424242", &token, json!({ "name": "x" }))
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
}

async fn delete_answers_204_then_404(app: TestApp) {
    let token = app.admin("wdc").await;
    let hook = app.webhook(&token, "request.create").await;
    let keep = app.webhook(&token, "request.update").await;
    let path = format!("/v1/webhooks/{}", hook["id"]);
    let response = app.delete(&path, &token).await;
    assert_eq!(response.status, StatusCode::NO_CONTENT);
    assert_eq!(response.body, Value::Null);
    assert_eq!(app.get(&path, &token).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.delete(&path, &token).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("/v1/webhooks/{}", keep["id"]), &token)
            .await
            .status,
        StatusCode::OK
    );
}

async fn test_endpoint_queues_a_message_and_404s_for_unknown_webhooks(app: TestApp) {
    let token = app.admin("wdc").await;
    let hook = app.webhook(&token, "request.create").await;
    let response = app
        .post(
            &format!("/v1/webhooks/{}/test", hook["id"]),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(response.status, StatusCode::NO_CONTENT);
    assert_eq!(response.body, Value::Null);
    let queued = app.deliveries("wdc", &hook).await;
    let tests: Vec<_> = queued
        .iter()
        .filter(|d| d.kind == herald::domain::event::EventKind::Test)
        .collect();
    assert_eq!(tests.len(), 1, "{queued:?}");
    let response = app.post("/v1/webhooks/4242/test", &token, json!({})).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
}

async fn description_attachments_aggregate_into_attachments(app: TestApp) {
    let token = app.admin("wdc").await;
    let hook = app
        .create_webhook(
            &token,
            json!({ "event": "request.create", "uri": "https://example.com/",
                    "description_attachments": [{ "key": "a1", "filesize": 10, "inline": true }] }),
        )
        .await;
    assert_eq!(
        hook["attachments"],
        json!([{ "key": "a1", "filesize": 10, "inline": true }])
    );
    assert!(hook.get("description_attachments").is_none(), "write-only");
    let response = app
        .patch(
            &format!("/v1/webhooks/{}", hook["id"]),
            &token,
            json!({ "description_attachments": [{ "key": "a1" }, { "key": "b2" }] }),
        )
        .await;
    assert_eq!(
        response.body["attachments"],
        json!([{ "key": "a1", "filesize": 10, "inline": true }, { "key": "b2" }])
    );
    let response = app
        .post("/v1/webhooks", &token, json!({ "event": "request.create", "uri": "https://example.com/", "description_attachments": [{ "key": "" }] }))
        .await;
    assert_eq!(response.error_fields(), ["description_attachments"]);
}
