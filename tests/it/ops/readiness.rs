//! `/readyz`: 200 only while the database answers with every migration
//! applied and, for a delivering process, its delivery loop runs; else
//! 503 with the reason. `/healthz` stays a liveness check.

use axum::http::{Method, StatusCode};
use herald::config::Settings;
use sqlx::Connection;

use crate::on_databases;
use crate::support::proxy::TcpProxy;
use crate::support::{Backend, EmptyDatabase, TestApp, delivery_settings};

/// `GET path` on a served Herald: status and JSON body.
async fn probe(client: &reqwest::Client, url: String) -> (u16, serde_json::Value) {
    let answer = client.get(url).send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap())
}

/// Runs `statement` on the app's database, apart from Herald.
async fn execute(app: &TestApp, statement: &str) {
    if app.database_url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::query(statement).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::query(statement).execute(&mut conn).await.unwrap();
    }
}

async fn readiness_needs_the_database_its_migrations_and_a_delivery_loop(backend: Backend) {
    let Some(app) = TestApp::start(backend, delivery_settings()).await else {
        return;
    };
    // A router without an engine, in a process whose role delivers.
    let without_engine = app.send(Method::GET, "/readyz", None, &[], None).await;
    assert_eq!(without_engine.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        without_engine.body["message"],
        "Not ready: the delivery loop is not running"
    );
    let api_only = app.with_settings(|s| s.role = Some("api".into()));
    let ready = api_only.send(Method::GET, "/readyz", None, &[], None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);

    let herald = app.observe().await;
    for url in [herald.url("/readyz"), herald.ops_url("/readyz")] {
        let (status, body) = probe(&herald.client, url).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("ready")));
    }
    execute(&app, "DELETE FROM _sqlx_migrations WHERE version = 6").await;
    let (status, body) = probe(&herald.client, herald.ops_url("/readyz")).await;
    assert_eq!(status, 503);
    assert_eq!(
        body["message"],
        "Not ready: database migrations are not applied"
    );
    let (live, _) = probe(&herald.client, herald.ops_url("/healthz")).await;
    assert_eq!(live, 200, "liveness does not depend on readiness");
}

async fn readiness_fails_when_the_database_goes_away(backend: Backend) {
    let settings = Settings {
        role: Some("api".into()),
        ..delivery_settings()
    };
    let Some(database) = EmptyDatabase::create(backend).await else {
        return;
    };
    let (url, proxy) = match backend {
        Backend::Sqlite => (database.url.clone(), None),
        Backend::Postgres => {
            // Herald reaches PostgreSQL through a proxy the test can cut.
            let mut url = url::Url::parse(&database.url).unwrap();
            let server = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
            let proxy = TcpProxy::start(server.parse().unwrap()).await;
            url.set_port(Some(proxy.address.port())).unwrap();
            (url.to_string(), Some(proxy))
        }
    };
    let database = EmptyDatabase { url, ..database };
    let app = TestApp::start_on_existing(database, settings).await;
    let herald = app.observe().await;
    let (status, _) = probe(&herald.client, herald.ops_url("/readyz")).await;
    assert_eq!(status, 200);
    // A server gone fails the connection at once, or leaves it waiting
    // past the probe's patience.
    let expected: &[&str] = match proxy {
        Some(proxy) => {
            proxy.cut();
            &[
                "Not ready: the database does not answer",
                "Not ready: the database did not answer in time",
            ]
        }
        None => {
            let path = app.database_url.trim_start_matches("sqlite://");
            std::fs::remove_file(path).unwrap();
            &["Not ready: the database file was removed or replaced"]
        }
    };
    let (status, body) = probe(&herald.client, herald.ops_url("/readyz")).await;
    assert_eq!(status, 503, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(expected.contains(&message), "{message}");
}

on_databases!(
    readiness_needs_the_database_its_migrations_and_a_delivery_loop,
    readiness_fails_when_the_database_goes_away,
);
