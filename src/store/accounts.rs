//! Accounts, the people in them and their API tokens: creating tokens and
//! finding the caller behind one.

use super::backend::on_db;
use super::{PersonSpec, Store, StoreMethods, StoreResult};
use crate::domain::{AccountId, Caller};

impl Store {
    /// Creates the account when missing; keeps an existing one as it is.
    pub async fn ensure_account(&self, id: &AccountId, name: &str, now: i64) -> StoreResult<()> {
        on_db!(&self.db, |db| db.ensure_account(id, name, now).await)
    }

    /// Finds the person by e-mail, else by name (creating one when neither
    /// matches), adds `role` to its roles and stores a token hash for it.
    pub async fn create_token(
        &self,
        account: &AccountId,
        person: &PersonSpec,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<i64> {
        on_db!(&self.db, |db| db
            .create_token(account, person, token_hash, now)
            .await)
    }

    /// The caller behind a token hash; `None` for unknown or revoked tokens.
    pub async fn authenticate(&self, token_hash: &str) -> StoreResult<Option<Caller>> {
        on_db!(&self.db, |db| db.authenticate(token_hash).await)
    }
}
