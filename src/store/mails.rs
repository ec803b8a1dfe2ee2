//! Failure mails: their recipients, and the queue their worker sends from.

use super::backend::on_db;
use super::{Store, StoreMethods, StoreResult};
use crate::domain::AccountId;
use crate::domain::mail::{Mail, NewMail};

impl Store {
    /// `mail_exceptions_to` of the webhook, else the e-mails of the
    /// account's administrators.
    pub async fn mail_recipients(
        &self,
        account: &AccountId,
        webhook_id: i64,
    ) -> StoreResult<Vec<String>> {
        on_db!(&self.db, |db| db.mail_recipients(account, webhook_id).await)
    }

    pub async fn enqueue_mail(&self, mail: &NewMail, now: i64, now_ms: i64) -> StoreResult<()> {
        on_db!(&self.db, |db| db.enqueue_mail(mail, now, now_ms).await)
    }

    /// Leases up to `limit` due mails until `lease_until_ms`.
    pub async fn claim_mails(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<Mail>> {
        on_db!(&self.db, |db| db
            .claim_mails(now_ms, lease_until_ms, limit)
            .await)
    }

    /// Marks a mail sent (`retry_at_ms` None, no error), failed for good
    /// (None, an error) or due again at `retry_at_ms`.
    pub async fn finish_mail(
        &self,
        id: i64,
        retry_at_ms: Option<i64>,
        error: Option<&str>,
        now_ms: i64,
    ) -> StoreResult<()> {
        on_db!(&self.db, |db| db
            .finish_mail(id, retry_at_ms, error, now_ms)
            .await)
    }
}
