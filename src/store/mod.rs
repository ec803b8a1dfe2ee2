//! Persistence: the `Store` trait and its SQLite and PostgreSQL implementations.
//! The only module that holds SQL.

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::list::{ListQuery, Page};
use crate::domain::{AccountId, Caller, NewWebhook, Role, Webhook, WebhookChanges};

mod list_sql;
pub mod postgres;
mod rows;
pub mod sqlite;

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
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A person to find or create for a new token.
#[derive(Clone, Debug)]
pub struct PersonSpec {
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: Role,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Answers when the database does.
    async fn ping(&self) -> StoreResult<()>;

    async fn migrate(&self) -> StoreResult<()>;

    /// Creates the account when missing; keeps an existing one as it is.
    async fn ensure_account(&self, id: &AccountId, name: &str, now: i64) -> StoreResult<()>;

    /// Finds the person by e-mail, else by name (creating one when neither
    /// matches), adds `role` to its roles and stores a token hash for it.
    async fn create_token(
        &self,
        account: &AccountId,
        person: &PersonSpec,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<i64>;

    /// The caller behind a token hash; `None` for unknown or revoked tokens.
    async fn authenticate(&self, token_hash: &str) -> StoreResult<Option<Caller>>;

    async fn list_webhooks(
        &self,
        account: &AccountId,
        query: &ListQuery,
    ) -> StoreResult<Page<Webhook>>;

    async fn get_webhook(&self, account: &AccountId, id: i64) -> StoreResult<Option<Webhook>>;

    async fn insert_webhook(
        &self,
        account: &AccountId,
        new: NewWebhook,
        verified: bool,
        now: i64,
    ) -> StoreResult<Webhook>;

    /// Applies `changes` atomically; `None` when no such webhook is in the account.
    async fn update_webhook(
        &self,
        account: &AccountId,
        id: i64,
        changes: &WebhookChanges,
        now: i64,
    ) -> StoreResult<Option<Webhook>>;

    /// `false` when no such webhook is in the account.
    async fn delete_webhook(&self, account: &AccountId, id: i64) -> StoreResult<bool>;
}

/// Opens the database a URL names and applies pending migrations.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    let store: Arc<dyn Store> = if url.starts_with("sqlite:") {
        Arc::new(sqlite::SqliteStore::connect(url).await?)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Arc::new(postgres::PgStore::connect(url).await?)
    } else {
        return Err(StoreError::UnsupportedUrl(url.to_string()));
    };
    store.migrate().await?;
    Ok(store)
}

const WEBHOOK_COLUMNS: &str = "id, account_id, name, event, uri, description, disabled, \
     mail_exceptions_to, source, source_id, webhook_policy_id, attachments, last_error, \
     verified, created_at, updated_at";

