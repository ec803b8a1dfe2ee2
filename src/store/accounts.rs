//! Accounts, the people in them and their API tokens: creating tokens and
//! finding the caller behind one.

use serde_json::json;

use super::backend::{Conn, on_db};
use super::{NewToken, PersonSpec, Store, StoreResult, audit, rows, tokens};
use crate::domain::audit::{Action, Actor, AuditEntry, Change, RecordType, created, token_fields};
use crate::domain::token::TokenAuth;
use crate::domain::{AccountId, Role};

const INSERT_ACCOUNT: &str = "INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3) \
     ON CONFLICT (id) DO NOTHING";

const PERSON_BY_EMAIL: &str = "SELECT id, roles FROM people WHERE account_id = $1 \
     AND lower(email) = lower($2) ORDER BY id LIMIT 1";

const PERSON_BY_NAME: &str = "SELECT id, roles FROM people WHERE account_id = $1 AND name = $2 \
     ORDER BY id LIMIT 1";

const SET_ROLES: &str = "UPDATE people SET roles = $1 WHERE id = $2";

const INSERT_PERSON: &str = "INSERT INTO people (account_id, name, email, roles, created_at) \
     VALUES ($1, $2, $3, $4, $5) RETURNING id";

pub(super) const INSERT_TOKEN: &str = "INSERT INTO api_tokens (account_id, person_id, token_hash, role, \
     description, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";

/// The token of hash `$1`, unless revoked or expired at `$2`, with its
/// person's roles.
const AUTHENTICATE: &str = "SELECT t.id, t.person_id, t.account_id, t.role, p.roles, \
     t.expires_at, t.last_used_at FROM api_tokens t JOIN people p ON p.id = t.person_id \
     WHERE t.token_hash = $1 AND t.revoked_at IS NULL \
     AND (t.expires_at IS NULL OR t.expires_at > $2)";

/// A token found by its hash, with its person's roles.
#[derive(sqlx::FromRow)]
struct AuthRow {
    #[sqlx(flatten)]
    caller: rows::CallerRow,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
}

/// The person a new token is for, and how finding it changed it.
struct PersonFound {
    id: i64,
    /// The person's roles before and after, when the token's role was new
    /// to it.
    roles_changed: Option<(String, String)>,
    /// Made for this token.
    created: bool,
}

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
    /// matches), adds the token's role to its roles and stores the token's
    /// hash, with its role, description and expiry; records it all in the
    /// audit trail. Returns the token's id.
    #[tracing::instrument(skip(self, new, token_hash))]
    pub async fn create_token(
        &self,
        account: &AccountId,
        new: &NewToken,
        token_hash: &str,
        actor: &Actor,
        now: i64,
    ) -> StoreResult<i64> {
        let mut tx = self.db.begin_write().await?;
        let person = person_with_role(&mut tx.conn(), account, &new.person, now).await?;
        let role = new.person.role;
        let (token_id,): (i64,) = on_db!(&mut tx, |tx| {
            sqlx::query_as(INSERT_TOKEN)
                .bind(account.as_str())
                .bind(person.id)
                .bind(token_hash)
                .bind(role.as_str())
                .bind(&new.description)
                .bind(new.expires_at)
                .bind(now)
                .fetch_one(&mut **tx)
                .await
        })
        .map_err(|e| rows::unique_violation(e, "token"))?;
        record_person(&mut tx.conn(), account, &new.person, &person, actor, now).await?;
        let fields = token_fields(person.id, role, new.description.as_deref(), new.expires_at);
        let entry = AuditEntry::new(RecordType::ApiToken, token_id, Action::Create)
            .with_changes(created(fields));
        audit::record(&mut tx.conn(), account, actor, &entry, now).await?;
        if person.roles_changed.is_some() {
            tokens::bump_generation(&mut tx.conn()).await?;
        }
        tx.commit().await?;
        Ok(token_id)
    }

    /// The caller behind a token hash, with its expiry and last use;
    /// `None` for unknown, revoked or (at `now`) expired tokens.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate(&self, token_hash: &str, now: i64) -> StoreResult<Option<TokenAuth>> {
        let row: Option<AuthRow> = on_db!(&self.db, |db| {
            sqlx::query_as(AUTHENTICATE)
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&db.read)
                .await
        })?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(TokenAuth {
            caller: row.caller.into_caller()?,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
        }))
    }
}

/// Records a person made for a new token, or the role a token added to one.
async fn record_person(
    conn: &mut Conn<'_>,
    account: &AccountId,
    spec: &PersonSpec,
    person: &PersonFound,
    actor: &Actor,
    now: i64,
) -> StoreResult<()> {
    let entry = if person.created {
        let roles = rows::add_role("", spec.role);
        let fields = vec![
            (
                "name",
                json!(spec.name.as_deref().unwrap_or(DEFAULT_PERSON_NAME)),
            ),
            ("email", json!(spec.email)),
            ("roles", json!(roles)),
        ];
        AuditEntry::new(RecordType::Person, person.id, Action::Create).with_changes(created(fields))
    } else if let Some((old, new)) = &person.roles_changed {
        let change = Change {
            field: "roles",
            old: json!(old),
            new: json!(new),
        };
        AuditEntry::new(RecordType::Person, person.id, Action::Update).with_changes(vec![change])
    } else {
        return Ok(());
    };
    audit::record(conn, account, actor, &entry, now).await
}

/// The name of a person made for a token given none.
const DEFAULT_PERSON_NAME: &str = "API user";

/// The person `person` names in the account, with its role added: found
/// by e-mail, else by name, else created.
async fn person_with_role(
    conn: &mut Conn<'_>,
    account: &AccountId,
    person: &PersonSpec,
    now: i64,
) -> StoreResult<PersonFound> {
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
    match found {
        Some((id, roles)) => add_role(conn, id, roles, person.role).await,
        None => insert_person(conn, account, person, now).await,
    }
}

/// Adds `role` to the roles (`old`) of person `id`, when they lack it.
async fn add_role(
    conn: &mut Conn<'_>,
    id: i64,
    old: String,
    role: Role,
) -> StoreResult<PersonFound> {
    let roles = rows::add_role(&old, role);
    if roles != old {
        on_db!(conn, |conn| {
            sqlx::query(SET_ROLES)
                .bind(&roles)
                .bind(id)
                .execute(&mut **conn)
                .await
                .map(|done| done.rows_affected())
        })?;
    }
    Ok(PersonFound {
        id,
        roles_changed: (roles != old).then_some((old, roles)),
        created: false,
    })
}

/// A new person of the account, with the token's role.
async fn insert_person(
    conn: &mut Conn<'_>,
    account: &AccountId,
    person: &PersonSpec,
    now: i64,
) -> StoreResult<PersonFound> {
    let name = person.name.as_deref().unwrap_or(DEFAULT_PERSON_NAME);
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
    Ok(PersonFound {
        id,
        roles_changed: None,
        created: true,
    })
}
