//! Sessions of the web console: made by signing in with an administrator's
//! token, found by the hash of their secret, ended by signing out; each
//! sign-in and sign-out recorded in the audit trail.

use serde_json::json;

use super::backend::on_db;
use super::{Store, StoreResult, audit, rows};
use crate::domain::audit::{Action, Actor, AuditEntry, RecordType};
use crate::domain::time::format_epoch;
use crate::domain::{AccountId, Caller};

const INSERT_SESSION: &str = "INSERT INTO console_sessions (session_hash, account_id, token_id, \
     created_at, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id";

/// Sessions past their end, `$1` being now; done at each sign-in.
const DELETE_EXPIRED: &str = "DELETE FROM console_sessions WHERE expires_at <= $1";

/// The session of hash `$1` running at `$2`, with its token's caller: the
/// token must still be good (not revoked, not expired) at `$2`.
const FIND_SESSION: &str = "SELECT s.id AS session_id, s.expires_at AS session_expires_at, \
     t.id, t.person_id, t.account_id, t.role, p.roles FROM console_sessions s \
     JOIN api_tokens t ON t.id = s.token_id JOIN people p ON p.id = t.person_id \
     WHERE s.session_hash = $1 AND s.expires_at > $2 AND t.revoked_at IS NULL \
     AND (t.expires_at IS NULL OR t.expires_at > $2)";

const DELETE_SESSION: &str = "DELETE FROM console_sessions WHERE session_hash = $1 \
     RETURNING id, account_id";

#[derive(sqlx::FromRow)]
struct SessionRow {
    session_id: i64,
    session_expires_at: i64,
    #[sqlx(flatten)]
    caller: rows::CallerRow,
}

/// A console session running now: who acts through it, and until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleSession {
    pub id: i64,
    pub caller: Caller,
    pub expires_at: i64,
}

impl Store {
    /// Starts a session of `caller` (whose token signed in) under
    /// `session_hash` until `expires_at`, recorded as a sign-in by `actor`;
    /// sessions past their end go.
    #[tracing::instrument(skip(self, session_hash))]
    pub async fn start_console_session(
        &self,
        caller: &Caller,
        session_hash: &str,
        expires_at: i64,
        actor: &Actor,
        now: i64,
    ) -> StoreResult<i64> {
        let mut tx = self.db.begin_write().await?;
        on_db!(&mut tx, |tx| {
            sqlx::query(DELETE_EXPIRED)
                .bind(now)
                .execute(&mut **tx)
                .await
                .map(|done| done.rows_affected())
        })?;
        let (id,): (i64,) = on_db!(&mut tx, |tx| {
            sqlx::query_as(INSERT_SESSION)
                .bind(session_hash)
                .bind(caller.account.as_str())
                .bind(caller.token_id)
                .bind(now)
                .bind(expires_at)
                .fetch_one(&mut **tx)
                .await
        })?;
        let entry = AuditEntry::new(RecordType::ConsoleSession, id, Action::SignIn)
            .with_details(json!({ "expires_at": format_epoch(expires_at) }));
        audit::record(&mut tx.conn(), &caller.account, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The session of `session_hash`, if it runs at `now` and its token is
    /// still good.
    #[tracing::instrument(skip_all)]
    pub async fn console_session(
        &self,
        session_hash: &str,
        now: i64,
    ) -> StoreResult<Option<ConsoleSession>> {
        let row: Option<SessionRow> = on_db!(&self.db, |db| {
            sqlx::query_as(FIND_SESSION)
                .bind(session_hash)
                .bind(now)
                .fetch_optional(&db.read)
                .await
        })?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(ConsoleSession {
            id: row.session_id,
            caller: row.caller.into_caller()?,
            expires_at: row.session_expires_at,
        }))
    }

    /// Ends the session of `session_hash`, recorded as a sign-out by
    /// `actor`; `false` when there was none.
    #[tracing::instrument(skip(self, session_hash))]
    pub async fn end_console_session(
        &self,
        session_hash: &str,
        actor: &Actor,
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.db.begin_write().await?;
        let ended: Option<(i64, String)> = on_db!(&mut tx, |tx| {
            sqlx::query_as(DELETE_SESSION)
                .bind(session_hash)
                .fetch_optional(&mut **tx)
                .await
        })?;
        let Some((id, account)) = ended else {
            return Ok(false);
        };
        let entry = AuditEntry::new(RecordType::ConsoleSession, id, Action::SignOut);
        let account = AccountId::from_trusted(account);
        audit::record(&mut tx.conn(), &account, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(true)
    }
}
