//! `TestApp`: the real router on a real database (an SQLite file or a
//! PostgreSQL schema of its own), with typed helpers for requests.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use herald::api::{AppState, router};
use herald::config::{Config, Settings};
use herald::crypto::sealing::Sealer;
use herald::crypto::tokens::{generate_token, hash_token};
use herald::delivery::{Engine, Mailer};
use herald::domain::audit::Actor;
use herald::domain::time::now_epoch;
use herald::domain::{AccountId, Role};
use herald::store::{self, NewToken, PersonSpec, Store};
use herald_test_support::Schema;
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::runtime::{self, Runtime};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
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

pub mod child;
pub mod observed;
pub mod proxy;
pub mod receiver;
pub mod served;
pub mod smtp;

/// What holds a test's database; it goes when this is dropped.
pub(crate) enum Resource {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Schema(#[allow(dead_code)] Schema),
}

/// A database of a test's own with no tables yet: an SQLite file in a
/// folder of its own, or a PostgreSQL schema; it goes when dropped.
pub struct EmptyDatabase {
    pub url: String,
    pub(crate) resource: Resource,
}

impl EmptyDatabase {
    /// `None` (with the reason printed) when PostgreSQL does not answer,
    /// except under CI, where that fails the test.
    pub async fn create(backend: Backend) -> Option<EmptyDatabase> {
        let (url, resource) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("herald.db").display());
                (url, Resource::Dir(dir))
            }
            Backend::Postgres => {
                let base = postgres_base_url();
                let schema = match Schema::create(&base, "t_").await {
                    Ok(schema) => schema,
                    Err(error) if std::env::var("CI").is_err() => {
                        eprintln!("skipping PostgreSQL test: no usable server at {base}: {error}");
                        return None;
                    }
                    Err(error) => panic!("PostgreSQL must run under CI ({base}): {error}"),
                };
                (schema.url(), Resource::Schema(schema))
            }
        };
        Some(EmptyDatabase { url, resource })
    }
}

/// Stops a test app's delivery workers when the last clone goes.
struct Workers {
    shutdown: CancellationToken,
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[derive(Clone)]
pub struct TestApp {
    pub router: Router,
    pub store: Arc<Store>,
    pub config: Arc<Config>,
    pub database_url: String,
    pub wake: Arc<Notify>,
    pub sealer: Sealer,
    workers: Option<Arc<Workers>>,
    /// Held for its `Drop`: the database goes with the last clone.
    _resource: Arc<Resource>,
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

/// What a test run on each database takes: a fresh [`TestApp`] (API only,
/// default settings), or only the [`Backend`], for a test that starts what
/// it needs itself (an app with other settings or with workers, a server,
/// a child process).
pub trait DatabaseTest: Sized {
    /// The runtime the test runs on.
    fn runtime() -> Runtime;
    /// What the test gets on `backend`; `None` skips it (see
    /// [`EmptyDatabase::create`]).
    fn prepare(backend: Backend) -> impl Future<Output = Option<Self>>;
}

impl DatabaseTest for TestApp {
    /// One thread, as `#[tokio::test]`: the test drives the router alone.
    fn runtime() -> Runtime {
        runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// PostgreSQL tests skip with a printed reason when no server answers,
    /// except under CI, where they fail. The database goes with the app.
    async fn prepare(backend: Backend) -> Option<TestApp> {
        TestApp::start(backend, Settings::default()).await
    }
}

impl DatabaseTest for Backend {
    /// Two worker threads: beside the test's requests run delivery workers,
    /// servers and receivers.
    fn runtime() -> Runtime {
        runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    async fn prepare(backend: Backend) -> Option<Backend> {
        Some(backend)
    }
}

/// Runs `test` on `backend`, on the runtime and with what its parameter
/// asks for ([`DatabaseTest`]).
pub fn run<T, F, Fut>(test: F, backend: Backend)
where
    T: DatabaseTest,
    F: FnOnce(T) -> Fut,
    Fut: Future<Output = ()>,
{
    T::runtime().block_on(async {
        if let Some(subject) = T::prepare(backend).await {
            test(subject).await;
        }
    });
}

/// Declares, for each `async fn name(app: TestApp)` or
/// `async fn name(backend: Backend)` named ([`DatabaseTest`]), a module
/// `name` with a test on each database, `sqlite` and `postgres`; with
/// `postgres:` first, on PostgreSQL only.
#[macro_export]
macro_rules! on_databases {
    (@tests $name:ident: $($database:ident $backend:ident),+) => {
        mod $name {
            $(
                #[test]
                fn $database() {
                    $crate::support::run(super::$name, $crate::support::Backend::$backend)
                }
            )+
        }
    };
    (postgres: $($name:ident),+ $(,)?) => {$(
        $crate::on_databases!(@tests $name: postgres Postgres);
    )+};
    ($($name:ident),+ $(,)?) => {$(
        $crate::on_databases!(@tests $name: sqlite Sqlite, postgres Postgres);
    )+};
}

/// The server key of test apps (32 bytes, base64).
pub const TEST_SECRET_KEY: &str = "dGVzdCBrZXkgb2YgdGhpcnR5LXR3byBieXRlcyEhISE=";

/// Settings for tests that deliver to receivers on loopback: private
/// targets allowed, no verification handshake, quick retries.
pub fn delivery_settings() -> Settings {
    Settings {
        allow_private_targets: Some(true),
        require_verification: Some(false),
        retry_schedule: Some("50ms".into()),
        delivery_timeout: Some("5s".into()),
        ..Settings::default()
    }
}

/// Polls `check` every 20 ms until it returns `Some`, for at most 15 s.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

impl TestApp {
    pub async fn start(backend: Backend, settings: Settings) -> Option<TestApp> {
        let EmptyDatabase {
            url: database_url,
            resource,
        } = EmptyDatabase::create(backend).await?;
        TestApp::start_on(database_url, resource, settings).await
    }

