//! A fresh database for each run: a SQLite file in the run's temporary
//! folder, or a new PostgreSQL schema after a CHECKPOINT.

use std::path::Path;

use herald_test_support::Schema;

use crate::cli::Args;

/// The URL of a new database of `backend` for one run (SQLite's in `dir`),
/// and for PostgreSQL its schema, dropped once the run is over.
pub async fn fresh(
    args: &Args,
    backend: &str,
    dir: &Path,
) -> anyhow::Result<(String, Option<Schema>)> {
    Ok(match backend {
        "sqlite" => (format!("sqlite://{}", dir.join("bench.db").display()), None),
        _ => {
            let schema = Schema::create(&args.postgres_url, "bench_").await?;
            // Each run starts with the server's earlier writes on
            // disk: the last run's drain leaves hundreds of MB of
            // WAL to flush, which would be measured in this run.
            // Needs a superuser (or `pg_checkpoint`); without, the
            // run goes on as it is.
            let mut conn: sqlx::PgConnection =
                sqlx::Connection::connect(&args.postgres_url).await?;
            if let Err(error) = sqlx::query("CHECKPOINT").execute(&mut conn).await {
                eprintln!("postgres: no CHECKPOINT before the run ({error})");
            }
            (schema.url(), Some(schema))
        }
    })
}
