//! The PostgreSQL store.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::{PersonSpec, StoreResult, WEBHOOK_COLUMNS, impl_store, list_sql, rows};
use crate::domain::list::{ListQuery, Page};
use crate::domain::{AccountId, Caller, NewWebhook, Webhook, WebhookChanges};

pub struct PgStore {
    write: PgPool,
    /// The same pool: PostgreSQL runs readers and writers side by side.
    read: PgPool,
}

impl PgStore {
    const LOCK_FOR_UPDATE: &'static str = " FOR UPDATE";

    pub async fn connect(url: &str) -> StoreResult<PgStore> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        Ok(PgStore {
            write: pool.clone(),
            read: pool,
        })
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.write.begin().await
    }
}

impl_store!(PgStore, {
    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.write)
            .await?;
        Ok(())
    }
});
