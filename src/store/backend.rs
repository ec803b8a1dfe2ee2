//! The two backends behind one [`Store`](super::Store): a [`Backend`] value
//! is SQLite's or PostgreSQL's, and [`on_db!`] runs one expression on either.

use std::ops::DerefMut;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{FromRow, Postgres, Sqlite, Transaction};

use super::StoreResult;
use super::postgres::PgDb;
use super::sqlite::SqliteDb;
use crate::domain::AccountId;

/// A value of one backend or the other: its pools ([`Db`]), a transaction
/// ([`Tx`]), a connection ([`Conn`]).
pub(crate) enum Backend<S, P> {
    Sqlite(S),
    Postgres(P),
}

/// The database a store works on.
pub(crate) type Db = Backend<SqliteDb, PgDb>;

/// A transaction on either backend.
pub(crate) type Tx = Backend<Transaction<'static, Sqlite>, Transaction<'static, Postgres>>;

/// A connection borrowed from a transaction or a pool: what statements run
/// on when they may run in a transaction or alone.
pub(crate) type Conn<'c> = Backend<&'c mut SqliteConnection, &'c mut PgConnection>;

/// A connection held from a pool, outside any transaction.
pub(crate) type PoolConn = Backend<PoolConnection<Sqlite>, PoolConnection<Postgres>>;

/// `on_db!(value, |x| expression)`: the expression with `x` bound to what
/// the [`Backend`] `value` holds, written once and compiled for each
/// backend (static dispatch, no boxing). Both arms must have one type.
macro_rules! on_db {
    ($value:expr, |$inner:ident| $body:expr) => {
        match $value {
            $crate::store::backend::Backend::Sqlite($inner) => $body,
            $crate::store::backend::Backend::Postgres($inner) => $body,
        }
    };
}

/// `map_db!(value, |x| expression)`: like [`on_db!`], with the result
/// wrapped in the same backend's variant, so the arms may differ in type.
macro_rules! map_db {
    ($value:expr, |$inner:ident| $body:expr) => {
        match $value {
            $crate::store::backend::Backend::Sqlite($inner) => {
                $crate::store::backend::Backend::Sqlite($body)
            }
            $crate::store::backend::Backend::Postgres($inner) => {
                $crate::store::backend::Backend::Postgres($body)
            }
        }
    };
}

pub(crate) use on_db;

impl<S, P> Backend<S, P> {
    /// `sqlite` on SQLite, `postgres` on PostgreSQL: what differs between
    /// them, mostly the text of a statement (two named consts).
    pub fn pick<T>(&self, sqlite: T, postgres: T) -> T {
        match self {
            Backend::Sqlite(_) => sqlite,
            Backend::Postgres(_) => postgres,
        }
    }
}

impl<S, P> Backend<S, P>
where
    S: DerefMut<Target = SqliteConnection>,
    P: DerefMut<Target = PgConnection>,
{
    /// The connection of a transaction or pooled connection, to run
    /// statements on.
    pub fn conn(&mut self) -> Conn<'_> {
        map_db!(self, |held| &mut **held)
    }
}

impl Tx {
    /// Commits the transaction; dropped uncommitted, it rolls back.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        on_db!(self, |tx| tx.commit().await)
    }

    /// Row `id` of `account`, read to be changed in this transaction:
    /// PostgreSQL locks it (`lock`); SQLite's one writer is alone, so the
    /// plain read (`get`) is enough there. Both take the account as `$1`
    /// and the id as `$2`.
    pub async fn row_to_change<R>(
        &mut self,
        get: &'static str,
        lock: &'static str,
        account: &AccountId,
        id: i64,
    ) -> StoreResult<Option<R>>
    where
        R: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>,
    {
        let select = self.pick(get, lock);
        let row = on_db!(self, |tx| {
            sqlx::query_as(select)
                .bind(account.as_str())
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
        })?;
        Ok(row)
    }
}

impl Db {
    /// A write whose commit is durable before it returns.
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        Ok(map_db!(self, |db| db.begin_write().await?))
    }

    /// Delivery bookkeeping (leases, outcomes), whose commit does not wait
    /// for the disk: see each backend's `begin_relaxed`.
    pub async fn begin_relaxed(&self) -> Result<Tx, sqlx::Error> {
        Ok(map_db!(self, |db| db.begin_relaxed().await?))
    }

    /// Publishing's transactions, on publishing's connections.
    pub async fn begin_publish(&self) -> Result<Tx, sqlx::Error> {
        Ok(map_db!(self, |db| db.begin_publish().await?))
    }

    /// A connection of publishing's, for a statement that commits alone.
    pub async fn acquire_publishing(&self) -> Result<PoolConn, sqlx::Error> {
        Ok(map_db!(self, |db| db.publishing().acquire().await?))
    }
}
