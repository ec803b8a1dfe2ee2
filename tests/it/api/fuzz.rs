//! Requests made up at random from the API's own vocabulary (routes, ids,
//! filters, operators, fields, JSON of every type) and from junk: none may
//! get a 5xx or an error that is not the contract's JSON. The seed is fixed,
//! so a failure repeats; it is printed with the request that failed.

use axum::http::{Method, StatusCode};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::on_databases;
use crate::support::TestApp;

on_databases!(random_requests_get_no_5xx_and_json_errors);

/// Requests per database.
const REQUESTS: usize = 1500;

async fn random_requests_get_no_5xx_and_json_errors(app: TestApp) {
    let admin = app.admin("wdc").await;
    let publisher = app.token("wdc", herald::domain::Role::Publisher).await;
    let hook = app.webhook(&admin, "request.create").await;
    let policy = app
        .post(
            "/v1/webhook_policies",
            &admin,
            json!({ "jwt_alg": "hs256" }),
        )
        .await
        .body;
    let ids = [
        hook["id"].to_string(),
        policy["id"].to_string(),
        "0".into(),
        "-1".into(),
        "99999999999999999999".into(),
        "%FF".into(),
        "%00".into(),
        "1.5".into(),
        "abc".into(),
        String::new(),
    ];
    let mut rng = StdRng::seed_from_u64(23);
    for n in 0..REQUESTS {
        let (method, path) = random_route(&mut rng, &ids);
        let admin = Some(admin.as_str());
        let token = [
            admin,
            admin,
            admin,
            Some(publisher.as_str()),
            Some("hrld_x"),
            None,
        ]
        .choose(&mut rng)
        .copied()
        .flatten();
        let body = random_body(&mut rng);
        let response = app
            .send(method.clone(), &path, token, &[], body.clone())
            .await;
        let shown = body.as_deref().map(String::from_utf8_lossy);
        assert!(
            response.status < StatusCode::INTERNAL_SERVER_ERROR,
            "request {n}: {method} {path} {shown:?} -> {} {}",
            response.status,
            response.body
        );
        if response.status.is_client_error() {
            assert!(
                response.body["message"].is_string(),
                "request {n}: {method} {path} -> {} {}",
                response.status,
                response.body
            );
        }
    }
    // The store still answers whole lists afterwards.
    for path in [
        "/v1/webhooks?per_page=100",
        "/v1/webhook_policies?per_page=100",
        "/v1/api_tokens?per_page=100",
        "/v1/audit_events?per_page=100",
    ] {
        let list = app.get(path, &admin).await;
        assert_eq!(list.status, StatusCode::OK, "{path}: {}", list.body);
        assert!(list.body.is_array(), "{}", list.body);
    }
}

/// A route of the API with its method, now and then another method.
fn random_route(rng: &mut StdRng, ids: &[String]) -> (Method, String) {
    let id = ids.choose(rng).unwrap();
    let junk = url::form_urlencoded::byte_serialize(junk_text(rng).as_bytes()).collect::<String>();
    let (method, base) = [
        (Method::GET, "/v1".to_string()),
        (Method::GET, "/v1/webhooks".into()),
        (Method::POST, "/v1/webhooks".into()),
        (Method::GET, "/v1/webhooks/enabled".into()),
        (Method::GET, "/v1/webhooks/disabled".into()),
        (Method::GET, format!("/v1/webhooks/{id}")),
        (Method::PATCH, format!("/v1/webhooks/{id}")),
        (Method::PUT, format!("/v1/webhooks/{id}")),
        (Method::DELETE, format!("/v1/webhooks/{id}")),
        (Method::POST, format!("/v1/webhooks/{id}/test")),
        (Method::GET, format!("/v1/webhooks/{id}/deliveries")),
        (Method::POST, format!("/v1/webhooks/{id}/recover")),
        (Method::GET, format!("/v1/webhooks/{id}/verify")),
        (Method::GET, "/v1/webhook_policies".into()),
        (Method::POST, "/v1/webhook_policies".into()),
        (Method::GET, "/v1/webhook_policies/enabled".into()),
        (Method::GET, format!("/v1/webhook_policies/{id}")),
        (Method::PATCH, format!("/v1/webhook_policies/{id}")),
        (Method::DELETE, format!("/v1/webhook_policies/{id}")),
        (Method::GET, format!("/v1/webhook_deliveries/{id}")),
        (
            Method::POST,
            format!("/v1/webhook_deliveries/{id}/redeliver"),
        ),
        (Method::POST, "/v1/events".into()),
        (Method::POST, "/v1/events".into()),
        (Method::GET, "/v1/api_tokens".into()),
        (Method::GET, format!("/v1/api_tokens/{id}")),
        (Method::GET, "/v1/audit_events".into()),
        (Method::GET, format!("/v1/audit_events/{id}")),
        (Method::GET, "/healthz".into()),
        (Method::GET, format!("/v1/{junk}")),
    ]
    .choose(rng)
    .unwrap()
    .clone();
    let method = if rng.gen_ratio(1, 10) {
        [
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ]
        .choose(rng)
        .unwrap()
        .clone()
    } else {
        method
    };
    let params: Vec<String> = (0..rng.gen_range(0..6))
        .map(|_| format!("{}={}", random_param(rng), random_value(rng)))
        .collect();
    if params.is_empty() {
        (method, base)
    } else {
        (method, format!("{base}?{}", params.join("&")))
    }
}

