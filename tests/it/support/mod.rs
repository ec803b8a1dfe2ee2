//! `TestApp`: the real router on a real database (an SQLite file or a
//! PostgreSQL schema of its own), with typed helpers for requests.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use herald::api::auth::{generate_token, hash_token};
use herald::app::{AppState, router};
use herald::config::{Config, Settings};
use herald::domain::{AccountId, Role};
use herald::store::{self, PersonSpec, Store};
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::Connection;
use tower::ServiceExt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where tests find PostgreSQL; each test gets a schema of its own there.
pub fn postgres_base_url() -> String {
    std::env::var("HERALD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

enum Resource {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Schema(String),
}

#[derive(Clone)]
pub struct TestApp {
    pub router: Router,
    pub store: Arc<dyn Store>,
    pub database_url: String,
    resource: Arc<Resource>,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    /// The `[field, message]` pairs of a 422.
    pub fn errors(&self) -> Vec<(String, String)> {
        assert_eq!(
            self.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            self.body
        );
        assert_eq!(self.body["message"], "Validation Failed");
        self.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| {
                (
                    pair[0].as_str().unwrap().to_string(),
                    pair[1].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    pub fn error_fields(&self) -> Vec<String> {
        self.errors().into_iter().map(|(f, _)| f).collect()
    }
}

/// Runs `test` against a fresh app on `backend`, then drops its database,
/// even when the test panics. PostgreSQL tests skip with a printed reason
/// when no server answers, except under CI, where they fail.
pub async fn run<F, Fut>(test: F, backend: Backend)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(app) = TestApp::start(backend, Settings::default()).await else {
        return;
    };
    let outcome = tokio::spawn(test(app.clone())).await;
    app.cleanup().await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

/// Declares `mod name { sqlite, postgres }` tests running `async fn name(app: TestApp)`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                $crate::support::run(super::$name, $crate::support::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                $crate::support::run(super::$name, $crate::support::Backend::Postgres).await
            }
        }
    )*};
}

impl TestApp {
    pub async fn start(backend: Backend, settings: Settings) -> Option<TestApp> {
        let (database_url, resource) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("herald.db").display());
                (url, Resource::Dir(dir))
            }
            Backend::Postgres => {
                let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                let base = postgres_base_url();
                match sqlx::PgConnection::connect(&base).await {
                    Ok(mut conn) => {
                        sqlx::query(&format!("CREATE SCHEMA {schema}"))
                            .execute(&mut conn)
                            .await
                            .unwrap();
                    }
                    Err(error) if std::env::var("CI").is_err() => {
                        eprintln!("skipping PostgreSQL test: no server at {base}: {error}");
                        return None;
                    }
                    Err(error) => panic!("PostgreSQL must run under CI ({base}): {error}"),
                }
                let separator = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{separator}options[search_path]={schema}");
                (url, Resource::Schema(schema))
            }
        };
        let settings = Settings {
            database: Some(database_url.clone()),
            public_url: Some("http://herald.test".into()),
            ..settings
        };
        let config = Config::from_settings(settings).unwrap();
        let store = store::connect(&database_url).await.unwrap();
        Some(TestApp {
            router: router(AppState::new(store.clone(), config)),
            store,
            database_url,
            resource: Arc::new(resource),
        })
    }

    /// The same database behind a router with other settings.
    pub fn with_settings(&self, change: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = Settings {
            database: Some(self.database_url.clone()),
            public_url: Some("http://herald.test".into()),
            ..Settings::default()
        };
        change(&mut settings);
        let config = Config::from_settings(settings).unwrap();
        TestApp {
            router: router(AppState::new(self.store.clone(), config)),
            ..self.clone()
        }
    }

    pub async fn cleanup(&self) {
        if let Resource::Schema(schema) = self.resource.as_ref()
            && let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_base_url()).await
        {
            let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
            if let Err(error) = sqlx::query(&drop).execute(&mut conn).await {
                eprintln!("could not drop test schema {schema}: {error}");
            }
        }
    }

    /// A token for a new person with `role` in `account` (created when missing).
    pub async fn token(&self, account: &str, role: Role) -> String {
        let account = AccountId::parse(account).unwrap();
        self.store
            .ensure_account(&account, account.as_str(), 0)
            .await
            .unwrap();
        let token = generate_token();
        let person = PersonSpec {
            name: None,
            email: None,
            role,
        };
        self.store
            .create_token(&account, &person, &hash_token(&token), 0)
            .await
            .unwrap();
        token
    }

    pub async fn admin(&self, account: &str) -> String {
        self.token(account, Role::Administrator).await
    }

    /// Sends a request with optional bearer token and raw body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> TestResponse {
        // As HTTP clients do: `<` and `>` (filter operators) travel percent-encoded.
        let path = path.replace('<', "%3C").replace('>', "%3E");
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .header("content-type", "application/json")
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes))
            })
        };
        TestResponse {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> TestResponse {
        self.send(Method::GET, path, Some(token), &[], None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.send(
            Method::POST,
            path,
            Some(token),
            &[],
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.send(
            Method::PATCH,
            path,
            Some(token),
            &[],
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> TestResponse {
        self.send(Method::DELETE, path, Some(token), &[], None)
            .await
    }

    /// Creates a webhook and returns its record; panics unless it answers 200.
    pub async fn create_webhook(&self, token: &str, body: Value) -> Value {
        let response = self.post("/v1/webhooks", token, body).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        response.body
    }

    /// A webhook for `event` at a distinct public URI.
    pub async fn webhook(&self, token: &str, event: &str) -> Value {
        self.create_webhook(
            token,
            serde_json::json!({ "event": event, "uri": format!("https://receiver.example.com/{event}") }),
        )
        .await
    }
}
