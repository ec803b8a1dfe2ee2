//! A PostgreSQL schema made for one test or benchmark run, and dropped
//! with it.

use sqlx::Connection;

/// A new schema on a PostgreSQL server; it and all in it are dropped when
/// this is dropped.
pub struct Schema {
    name: String,
    server: String,
}

impl Schema {
    /// Creates a schema named `prefix` and a random suffix on the server
    /// at `server` (a `postgres://` URL).
    pub async fn create(server: &str, prefix: &str) -> Result<Schema, sqlx::Error> {
        let name = format!("{prefix}{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(server).await?;
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut conn)
            .await?;
        Ok(Schema {
            name,
            server: server.to_string(),
        })
    }

    /// The server's URL with this schema as the search path, so Herald's
    /// tables go there. Its connections carry the schema's name as their
    /// application name, by which they are told apart (and ended on drop).
    pub fn url(&self) -> String {
        let separator = if self.server.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}options[search_path]={name}&application_name={name}",
            self.server,
            name = self.name
        )
    }
}

impl Drop for Schema {
    /// Drops the schema even when a test panicked. The connections named
    /// after it are ended first: one may still hold a lock its runtime,
    /// blocked here, cannot release. Runs on a thread of its own, as the
    /// caller's runtime may be the one blocked.
    fn drop(&mut self) {
        let (name, server) = (self.name.clone(), self.server.clone());
        let worker = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let Ok(mut conn) = sqlx::PgConnection::connect(&server).await else {
                    return;
                };
                let ended = sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1")
                    .bind(&name)
                    .execute(&mut conn)
                    .await;
                let dropped = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .execute(&mut conn)
                    .await;
                if let Err(error) = ended.and(dropped) {
                    eprintln!("could not drop the schema {name}: {error}");
                }
            });
        });
        let _ = worker.join();
    }
}