    /// An app on a database made already (its migrations are applied now).
    pub async fn start_on_existing(database: EmptyDatabase, settings: Settings) -> TestApp {
        TestApp::start_on(database.url, database.resource, settings)
            .await
            .expect("the database exists")
    }

    async fn start_on(
        database_url: String,
        resource: Resource,
        settings: Settings,
    ) -> Option<TestApp> {
        let settings = Settings {
            database: Some(database_url.clone()),
            public_url: Some("http://herald.test".into()),
            secret_key: settings.secret_key.clone().or(Some(TEST_SECRET_KEY.into())),
            ..settings
        };
        let config = Arc::new(Config::from_settings(settings).unwrap());
        let store = store::connect(&database_url).await.unwrap();
        let wake = Arc::new(Notify::new());
        let sealer = config.secrets.open_sealer().unwrap();
        Some(TestApp {
            router: router(AppState::new(
                store.clone(),
                config.clone(),
                wake.clone(),
                sealer.clone(),
                None,
            )),
            store,
            config,
            sealer,
            database_url,
            wake,
            workers: None,
            _resource: Arc::new(resource),
        })
    }

    /// An app whose delivery workers (engine and mailer) run until it is dropped.
    pub async fn running(backend: Backend, settings: Settings) -> Option<TestApp> {
        let mut app = TestApp::start(backend, settings).await?;
        let shutdown = CancellationToken::new();
        let mail_wake = Arc::new(Notify::new());
        let engine = Engine::new(
            app.store.clone(),
            app.config.clone(),
            app.sealer.clone(),
            app.wake.clone(),
            mail_wake.clone(),
        )
        .unwrap();
        // Publishes hand new deliveries straight to this engine, as in `serve`.
        app.router = router(AppState::new(
            app.store.clone(),
            app.config.clone(),
            app.wake.clone(),
            app.sealer.clone(),
            Some(engine.handoff()),
        ));
        let mailer = Mailer::new(app.store.clone(), &app.config.mail, mail_wake).unwrap();
        tokio::spawn(engine.run(shutdown.clone()));
        tokio::spawn(mailer.run(shutdown.clone()));
        app.workers = Some(Arc::new(Workers { shutdown }));
        Some(app)
    }

    /// The same database behind a router with other settings.
    pub fn with_settings(&self, change: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = Settings {
            database: Some(self.database_url.clone()),
            public_url: Some("http://herald.test".into()),
            secret_key: Some(TEST_SECRET_KEY.into()),
            ..Settings::default()
        };
        change(&mut settings);
        let config = Arc::new(Config::from_settings(settings).unwrap());
        TestApp {
            router: router(AppState::new(
                self.store.clone(),
                config.clone(),
                self.wake.clone(),
                self.sealer.clone(),
                None,
            )),
            config,
            ..self.clone()
        }
    }

