//! The two backends behind one [`Store`](super::Store): a [`Backend`] value
//! is SQLite's or PostgreSQL's, and [`on_db!`] runs one expression on either.

use super::postgres::PgDb;
use super::sqlite::SqliteDb;

/// A value of one backend or the other.
pub(crate) enum Backend<S, P> {
    Sqlite(S),
    Postgres(P),
}

/// The database a store works on.
pub(crate) type Db = Backend<SqliteDb, PgDb>;

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

pub(crate) use on_db;
