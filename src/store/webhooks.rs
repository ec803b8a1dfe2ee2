//! Webhooks: reading, creating, changing and deleting them, and their
//! verification handshake (and test messages).

use super::backend::on_db;
use super::{Store, StoreMethods, StoreResult};
use crate::domain::list::{ListQuery, Page};
use crate::domain::{AccountId, NewWebhook, Verification, Webhook, WebhookChanges};

impl Store {
    pub async fn list_webhooks(
        &self,
        account: &AccountId,
        query: &ListQuery,
    ) -> StoreResult<Page<Webhook>> {
        on_db!(&self.db, |db| db.list_webhooks(account, query).await)
    }

    pub async fn get_webhook(&self, account: &AccountId, id: i64) -> StoreResult<Option<Webhook>> {
        on_db!(&self.db, |db| db.get_webhook(account, id).await)
    }

    pub async fn insert_webhook(
        &self,
        account: &AccountId,
        new: NewWebhook,
        verified: bool,
        now: i64,
    ) -> StoreResult<Webhook> {
        on_db!(&self.db, |db| db
            .insert_webhook(account, new, verified, now)
            .await)
    }

    /// Applies `changes` atomically; `None` when no such webhook is in the account.
    pub async fn update_webhook(
        &self,
        account: &AccountId,
        id: i64,
        changes: &WebhookChanges,
        now: i64,
    ) -> StoreResult<Option<Webhook>> {
        on_db!(&self.db, |db| db
            .update_webhook(account, id, changes, now)
            .await)
    }

    /// `false` when no such webhook is in the account. Its pending
    /// deliveries are given up.
    pub async fn delete_webhook(&self, account: &AccountId, id: i64) -> StoreResult<bool> {
        on_db!(&self.db, |db| db.delete_webhook(account, id).await)
    }

    /// Whether another webhook of the account with this URI is verified.
    pub async fn uri_verified(
        &self,
        account: &AccountId,
        uri: &str,
        except_id: i64,
    ) -> StoreResult<bool> {
        on_db!(&self.db, |db| db
            .uri_verified(account, uri, except_id)
            .await)
    }

    /// Marks the webhook verified, or voids its code and queues a
    /// `webhook.verify` message with a new one.
    pub async fn set_verification(
        &self,
        account: &AccountId,
        webhook_id: i64,
        verification: &Verification,
        now: i64,
        now_ms: i64,
    ) -> StoreResult<()> {
        on_db!(&self.db, |db| db
            .set_verification(account, webhook_id, verification, now, now_ms)
            .await)
    }

    /// Verifies the webhook when `code_hash` is its current, unexpired code.
    pub async fn confirm_verification(
        &self,
        webhook_id: i64,
        code_hash: &str,
        now: i64,
    ) -> StoreResult<bool> {
        on_db!(&self.db, |db| db
            .confirm_verification(webhook_id, code_hash, now)
            .await)
    }

    /// Queues a test message (object_id 12345); `false` when no such webhook.
    pub async fn enqueue_test(
        &self,
        account: &AccountId,
        webhook_id: i64,
        now: i64,
        now_ms: i64,
    ) -> StoreResult<bool> {
        on_db!(&self.db, |db| db
            .enqueue_test(account, webhook_id, now, now_ms)
            .await)
    }
}
