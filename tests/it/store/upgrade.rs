//! Upgrades: a database made by an earlier schema, with data in it, is
//! migrated by the next start, and what it held still reads right.

use std::path::Path;

use herald::config::Settings;
use serde_json::json;
use sqlx::Connection;

use crate::on_databases;
use crate::support::{Backend, EmptyDatabase, TEST_SECRET_KEY, TestApp};

on_databases!(
    verification_codes_kept_in_plain_text_are_redacted_by_the_upgrade,
    tokens_made_before_the_upgrade_keep_what_they_could_do,
    policies_made_before_the_upgrade_keep_their_key_and_rotate,
);

/// Applies the migrations of `backend` up to `version` to `database`.
async fn migrate_up_to(backend: Backend, database: &EmptyDatabase, version: u32) {
    let folder = match backend {
        Backend::Sqlite => "migrations/sqlite",
        Backend::Postgres => "migrations/postgres",
    };
    let earlier = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(folder)).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name[..4].parse::<u32>().unwrap() <= version {
            std::fs::copy(&path, earlier.path().join(name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(earlier.path()).await.unwrap();
    match backend {
        Backend::Sqlite => {
            let options: sqlx::sqlite::SqliteConnectOptions = database.url.parse().unwrap();
            let mut conn = sqlx::SqliteConnection::connect_with(&options.create_if_missing(true))
                .await
                .unwrap();
            migrator.run(&mut conn).await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&database.url).await.unwrap();
            migrator.run(&mut conn).await.unwrap();
        }
    }
}

/// Runs `sql` on `database` (statements with no parameters).
async fn execute(backend: Backend, database: &EmptyDatabase, sql: &str) {
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&database.url)
                .await
                .unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&database.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        }
    }
}

const CODE: &str = "abcDEF123_-xyzABC4567890";

async fn verification_codes_kept_in_plain_text_are_redacted_by_the_upgrade(backend: Backend) {
    let Some(database) = EmptyDatabase::create(backend).await else {
        return;
    };
    migrate_up_to(backend, &database, 4).await;
    // As version 4 stored a verification: the code in the event's payload
    // and in the message kept with its delivery, and a webhook whose name
    // looks like a callback.
    let callback = format!("http://herald.test/v1/webhooks/1/verify?code={CODE}&expires_at=9");
    let payload = json!({ "callback": callback }).to_string();
    let name = format!("see ?code={CODE}&x /verify?code={CODE}&");
    let message = json!({
        "webhook_id": 1, "account_id": "wdc", "name": name, "event": "webhook.verify",
        "object_id": 1, "payload": { "callback": callback },
    })
    .to_string();
    execute(
        backend,
        &database,
        &format!(
            "INSERT INTO accounts (id, name, created_at) VALUES ('wdc', 'wdc', 0);
             INSERT INTO webhooks (account_id, name, event, uri, source, created_at, updated_at)
               VALUES ('wdc', '{name}', 'task.update', 'https://example.com/', 'R-Service API', 0, 0);
             INSERT INTO events (account_id, kind, event, object_id, payload, webhook_id, created_at)
               VALUES ('wdc', 'verify', 'webhook.verify', 1, '{payload}', 1, 0);
             INSERT INTO deliveries (uuid, account_id, webhook_id, event_id, event, object_id, kind,
                 status, attempts, next_attempt_at, message, created_at, updated_at)
               VALUES ('u1', 'wdc', 1, 1, 'webhook.verify', 1, 'verify', 'succeeded', 1, 0,
                 '{message}', 0, 0);"
        ),
    )
    .await;

    let app = TestApp::start_on_existing(database, Settings::default()).await;
    let token = app.admin("wdc").await;
    let shown = app.get("/v1/webhook_deliveries/1", &token).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_eq!(shown.body["message"]["name"], name, "the name was changed");
    let hook = app.get("/v1/webhooks/1", &token).await;
    assert_eq!(hook.body["name"], name);
    let kept = app
        .deliveries("wdc", &json!({ "id": 1 }))
        .await
        .remove(0)
        .message
        .unwrap();
    assert_eq!(kept["name"], name);
    let expected = callback.replace(CODE, "REDACTED");
    assert_eq!(kept["payload"]["callback"], expected);
    for stored in crate::api::verification::stored_verify_payloads(&app).await {
        assert_eq!(stored, json!({ "callback": expected }).to_string());
    }
}

/// Tokens made before tokens had roles of their own (stored as their
/// hashes), each of a person of its own: the person's roles, and when the
/// token was revoked.
const EARLIER_TOKENS: [(&str, &str, Option<i64>); 4] = [
    ("hrld_admin", "administrator,publisher", None),
    ("hrld_publisher", "publisher", None),
    ("hrld_member", "", None),
    ("hrld_revoked", "administrator", Some(5)),
];

