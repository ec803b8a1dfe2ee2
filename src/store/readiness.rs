//! Whether the database can serve Herald: it answers, every migration of
//! this build is applied, and (SQLite) the file it opened is still the one
//! at its path.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::backend::{Backend, on_db};
use super::{Store, StoreError, StoreResult, postgres, sqlite};

/// The versions of the migrations applied successfully.
const APPLIED_MIGRATIONS: &str = "SELECT version FROM _sqlx_migrations WHERE success";

/// Why the database cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("the database does not answer")]
    Unreachable(#[source] StoreError),
    #[error("migrations not applied: {0:?}")]
    MigrationsPending(Vec<i64>),
    #[error("the database file {0} was removed or replaced")]
    FileReplaced(String),
}

/// An SQLite database file as it was opened: a file deleted or replaced
/// under a running Herald leaves it writing to one no one will read.
#[derive(Debug)]
pub struct DatabaseFile {
    path: PathBuf,
    device: u64,
    inode: u64,
}

impl DatabaseFile {
    pub(super) fn of(path: &Path) -> StoreResult<DatabaseFile> {
        let metadata = std::fs::metadata(path).map_err(|e| StoreError::Database(e.into()))?;
        Ok(DatabaseFile {
            path: path.to_path_buf(),
            device: metadata.dev(),
            inode: metadata.ino(),
        })
    }

    /// Whether the path still names the file opened.
    fn still_there(&self) -> bool {
        std::fs::metadata(&self.path)
            .is_ok_and(|now| now.dev() == self.device && now.ino() == self.inode)
    }
}

impl Store {
    /// Ready when the database answers, every migration this build knows
    /// is applied, and on SQLite the database file is still in its place.
    pub async fn readiness(&self) -> Result<(), NotReady> {
        let applied: Vec<(i64,)> = on_db!(&self.db, |db| {
            sqlx::query_as(APPLIED_MIGRATIONS).fetch_all(&db.read).await
        })
        .map_err(|e| NotReady::Unreachable(e.into()))?;
        let migrator = self.db.pick(&sqlite::MIGRATOR, &postgres::MIGRATOR);
        let pending: Vec<i64> = migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| m.version)
            .filter(|version| !applied.iter().any(|(v,)| v == version))
            .collect();
        if !pending.is_empty() {
            return Err(NotReady::MigrationsPending(pending));
        }
        if let Backend::Sqlite(db) = &self.db
            && let Some(file) = &db.file
            && !file.still_there()
        {
            return Err(NotReady::FileReplaced(file.path.display().to_string()));
        }
        Ok(())
    }
}