/// The methods whose SQL is the same on both backends (`$n` placeholders
/// work on SQLite too). Each backend passes the methods that differ.
/// Expects `self.read` and `self.write` pools.
macro_rules! impl_store {
    ($store:ty, { $($specific:tt)* }) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            #[tracing::instrument(skip(self))]
            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.read).await?;
                Ok(())
            }

            #[tracing::instrument(skip(self))]
            async fn ensure_account(&self, id: &AccountId, name: &str, now: i64) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(id.as_str())
                .bind(name)
                .bind(now)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip(self, token_hash))]
            async fn create_token(
                &self,
                account: &AccountId,
                person: &PersonSpec,
                token_hash: &str,
                now: i64,
            ) -> StoreResult<i64> {
                let mut tx = self.begin_write().await?;
                let found: Option<(i64, String)> = if let Some(email) = &person.email {
                    sqlx::query_as(
                        "SELECT id, roles FROM people WHERE account_id = $1 AND lower(email) = lower($2) \
                         ORDER BY id LIMIT 1",
                    )
                    .bind(account.as_str())
                    .bind(email)
                    .fetch_optional(&mut *tx)
                    .await?
                } else if let Some(name) = &person.name {
                    sqlx::query_as(
                        "SELECT id, roles FROM people WHERE account_id = $1 AND name = $2 \
                         ORDER BY id LIMIT 1",
                    )
                    .bind(account.as_str())
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?
                } else {
                    None
                };
                let person_id = match found {
                    Some((id, roles)) => {
                        let roles = rows::add_role(&roles, person.role);
                        sqlx::query("UPDATE people SET roles = $1 WHERE id = $2")
                            .bind(roles)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                        id
                    }
                    None => {
                        let (id,): (i64,) = sqlx::query_as(
                            "INSERT INTO people (account_id, name, email, roles, created_at) \
                             VALUES ($1, $2, $3, $4, $5) RETURNING id",
                        )
                        .bind(account.as_str())
                        .bind(person.name.as_deref().unwrap_or("API user"))
                        .bind(person.email.as_deref())
                        .bind(rows::add_role("", person.role))
                        .bind(now)
                        .fetch_one(&mut *tx)
                        .await?;
                        id
                    }
                };
                let (token_id,): (i64,) = sqlx::query_as(
                    "INSERT INTO api_tokens (account_id, person_id, token_hash, created_at) \
                     VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(account.as_str())
                .bind(person_id)
                .bind(token_hash)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| rows::unique_violation(e, "token"))?;
                tx.commit().await?;
                Ok(token_id)
            }

            #[tracing::instrument(skip_all)]
            async fn authenticate(&self, token_hash: &str) -> StoreResult<Option<Caller>> {
                let row: Option<(i64, i64, String, String)> = sqlx::query_as(
                    "SELECT t.id, t.person_id, t.account_id, p.roles FROM api_tokens t \
                     JOIN people p ON p.id = t.person_id \
                     WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
                )
                .bind(token_hash)
                .fetch_optional(&self.read)
                .await?;
                Ok(row.map(|(token_id, person_id, account, roles)| {
                    Caller::with_roles(token_id, person_id, AccountId::from_trusted(account), &roles)
                }))
            }

            #[tracing::instrument(skip(self))]
            async fn list_webhooks(&self, account: &AccountId, query: &ListQuery) -> StoreResult<Page<Webhook>> {
                let mut count = list_sql::count("webhooks", account, query);
                let (total,): (i64,) = count.build_query_as().fetch_one(&self.read).await?;
                let mut select = list_sql::select("webhooks", WEBHOOK_COLUMNS, account, query);
                let rows: Vec<rows::WebhookRow> = select.build_query_as().fetch_all(&self.read).await?;
                let items = rows.into_iter().map(rows::WebhookRow::into_domain).collect::<Result<_, _>>()?;
                Ok(Page { items, total })
            }

            #[tracing::instrument(skip(self))]
            async fn get_webhook(&self, account: &AccountId, id: i64) -> StoreResult<Option<Webhook>> {
                let sql = const_format::concatcp!(
                    "SELECT ", WEBHOOK_COLUMNS, " FROM webhooks WHERE account_id = $1 AND id = $2"
                );
                let row: Option<rows::WebhookRow> = sqlx::query_as(sql)
                    .bind(account.as_str())
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?;
                row.map(rows::WebhookRow::into_domain).transpose()
            }

            #[tracing::instrument(skip(self, new))]
            async fn insert_webhook(
                &self,
                account: &AccountId,
                new: NewWebhook,
                verified: bool,
                now: i64,
            ) -> StoreResult<Webhook> {
                let hook = Webhook::from_new(0, account.clone(), new, verified, now);
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO webhooks (account_id, name, event, uri, description, disabled, \
                     mail_exceptions_to, source, source_id, webhook_policy_id, attachments, last_error, \
                     verified, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
                )
                .bind(account.as_str())
                .bind(&hook.name)
                .bind(hook.event.as_str())
                .bind(&hook.uri)
                .bind(&hook.description)
                .bind(hook.disabled)
                .bind(&hook.mail_exceptions_to)
                .bind(&hook.source)
                .bind(&hook.source_id)
                .bind(hook.webhook_policy_id)
                .bind(rows::attachments_json(&hook.attachments))
                .bind(&hook.last_error)
                .bind(hook.verified)
                .bind(hook.created_at)
                .bind(hook.updated_at)
                .fetch_one(&self.write)
                .await?;
                Ok(Webhook { id, ..hook })
            }

            #[tracing::instrument(skip(self, changes))]
            async fn update_webhook(
                &self,
                account: &AccountId,
                id: i64,
                changes: &WebhookChanges,
                now: i64,
            ) -> StoreResult<Option<Webhook>> {
                let mut tx = self.begin_write().await?;
                let sql = const_format::concatcp!(
                    "SELECT ", WEBHOOK_COLUMNS, " FROM webhooks WHERE account_id = $1 AND id = $2",
                    <$store>::LOCK_FOR_UPDATE
                );
                let row: Option<rows::WebhookRow> = sqlx::query_as(sql)
                    .bind(account.as_str())
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                let mut hook = row.into_domain()?;
                if hook.apply(changes, now) {
                    sqlx::query(
                        "UPDATE webhooks SET name = $1, event = $2, uri = $3, description = $4, \
                         disabled = $5, mail_exceptions_to = $6, source = $7, source_id = $8, \
                         webhook_policy_id = $9, attachments = $10, updated_at = $11 \
                         WHERE id = $12",
                    )
                    .bind(&hook.name)
                    .bind(hook.event.as_str())
                    .bind(&hook.uri)
                    .bind(&hook.description)
                    .bind(hook.disabled)
                    .bind(&hook.mail_exceptions_to)
                    .bind(&hook.source)
                    .bind(&hook.source_id)
                    .bind(hook.webhook_policy_id)
                    .bind(rows::attachments_json(&hook.attachments))
                    .bind(hook.updated_at)
                    .bind(hook.id)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(Some(hook))
            }

            #[tracing::instrument(skip(self))]
            async fn delete_webhook(&self, account: &AccountId, id: i64) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM webhooks WHERE account_id = $1 AND id = $2")
                    .bind(account.as_str())
                    .bind(id)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            $($specific)*
        }
    };
}
pub(crate) use impl_store;
