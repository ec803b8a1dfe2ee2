//! Persistence: [`Store`], Herald's database on SQLite or PostgreSQL, with
//! one module per resource. The only module that holds SQL.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::domain::event::NewEvent;
use crate::domain::{AccountId, Role};

mod accounts;
mod attempts;
mod audit;
mod backend;
mod console_sessions;
mod console_stats;
mod fan_out;
mod history;
mod list_sql;
mod mails;
mod params;
mod policies;
mod policy_keys;
mod postgres;
mod publish;
mod queue;
mod readiness;
mod retention;
mod rows;
mod sqlite;
mod stats;
mod tokens;
mod verification;
mod webhooks;

use backend::{Backend, Db, on_db};
pub use console_sessions::ConsoleSession;
pub use console_stats::{
    AccountQueue, AccountWebhooks, WebhookSearch, WebhookState, WebhookSummary,
};
pub use policy_keys::PolicyKeys;
pub use readiness::NotReady;
pub use stats::{PoolStats, QueueStats, WebhookStats};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a record with the same {0} exists already")]
    Conflict(&'static str),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("unsupported database URL {0:?}: use sqlite://path, sqlite::memory: or postgres://...")]
    UnsupportedUrl(String),
    #[error("the store is shutting down")]
    Closed,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Events one request publishes for one account.
#[derive(Clone, Debug)]
pub struct PublishRequest {
    pub account: AccountId,
    pub events: Vec<NewEvent>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyDeletion {
    Deleted,
    NotFound,
    /// The ids of the webhooks that still use it.
    InUse(Vec<i64>),
}

/// A person to find or create for a new token.
#[derive(Clone, Debug)]
pub struct PersonSpec {
    pub name: Option<String>,
    pub email: Option<String>,
    /// The new token's role, added to the person's roles (`member` adds none).
    pub role: Role,
}

/// A token to make, for a person found or created.
#[derive(Clone, Debug)]
pub struct NewToken {
    pub person: PersonSpec,
    pub description: Option<String>,
    pub expires_at: Option<i64>,
}

impl NewToken {
    /// A token without description or expiry.
    pub fn plain(person: PersonSpec) -> NewToken {
        NewToken {
            person,
            description: None,
            expires_at: None,
        }
    }
}

/// How a rotated token's successor lives and the old one ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Successor {
    /// How long the old token keeps working (until its own expiry at
    /// most); 0 revokes it at once.
    pub overlap_secs: i64,
    /// When the new token expires; `None`: after as long a lifetime as the
    /// old one had (none, if it had none).
    pub expires_at: Option<i64>,
}

/// What rotating a token did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// The new token's id.
    pub token_id: i64,
    /// The authorization generation the rotation moved to.
    pub generation: i64,
}

/// Herald's database, SQLite or PostgreSQL: the only way to it. Each
/// method is written once for both backends ([`on_db!`]), in the module of
/// its resource.
pub struct Store {
    db: Db,
}

/// Opens the database a URL names and applies pending migrations.
pub async fn connect(url: &str) -> StoreResult<Arc<Store>> {
    let db = if url.starts_with("sqlite:") {
        Backend::Sqlite(sqlite::SqliteDb::connect(url).await?)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Backend::Postgres(postgres::PgDb::connect(url).await?)
    } else {
        return Err(StoreError::UnsupportedUrl(url.to_string()));
    };
    let store = Store { db };
    store.migrate().await?;
    Ok(Arc::new(store))
}

impl Store {
    /// Answers when the database does.
    #[tracing::instrument(skip(self))]
    pub async fn ping(&self) -> StoreResult<()> {
        on_db!(&self.db, |db| {
            sqlx::query("SELECT 1")
                .execute(&db.read)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// Applies the backend's pending migrations.
    pub async fn migrate(&self) -> StoreResult<()> {
        on_db!(&self.db, |db| db.migrate().await)
    }

    /// How many publish transactions are worth running at once: one on
    /// SQLite (one writer), several on PostgreSQL, whose commits overlap.
    pub fn publish_concurrency(&self) -> usize {
        self.db.pick(1, postgres::PUBLISH_CONCURRENCY)
    }

    /// How long attempt outcomes may gather before they are recorded. On
    /// SQLite (one writer) fewer, larger transactions leave the writer free
    /// more often for publishes; PostgreSQL records them as they come.
    pub fn record_gather(&self) -> Duration {
        self.db.pick(sqlite::RECORD_GATHER, Duration::ZERO)
    }

    /// Wakes `wake` when another process queues work (PostgreSQL
    /// LISTEN/NOTIFY), until `shutdown`. A no-op where there is no such channel.
    pub fn watch_for_work(&self, wake: Arc<Notify>, shutdown: CancellationToken) {
        if let Backend::Postgres(db) = &self.db {
            db.watch_for_work(wake, shutdown);
        }
    }
}