fn random_param(rng: &mut StdRng) -> String {
    [
        "id",
        "name",
        "event",
        "uri",
        "disabled",
        "created_at",
        "updated_at",
        "status",
        "object_id",
        "page",
        "per_page",
        "fields",
        "sort",
        "state",
        "code",
        "expires_at",
        "role",
        "person_id",
        "record_type",
        "record_id",
        "action",
        "actor",
        "last_used_at",
        "unknown",
    ]
    .choose(rng)
    .unwrap()
    .to_string()
}

fn random_value(rng: &mut StdRng) -> String {
    let atom = [
        "1",
        "0",
        "-5",
        "abc",
        "request.create",
        "2016-03-17",
        "2016-03-17T16:36:11Z",
        "true",
        "pending",
        "enabled",
        "-id",
        "name,-created_at",
        "99999999999999999999",
        "%FF",
        "%00",
        "",
        "!",
        "id,uri,nodeID",
    ]
    .choose(rng)
    .unwrap()
    .to_string();
    let op = ["", "!", "%3E", "%3E%3D", "%3C", "%3C%3D"]
        .choose(rng)
        .unwrap();
    let list = (0..rng.gen_range(0..3)).map(|_| ",7").collect::<String>();
    format!("{op}{atom}{list}")
}

fn random_body(rng: &mut StdRng) -> Option<Vec<u8>> {
    match rng.gen_range(0..6) {
        0 => None,
        1 => Some(junk_text(rng).into_bytes()),
        2 => Some(
            (0..rng.gen_range(0..64))
                .map(|_| rng.r#gen::<u8>())
                .collect(),
        ),
        3 => Some(
            Value::Array(
                (0..rng.gen_range(0..4))
                    .map(|_| random_object(rng))
                    .collect(),
            )
            .to_string()
            .into_bytes(),
        ),
        _ => Some(random_object(rng).to_string().into_bytes()),
    }
}

/// An object with fields of the API's resources, of any JSON type.
fn random_object(rng: &mut StdRng) -> Value {
    let fields = [
        "event",
        "uri",
        "name",
        "description",
        "disabled",
        "mail_exceptions_to",
        "source",
        "sourceID",
        "webhook_policy_id",
        "description_attachments",
        "object_id",
        "person_id",
        "person_name",
        "payload",
        "links",
        "idempotency_key",
        "webhook_id",
        "jwt_alg",
        "jwt_audience",
        "jwt_claim_expires_in",
        "since",
        "until",
        "id",
        "extra",
    ];
    let mut object = serde_json::Map::new();
    for _ in 0..rng.gen_range(0..7) {
        let field = fields.choose(rng).unwrap();
        object.insert(field.to_string(), random_json(rng, 2));
    }
    Value::Object(object)
}

fn random_json(rng: &mut StdRng, depth: u32) -> Value {
    match rng.gen_range(0..if depth == 0 { 7 } else { 9 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.r#gen()),
        2 => json!(rng.gen_range(-3..100_000)),
        3 => json!(rng.r#gen::<f64>() * 1e300),
        4 => json!(i64::MAX),
        5 => Value::String(
            [
                "request.create",
                "https://example.com/h",
                "http://10.0.0.1/",
                "hs256",
                "es512",
                "a@b.example.com",
                "2016-03-17",
                "",
                "\u{1F600}",
                "x",
            ]
            .choose(rng)
            .unwrap()
            .to_string(),
        ),
        6 => Value::String(junk_text(rng)),
        7 => Value::Array(
            (0..rng.gen_range(0..3))
                .map(|_| random_json(rng, depth - 1))
                .collect(),
        ),
        _ => {
            let mut map = serde_json::Map::new();
            for _ in 0..rng.gen_range(0..3) {
                map.insert(junk_text(rng), random_json(rng, depth - 1));
            }
            Value::Object(map)
        }
    }
}

fn junk_text(rng: &mut StdRng) -> String {
    (0..rng.gen_range(0..24))
        .map(|_| {
            *"aZ09-_.~%<>!,{}\"'\\ /é\u{202E}\u{0}"
                .chars()
                .collect::<Vec<_>>()
                .choose(rng)
                .unwrap()
        })
        .collect()
}
