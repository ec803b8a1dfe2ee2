//! API tokens' lifecycle: listing, revoking and rotating them, their last
//! use, and the authorization generation that tells every process when
//! what it cached of tokens and roles is stale.

use serde_json::json;

use super::backend::{Conn, on_db};
use super::{
    Rotation, Store, StoreError, StoreResult, Successor, accounts, audit, list_sql, postgres,
};
use crate::domain::audit::{Action, Actor, AuditEntry, Change, RecordType, created, token_fields};
use crate::domain::list::{ListQuery, Page};
use crate::domain::time::format_epoch;
use crate::domain::token::{ApiToken, LAST_USED_PRECISION_SECS, successor_expiry};
use crate::domain::{AccountId, Role};

const COUNT_TOKENS: &str = "SELECT COUNT(*) FROM (SELECT id, account_id, person_id, role, \
     description, created_at, expires_at, last_used_at FROM api_tokens \
     WHERE revoked_at IS NULL) AS api_tokens";

/// The head of a list of tokens not revoked, with their persons' names;
/// `list_sql` adds the filters.
const LIST_TOKENS: &str = "SELECT id, account_id, person_id, person_name, role, description, \
     created_at, expires_at, last_used_at FROM (SELECT t.id, t.account_id, t.person_id, \
     p.name AS person_name, t.role, t.description, t.created_at, t.expires_at, t.last_used_at \
     FROM api_tokens t JOIN people p ON p.id = t.person_id WHERE t.revoked_at IS NULL) \
     AS api_tokens";

const ACCOUNT_TOKENS: &str = "SELECT t.id, t.account_id, t.person_id, p.name AS person_name, \
     t.role, t.description, t.created_at, t.expires_at, t.last_used_at FROM api_tokens t \
     JOIN people p ON p.id = t.person_id WHERE t.account_id = $1 AND t.revoked_at IS NULL \
     ORDER BY t.id";

const GET_TOKEN: &str = "SELECT t.id, t.account_id, t.person_id, p.name AS person_name, t.role, \
     t.description, t.created_at, t.expires_at, t.last_used_at FROM api_tokens t \
     JOIN people p ON p.id = t.person_id WHERE t.account_id = $1 AND t.id = $2 \
     AND t.revoked_at IS NULL";

/// Token `$1`, not revoked, in any account.
pub(super) const TOKEN_BY_ID: &str = "SELECT t.id, t.account_id, t.person_id, \
     p.name AS person_name, t.role, t.description, t.created_at, t.expires_at, t.last_used_at \
     FROM api_tokens t JOIN people p ON p.id = t.person_id WHERE t.id = $1 \
     AND t.revoked_at IS NULL";

const REVOKE_TOKEN: &str = "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 \
     AND revoked_at IS NULL";

const SET_EXPIRY: &str = "UPDATE api_tokens SET expires_at = $1 WHERE id = $2 \
     AND revoked_at IS NULL";

/// Notes a use of token `$2` at `$1`, unless one at `$3` or later is noted.
const TOUCH_TOKEN: &str = "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 \
     AND (last_used_at IS NULL OR last_used_at <= $3)";

const GENERATION: &str = "SELECT generation FROM auth_generation";

const BUMP_GENERATION: &str = "UPDATE auth_generation SET generation = generation + 1 \
     RETURNING generation";

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    account_id: String,
    person_id: i64,
    person_name: String,
    role: String,
    description: Option<String>,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
}

impl TokenRow {
    fn into_domain(self) -> StoreResult<ApiToken> {
        let role: Role = self
            .role
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("token {} role: {e}", self.id)))?;
        Ok(ApiToken {
            id: self.id,
            account: AccountId::from_trusted(self.account_id),
            person_id: self.person_id,
            person_name: self.person_name,
            role,
            description: self.description,
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
        })
    }
}

impl Store {
    /// A page of the account's tokens that are not revoked.
    #[tracing::instrument(skip(self))]
    pub async fn list_tokens(
        &self,
        account: &AccountId,
        query: &ListQuery,
    ) -> StoreResult<Page<ApiToken>> {
        list_sql::fetch_page(
            &self.db,
            COUNT_TOKENS,
            LIST_TOKENS,
            account,
            query,
            TokenRow::into_domain,
        )
        .await
    }

