//! Failure mails: their recipients, and the queue their worker sends from.

use super::backend::on_db;
use super::{Store, StoreResult, postgres, sqlite};
use crate::domain::AccountId;
use crate::domain::mail::{Mail, NewMail};

const MAIL_EXCEPTIONS_TO: &str =
    "SELECT mail_exceptions_to FROM webhooks WHERE account_id = $1 AND id = $2";

const ADMINISTRATORS_EMAILS: &str = "SELECT email FROM people WHERE account_id = $1 \
     AND email IS NOT NULL AND (',' || roles || ',') LIKE '%,administrator,%' ORDER BY id";

const INSERT_MAIL: &str = "INSERT INTO mails (account_id, webhook_id, recipients, subject, body, \
     status, attempts, next_attempt_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7)";

const FINISH_MAIL: &str = "UPDATE mails \
     SET status = $1, attempts = attempts + 1, next_attempt_at = $2, last_error = $3 WHERE id = $4";

impl Store {
    /// `mail_exceptions_to` of the webhook, else the e-mails of the
    /// account's administrators.
    pub async fn mail_recipients(
        &self,
        account: &AccountId,
        webhook_id: i64,
    ) -> StoreResult<Vec<String>> {
        let exceptions: Option<(Option<String>,)> = on_db!(&self.db, |db| {
            sqlx::query_as(MAIL_EXCEPTIONS_TO)
                .bind(account.as_str())
                .bind(webhook_id)
                .fetch_optional(&db.read)
                .await
        })?;
        if let Some((Some(list),)) = exceptions {
            return Ok(list.split(',').map(str::to_string).collect());
        }
        let admins: Vec<(String,)> = on_db!(&self.db, |db| {
            sqlx::query_as(ADMINISTRATORS_EMAILS)
                .bind(account.as_str())
                .fetch_all(&db.read)
                .await
        })?;
        Ok(admins.into_iter().map(|(e,)| e).collect())
    }

    pub async fn enqueue_mail(&self, mail: &NewMail, now: i64, now_ms: i64) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        let recipients = mail.recipients.join(",");
        on_db!(&mut tx, |tx| {
            sqlx::query(INSERT_MAIL)
                .bind(&mail.account)
                .bind(mail.webhook_id)
                .bind(&recipients)
                .bind(&mail.subject)
                .bind(&mail.body)
                .bind(now_ms)
                .bind(now)
                .execute(&mut **tx)
                .await
                .map(|done| done.rows_affected())
        })?;
        tx.commit().await?;
        Ok(())
    }

    /// Leases up to `limit` due mails until `lease_until_ms`.
    pub async fn claim_mails(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<Mail>> {
        let mut tx = self.db.begin_write().await?;
        let claim = tx.pick(sqlite::CLAIM_MAILS, postgres::CLAIM_MAILS);
        let rows: Vec<(i64, String, String, String, i64)> = on_db!(&mut tx, |tx| {
            sqlx::query_as(claim)
                .bind(lease_until_ms)
                .bind(now_ms)
                .bind(limit)
                .fetch_all(&mut **tx)
                .await
        })?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|(id, recipients, subject, body, attempts)| Mail {
                id,
                recipients: recipients
                    .split(',')
                    .filter(|r| !r.is_empty())
                    .map(str::to_string)
                    .collect(),
                subject,
                body,
                attempts,
            })
            .collect())
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
        let mut tx = self.db.begin_write().await?;
        let status = match (retry_at_ms, error) {
            (Some(_), _) => "pending",
            (None, None) => "sent",
            (None, Some(_)) => "failed",
        };
        on_db!(&mut tx, |tx| {
            sqlx::query(FINISH_MAIL)
                .bind(status)
                .bind(retry_at_ms.unwrap_or(now_ms))
                .bind(error)
                .bind(id)
                .execute(&mut **tx)
                .await
                .map(|done| done.rows_affected())
        })?;
        tx.commit().await?;
        Ok(())
    }
}