async fn tokens_made_before_the_upgrade_keep_what_they_could_do(backend: Backend) {
    let Some(database) = EmptyDatabase::create(backend).await else {
        return;
    };
    migrate_up_to(backend, &database, 5).await;
    let mut rows =
        String::from("INSERT INTO accounts (id, name, created_at) VALUES ('wdc', 'wdc', 0);");
    for (i, (token, roles, revoked_at)) in EARLIER_TOKENS.iter().enumerate() {
        let person = i + 1;
        let hash = herald::crypto::tokens::hash_token(token);
        let revoked = revoked_at.map_or("NULL".to_string(), |at| at.to_string());
        rows.push_str(&format!(
            "INSERT INTO people (account_id, name, roles, created_at) VALUES ('wdc', 'P{person}', '{roles}', 0);
             INSERT INTO api_tokens (account_id, person_id, token_hash, created_at, revoked_at)
               VALUES ('wdc', {person}, '{hash}', 0, {revoked});"
        ));
    }
    execute(backend, &database, &rows).await;

    let app = TestApp::start_on_existing(database, Settings::default()).await;
    let event = json!({ "event": "request.create", "object_id": 1 });
    let status = |token: &'static str, path: &'static str| {
        let app = app.clone();
        let event = event.clone();
        async move {
            if path == "/v1/events" {
                app.post(path, token, event).await.status.as_u16()
            } else {
                app.get(path, token).await.status.as_u16()
            }
        }
    };
    assert_eq!(status("hrld_admin", "/v1/webhooks").await, 200);
    assert_eq!(status("hrld_admin", "/v1/events").await, 202);
    assert_eq!(status("hrld_publisher", "/v1/events").await, 202);
    assert_eq!(status("hrld_publisher", "/v1/webhooks").await, 403);
    assert_eq!(status("hrld_member", "/v1").await, 200);
    assert_eq!(status("hrld_member", "/v1/events").await, 403);
    assert_eq!(status("hrld_revoked", "/v1").await, 401);

    let listed = app.get("/v1/api_tokens", "hrld_admin").await.body;
    let roles: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["administrator", "publisher", "member"], "{listed}");
    assert_eq!(listed[0]["description"], serde_json::Value::Null);
    assert_eq!(listed[0]["expires_at"], serde_json::Value::Null);
}

/// A policy of version 7 (before signature schemes and rotation): it reads
/// as a JWS policy without discovery, publishes the key it had, and rotates.
async fn policies_made_before_the_upgrade_keep_their_key_and_rotate(backend: Backend) {
    let Some(database) = EmptyDatabase::create(backend).await else {
        return;
    };
    migrate_up_to(backend, &database, 7).await;
    let sealer = herald::crypto::sealing::Sealer::from_base64(TEST_SECRET_KEY).unwrap();
    let generated = herald::crypto::keys::generate(herald::domain::policy::JwtAlg::Es256);
    let sealed = sealer.seal(&generated.private);
    execute(
        backend,
        &database,
        "INSERT INTO accounts (id, name, created_at) VALUES ('wdc', 'wdc', 0);",
    )
    .await;
    const INSERT: &str = "INSERT INTO webhook_policies (account_id, name, disabled, jwt_alg, \
         sealed_key, created_at, updated_at) VALUES ('wdc', 'p', FALSE, 'es256', $1, 0, 0)";
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&database.url)
                .await
                .unwrap();
            sqlx::query(INSERT)
                .bind(&sealed)
                .execute(&mut conn)
                .await
                .unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&database.url).await.unwrap();
            sqlx::query(INSERT)
                .bind(&sealed)
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }

    let app = TestApp::start_on_existing(database, Settings::default()).await;
    let token = app.admin("wdc").await;
    let policy = app.get("/v1/webhook_policies/1", &token).await.body;
    assert_eq!(policy["signature_scheme"], "jws", "{policy}");
    assert_eq!(policy["openid_connect_discovery"], false);
    let on = app
        .patch(
            "/v1/webhook_policies/1",
            &token,
            json!({ "openid_connect_discovery": true }),
        )
        .await;
    assert_eq!(on.status, 200, "{}", on.body);
    let jwks = crate::receiver::discovery::jwks_kids(&app, "wdc", 1).await;
    let key = herald::crypto::keys::SigningKey::load(
        herald::domain::policy::JwtAlg::Es256,
        &generated.private,
    )
    .unwrap();
    assert_eq!(
        jwks,
        [herald::crypto::jwk::key_id(&key).unwrap()],
        "the key it had"
    );
    let rotated = app
        .post("/v1/webhook_policies/1/rotate", &token, json!({}))
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert_eq!(
        crate::receiver::discovery::jwks_kids(&app, "wdc", 1)
            .await
            .len(),
        2
    );
}