    /// Every token of the account that is not revoked, oldest first.
    pub async fn account_tokens(&self, account: &AccountId) -> StoreResult<Vec<ApiToken>> {
        let rows: Vec<TokenRow> = on_db!(&self.db, |db| {
            sqlx::query_as(ACCOUNT_TOKENS)
                .bind(account.as_str())
                .fetch_all(&db.read)
                .await
        })?;
        rows.into_iter().map(TokenRow::into_domain).collect()
    }

    /// A token of the account that is not revoked.
    pub async fn get_token(&self, account: &AccountId, id: i64) -> StoreResult<Option<ApiToken>> {
        let row: Option<TokenRow> = on_db!(&self.db, |db| {
            sqlx::query_as(GET_TOKEN)
                .bind(account.as_str())
                .bind(id)
                .fetch_optional(&db.read)
                .await
        })?;
        row.map(TokenRow::into_domain).transpose()
    }

    /// Revokes token `id` (of `account`, when given) at `now`, and records
    /// it. Returns the authorization generation it moved to; `None` when
    /// there is no such token, or it was revoked already.
    #[tracing::instrument(skip(self))]
    pub async fn revoke_token(
        &self,
        account: Option<&AccountId>,
        id: i64,
        actor: &Actor,
        now: i64,
    ) -> StoreResult<Option<i64>> {
        let mut tx = self.db.begin_write().await?;
        let token = token_to_change(&mut tx.conn(), id).await?;
        let Some(token) = token.filter(|t| account.is_none_or(|a| *a == t.account)) else {
            return Ok(None);
        };
        let revoked = on_db!(&mut tx, |tx| {
            sqlx::query(REVOKE_TOKEN)
                .bind(now)
                .bind(id)
                .execute(&mut **tx)
                .await
                .map(|done| done.rows_affected())
        })?;
        if revoked == 0 {
            return Ok(None);
        }
        let change = Change {
            field: "revoked_at",
            old: json!(null),
            new: json!(format_epoch(now)),
        };
        let entry =
            AuditEntry::new(RecordType::ApiToken, id, Action::Revoke).with_changes(vec![change]);
        audit::record(&mut tx.conn(), &token.account, actor, &entry, now).await?;
        let generation = bump_generation(&mut tx.conn()).await?;
        tx.commit().await?;
        Ok(Some(generation))
    }

    /// Replaces token `id`, active at `now`, with a new one of hash
    /// `new_hash`: same person, role and description; the old one ends as
    /// `successor` says. Both are recorded. `None` when no active token has
    /// that id.
    #[tracing::instrument(skip(self, new_hash))]
    pub async fn rotate_token(
        &self,
        id: i64,
        successor: &Successor,
        new_hash: &str,
        actor: &Actor,
        now: i64,
    ) -> StoreResult<Option<Rotation>> {
        let mut tx = self.db.begin_write().await?;
        let token = token_to_change(&mut tx.conn(), id).await?;
        let Some(old) = token.filter(|t| !t.expired(now)) else {
            return Ok(None);
        };
        let overlap_secs = successor.overlap_secs;
        let expires_at = successor.expires_at.or_else(|| successor_expiry(&old, now));
        let new_id = insert_successor(&mut tx.conn(), &old, new_hash, expires_at, now).await?;
        let change = retire(&mut tx.conn(), &old, overlap_secs, now).await?;
        let fields = token_fields(
            old.person_id,
            old.role,
            old.description.as_deref(),
            expires_at,
        );
        let made = AuditEntry::new(RecordType::ApiToken, new_id, Action::Create)
            .with_changes(created(fields))
            .with_details(json!({ "rotated_from": id }));
        let rotated = AuditEntry::new(RecordType::ApiToken, id, Action::Rotate)
            .with_changes(vec![change])
            .with_details(json!({ "successor_id": new_id, "overlap_secs": overlap_secs }));
        for entry in [&made, &rotated] {
            audit::record(&mut tx.conn(), &old.account, actor, entry, now).await?;
        }
        let generation = bump_generation(&mut tx.conn()).await?;
        tx.commit().await?;
        Ok(Some(Rotation {
            token_id: new_id,
            generation,
        }))
    }

