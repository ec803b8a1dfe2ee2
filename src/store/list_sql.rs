//! Builds the SQL of a collection query (§2) for either backend: column
//! names come only from the collection's whitelist, values are always bound.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Database, Encode, FromRow, QueryBuilder, Type};

use super::StoreResult;
use super::backend::{Db, on_db};
use crate::domain::AccountId;
use crate::domain::list::{Condition, FieldKind, ListQuery, Page, Value};

/// A page of a collection and how many match in all: rows `R` made into
/// `T`s. `count_head` and `select_head` begin the statements, as [`count`]
/// and [`select`] take them.
pub async fn fetch_page<R, T>(
    db: &Db,
    count_head: &str,
    select_head: &str,
    account: &AccountId,
    query: &ListQuery,
    into_domain: fn(R) -> StoreResult<T>,
) -> StoreResult<Page<T>>
where
    R: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>,
{
    let (total, rows): (i64, Vec<R>) = on_db!(db, |db| {
        let (total,): (i64,) = count(count_head, account, query)
            .build_query_as()
            .fetch_one(&db.read)
            .await?;
        let rows = select(select_head, account, query)
            .build_query_as()
            .fetch_all(&db.read)
            .await?;
        (total, rows)
    });
    let items = rows
        .into_iter()
        .map(into_domain)
        .collect::<Result<_, _>>()?;
    Ok(Page { items, total })
}

/// `count` (`SELECT COUNT(*) FROM table`) `WHERE <filters>`.
pub fn count<'a, DB>(count: &str, account: &AccountId, query: &ListQuery) -> QueryBuilder<'a, DB>
where
    DB: Database,
    DB::Arguments<'a>: Default,
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
    bool: Encode<'a, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new(count);
    push_where(&mut qb, account, query);
    qb
}

/// `select` (`SELECT columns FROM table`) `WHERE <filters> ORDER BY <sort>
/// LIMIT .. OFFSET ..`.
pub fn select<'a, DB>(select: &str, account: &AccountId, query: &ListQuery) -> QueryBuilder<'a, DB>
where
    DB: Database,
    DB::Arguments<'a>: Default,
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
    bool: Encode<'a, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new(select);
    push_where(&mut qb, account, query);
    qb.push(" ORDER BY ");
    for key in &query.sort {
        qb.push(key.column);
        qb.push(if key.descending { " DESC, " } else { " ASC, " });
    }
    // A stable order for equal keys: the newest-first collections sort ids
    // the same way as their first key.
    let id_descending = query.sort.first().is_some_and(|k| k.descending);
    qb.push(if id_descending { "id DESC" } else { "id ASC" });
    qb.push(" LIMIT ");
    qb.push_bind(i64::from(query.per_page));
    qb.push(" OFFSET ");
    qb.push_bind(query.offset());
    qb
}

fn push_where<'a, DB>(qb: &mut QueryBuilder<'a, DB>, account: &AccountId, query: &ListQuery)
where
    DB: Database,
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
    bool: Encode<'a, DB> + Type<DB>,
{
    qb.push(" WHERE account_id = ");
    qb.push_bind(account.as_str().to_string());
    for filter in &query.filters {
        let field = filter.field;
        let text = matches!(field.kind, FieldKind::Text | FieldKind::Enum);
        let column = if field.case_insensitive {
            format!("lower({})", field.column)
        } else {
            field.column.to_string()
        };
        for condition in &filter.conditions {
            qb.push(" AND ");
            match condition {
                Condition::Eq(value) => {
                    qb.push(&column).push(" = ");
                    push_value(qb, value, field.case_insensitive);
                }
                Condition::Ne(value) => {
                    qb.push("(")
                        .push(field.column)
                        .push(" IS NULL OR ")
                        .push(&column)
                        .push(" <> ");
                    push_value(qb, value, field.case_insensitive);
                    qb.push(")");
                }
                Condition::In(values) => {
                    qb.push(&column).push(" IN (");
                    for (i, value) in values.iter().enumerate() {
                        if i > 0 {
                            qb.push(", ");
                        }
                        push_value(qb, value, field.case_insensitive);
                    }
                    qb.push(")");
                }
                Condition::Empty if text => {
                    qb.push("(")
                        .push(field.column)
                        .push(" IS NULL OR ")
                        .push(field.column)
                        .push(" = '')");
                }
                Condition::Empty => {
                    qb.push(field.column).push(" IS NULL");
                }
                Condition::Present if text => {
                    qb.push("(")
                        .push(field.column)
                        .push(" IS NOT NULL AND ")
                        .push(field.column)
                        .push(" <> '')");
                }
                Condition::Present => {
                    qb.push(field.column).push(" IS NOT NULL");
                }
                Condition::Cmp(op, value) => {
                    qb.push(&column).push(" ").push(op.sql()).push(" ");
                    push_value(qb, value, false);
                }
            }
        }
    }
}

fn push_value<'a, DB>(qb: &mut QueryBuilder<'a, DB>, value: &Value, lowercase: bool)
where
    DB: Database,
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
    bool: Encode<'a, DB> + Type<DB>,
{
    match value {
        Value::Int(v) => qb.push_bind(*v),
        Value::Text(v) if lowercase => qb.push_bind(v.to_lowercase()),
        Value::Text(v) => qb.push_bind(v.clone()),
        Value::Bool(v) => qb.push_bind(*v),
    };
}