    /// A token for a new person with `role` in `account` (created when missing).
    pub async fn token(&self, account: &str, role: Role) -> String {
        let person = PersonSpec {
            name: None,
            email: None,
            role,
        };
        self.make_token(account, NewToken::plain(person)).await.0
    }

    /// A token made as `herald token create` makes it (the account created
    /// when missing); the token and its id.
    pub async fn make_token(&self, account: &str, new: NewToken) -> (String, i64) {
        let account = AccountId::parse(account).unwrap();
        self.store
            .ensure_account(&account, account.as_str(), 0)
            .await
            .unwrap();
        let token = generate_token();
        let id = self
            .store
            .create_token(
                &account,
                &new,
                &hash_token(&token),
                &Actor::command_line(),
                now_epoch(),
            )
            .await
            .unwrap();
        (token, id)
    }

    /// An administrator token whose person has an e-mail (a mail recipient).
    pub async fn admin_with_email(&self, account: &str, email: &str) -> String {
        let person = PersonSpec {
            name: Some("Admin".into()),
            email: Some(email.into()),
            role: Role::Administrator,
        };
        self.make_token(account, NewToken::plain(person)).await.0
    }

    /// Publishes one event; returns the answer's body.
    pub async fn publish(&self, token: &str, event: Value) -> Value {
        let response = self.post("/v1/events", token, event).await;
        assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.body);
        response.body
    }

    /// The deliveries of a webhook, newest first (at most 100).
    pub async fn deliveries(
        &self,
        account: &str,
        webhook: &Value,
    ) -> Vec<herald::domain::delivery::DeliveryRecord> {
        use herald::domain::list::{ListQuery, SortKey};
        let account = AccountId::parse(account).unwrap();
        let query = ListQuery {
            filters: vec![herald::domain::delivery::of_webhook(
                webhook["id"].as_i64().unwrap(),
            )],
            sort: vec![SortKey {
                column: "id",
                descending: true,
            }],
            page: 1,
            per_page: 100,
        };
        self.store
            .list_deliveries(&account, &query)
            .await
            .unwrap()
            .items
    }

    /// Waits until the webhook's newest delivery satisfies `done`.
    pub async fn newest_delivery_when(
        &self,
        account: &str,
        webhook: &Value,
        what: &str,
        done: impl Fn(&herald::domain::delivery::DeliveryRecord) -> bool,
    ) -> herald::domain::delivery::DeliveryRecord {
        eventually(what, || async {
            let newest = self.deliveries(account, webhook).await.into_iter().next()?;
            done(&newest).then_some(newest)
        })
        .await
    }

    /// Waits until the webhook's newest delivery is given up.
    pub async fn given_up(
        &self,
        account: &str,
        webhook: &Value,
    ) -> herald::domain::delivery::DeliveryRecord {
        self.newest_delivery_when(account, webhook, "the delivery to be given up", |d| {
            d.status == herald::domain::delivery::DeliveryStatus::GivenUp
        })
        .await
    }

    /// A webhook as the API shows it now.
    pub async fn webhook_now(&self, token: &str, webhook: &Value) -> Value {
        self.get(&format!("/v1/webhooks/{}", webhook["id"]), token)
            .await
            .body
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

    /// A `task.update` webhook sending to `receiver`'s root.
    pub async fn task_hook(&self, token: &str, receiver: &receiver::Receiver) -> Value {
        self.create_webhook(
            token,
            serde_json::json!({ "event": "task.update", "uri": receiver.url("/") }),
        )
        .await
    }

    /// A webhook for `event` at a distinct public URI.
    pub async fn webhook(&self, token: &str, event: &str) -> Value {
        self.create_webhook(
            token,
            serde_json::json!({ "event": event, "uri": format!("https://receiver.example.com/{event}") }),
        )
        .await
    }

    /// `n` webhooks for `event` ([`Self::webhook`]); their ids, in order.
    pub async fn webhook_ids(&self, token: &str, event: &str, n: usize) -> Vec<i64> {
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            ids.push(self.webhook(token, event).await["id"].as_i64().unwrap());
        }
        ids
    }
}