    /// Notes that token `id` was used at `now`, unless a use within the
    /// last minute is noted already (by this or another process): at most
    /// one write a minute a token. Its commit does not wait for the disk:
    /// a lost one costs a minute of `last_used_at`.
    pub async fn touch_token(&self, id: i64, now: i64) -> StoreResult<()> {
        let mut tx = self.db.begin_relaxed().await?;
        on_db!(&mut tx, |tx| {
            sqlx::query(TOUCH_TOKEN)
                .bind(now)
                .bind(id)
                .bind(now - LAST_USED_PRECISION_SECS)
                .execute(&mut **tx)
                .await
                .map(|done| done.rows_affected())
        })?;
        tx.commit().await?;
        Ok(())
    }

    /// The authorization generation: it moves on with every revocation,
    /// rotation and change of a person's roles.
    pub async fn auth_generation(&self) -> StoreResult<i64> {
        let (generation,): (i64,) = on_db!(&self.db, |db| {
            sqlx::query_as(GENERATION).fetch_one(&db.read).await
        })?;
        Ok(generation)
    }
}

/// Token `id`, not revoked, read to be changed (locked on PostgreSQL).
async fn token_to_change(conn: &mut Conn<'_>, id: i64) -> StoreResult<Option<ApiToken>> {
    let select = conn.pick(TOKEN_BY_ID, postgres::LOCK_TOKEN);
    let row: Option<TokenRow> = on_db!(conn, |conn| {
        sqlx::query_as(select)
            .bind(id)
            .fetch_optional(&mut **conn)
            .await
    })?;
    row.map(TokenRow::into_domain).transpose()
}

/// A new token of hash `hash` in the place of `old`: its account, person,
/// role and description, expiring at `expires_at`. Returns its id.
async fn insert_successor(
    conn: &mut Conn<'_>,
    old: &ApiToken,
    hash: &str,
    expires_at: Option<i64>,
    now: i64,
) -> StoreResult<i64> {
    let (id,): (i64,) = on_db!(conn, |conn| {
        sqlx::query_as(accounts::INSERT_TOKEN)
            .bind(old.account.as_str())
            .bind(old.person_id)
            .bind(hash)
            .bind(old.role.as_str())
            .bind(&old.description)
            .bind(expires_at)
            .bind(now)
            .fetch_one(&mut **conn)
            .await
    })
    .map_err(|e| super::rows::unique_violation(e, "token"))?;
    Ok(id)
}

/// Ends a rotated token: revoked now without an overlap, else expiring at
/// the overlap's end (or its own expiry, if sooner). Returns the change.
async fn retire(
    conn: &mut Conn<'_>,
    old: &ApiToken,
    overlap_secs: i64,
    now: i64,
) -> StoreResult<Change> {
    if overlap_secs <= 0 {
        on_db!(conn, |conn| {
            sqlx::query(REVOKE_TOKEN)
                .bind(now)
                .bind(old.id)
                .execute(&mut **conn)
                .await
                .map(|done| done.rows_affected())
        })?;
        return Ok(Change {
            field: "revoked_at",
            old: json!(null),
            new: json!(format_epoch(now)),
        });
    }
    let until = old
        .expires_at
        .map_or(now + overlap_secs, |at| at.min(now + overlap_secs));
    on_db!(conn, |conn| {
        sqlx::query(SET_EXPIRY)
            .bind(until)
            .bind(old.id)
            .execute(&mut **conn)
            .await
            .map(|done| done.rows_affected())
    })?;
    Ok(Change {
        field: "expires_at",
        old: json!(old.expires_at.map(format_epoch)),
        new: json!(format_epoch(until)),
    })
}

/// Moves the authorization generation on, in the transaction of the change
/// that calls for it; returns the new generation.
pub(super) async fn bump_generation(conn: &mut Conn<'_>) -> StoreResult<i64> {
    let (generation,): (i64,) = on_db!(conn, |conn| {
        sqlx::query_as(BUMP_GENERATION).fetch_one(&mut **conn).await
    })?;
    Ok(generation)
}
