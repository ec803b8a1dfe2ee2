//! The embedded SQLite store: WAL, one writer connection taking `BEGIN
//! IMMEDIATE` transactions, and a pool of readers.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use super::{PersonSpec, StoreResult, WEBHOOK_COLUMNS, impl_store, list_sql, rows};
use crate::domain::list::{ListQuery, Page};
use crate::domain::{AccountId, Caller, NewWebhook, Webhook, WebhookChanges};

pub struct SqliteStore {
    /// One connection: SQLite allows one writer at a time, and queueing in
    /// the pool is cheaper and fairer than `SQLITE_BUSY` retries.
    write: SqlitePool,
    read: SqlitePool,
}

impl SqliteStore {
    const LOCK_FOR_UPDATE: &'static str = "";

    pub async fn connect(url: &str) -> StoreResult<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit survives power loss, not just a crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(options.clone())
            .await?;
        // An in-memory database exists only on its one connection.
        let read = if in_memory {
            write.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options.read_only(true))
                .await?
        };
        Ok(SqliteStore { write, read })
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.write.begin_with("BEGIN IMMEDIATE").await
    }
}

impl_store!(SqliteStore, {
    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.write)
            .await?;
        Ok(())
    }
});
