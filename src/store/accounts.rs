//! Accounts, the people in them and their API tokens: creating tokens and
//! finding the caller behind one.

use super::backend::{Conn, on_db};
use super::{PersonSpec, Store, StoreResult, rows};
use crate::domain::{AccountId, Caller};

const INSERT_ACCOUNT: &str = "INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3) \
     ON CONFLICT (id) DO NOTHING";

const PERSON_BY_EMAIL: &str = "SELECT id, roles FROM people WHERE account_id = $1 \
     AND lower(email) = lower($2) ORDER BY id LIMIT 1";

const PERSON_BY_NAME: &str = "SELECT id, roles FROM people WHERE account_id = $1 AND name = $2 \
     ORDER BY id LIMIT 1";

const SET_ROLES: &str = "UPDATE people SET roles = $1 WHERE id = $2";

const INSERT_PERSON: &str = "INSERT INTO people (account_id, name, email, roles, created_at) \
     VALUES ($1, $2, $3, $4, $5) RETURNING id";

const INSERT_TOKEN: &str = "INSERT INTO api_tokens (account_id, person_id, token_hash, created_at) \
     VALUES ($1, $2, $3, $4) RETURNING id";

const AUTHENTICATE: &str = "SELECT t.id, t.person_id, t.account_id, p.roles FROM api_tokens t \
     JOIN people p ON p.id = t.person_id WHERE t.token_hash = $1 AND t.revoked_at IS NULL";

impl Store {
    /// Creates the account when missing; keeps an existing one as it is.
    #[tracing::instrument(skip(self))]
    pub async fn ensure_account(&self, id: &AccountId, name: &str, now: i64) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        on_db!(&mut tx, |tx| {
            sqlx::query(INSERT_ACCOUNT)
                .bind(id.as_str())
                .bind(name)
                .bind(now)
                .execute(&mut **tx)
                .await
                .map(|done| done.rows_affected())
        })?;
        tx.commit().await?;
        Ok(())
    }

    /// Finds the person by e-mail, else by name (creating one when neither
    /// matches), adds `role` to its roles and stores a token hash for it.
    #[tracing::instrument(skip(self, token_hash))]
    pub async fn create_token(
        &self,
        account: &AccountId,
        person: &PersonSpec,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<i64> {
        let mut tx = self.db.begin_write().await?;
        let person_id = person_with_role(&mut tx.conn(), account, person, now).await?;
        let (token_id,): (i64,) = on_db!(&mut tx, |tx| {
            sqlx::query_as(INSERT_TOKEN)
                .bind(account.as_str())
                .bind(person_id)
                .bind(token_hash)
                .bind(now)
                .fetch_one(&mut **tx)
                .await
        })
        .map_err(|e| rows::unique_violation(e, "token"))?;
        tx.commit().await?;
        Ok(token_id)
    }

    /// The caller behind a token hash; `None` for unknown or revoked tokens.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate(&self, token_hash: &str) -> StoreResult<Option<Caller>> {
        let row: Option<(i64, i64, String, String)> = on_db!(&self.db, |db| {
            sqlx::query_as(AUTHENTICATE)
                .bind(token_hash)
                .fetch_optional(&db.read)
                .await
        })?;
        Ok(row.map(|(token_id, person_id, account, roles)| {
            Caller::with_roles(
                token_id,
                person_id,
                AccountId::from_trusted(account),
                &roles,
            )
        }))
    }
}

/// The id of the person `person` names in the account, with its role
/// added: found by e-mail, else by name, else created.
async fn person_with_role(
    conn: &mut Conn<'_>,
    account: &AccountId,
    person: &PersonSpec,
    now: i64,
) -> StoreResult<i64> {
    let lookup = match (&person.email, &person.name) {
        (Some(email), _) => Some((PERSON_BY_EMAIL, email)),
        (None, Some(name)) => Some((PERSON_BY_NAME, name)),
        (None, None) => None,
    };
    let found: Option<(i64, String)> = match lookup {
        Some((select, key)) => on_db!(conn, |conn| {
            sqlx::query_as(select)
                .bind(account.as_str())
                .bind(key)
                .fetch_optional(&mut **conn)
                .await
        })?,
        None => None,
    };
    let person_id = match found {
        Some((id, roles)) => {
            let roles = rows::add_role(&roles, person.role);
            on_db!(conn, |conn| {
                sqlx::query(SET_ROLES)
                    .bind(&roles)
                    .bind(id)
                    .execute(&mut **conn)
                    .await
                    .map(|done| done.rows_affected())
            })?;
            id
        }
        None => {
            let name = person.name.as_deref().unwrap_or("API user");
            let roles = rows::add_role("", person.role);
            let (id,): (i64,) = on_db!(conn, |conn| {
                sqlx::query_as(INSERT_PERSON)
                    .bind(account.as_str())
                    .bind(name)
                    .bind(person.email.as_deref())
                    .bind(&roles)
                    .bind(now)
                    .fetch_one(&mut **conn)
                    .await
            })?;
            id
        }
    };
    Ok(person_id)
}
