//! Accounts, roles and the authenticated caller of a request.

use std::fmt;
use std::str::FromStr;

/// An account id: a short slug such as `wdc` (lowercase letters, digits, `-`, `_`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(id: &str) -> Result<AccountId, String> {
        let valid = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            && id.as_bytes()[0].is_ascii_alphanumeric();
        if valid {
            Ok(AccountId(id.to_string()))
        } else {
            Err(format!(
                "invalid account id {id:?}: use 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit"
            ))
        }
    }

    /// For ids read back from the store, which were validated when written.
    pub fn from_trusted(id: String) -> AccountId {
        AccountId(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a token's person may do. `Member` is a person with neither role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Administrator,
    Publisher,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::Publisher => "publisher",
            Role::Member => "member",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "administrator" => Ok(Role::Administrator),
            "publisher" => Ok(Role::Publisher),
            "member" => Ok(Role::Member),
            other => Err(format!(
                "unknown role {other:?}: use administrator, publisher or member"
            )),
        }
    }
}

/// Who is calling: resolved from a bearer token.
#[derive(Clone, Debug)]
pub struct Caller {
    pub token_id: i64,
    pub person_id: i64,
    pub account: AccountId,
    pub administrator: bool,
    pub publisher: bool,
}

impl Caller {
    /// Parses the person's stored role list (`administrator,publisher`).
    pub fn with_roles(token_id: i64, person_id: i64, account: AccountId, roles: &str) -> Caller {
        let has = |role: Role| roles.split(',').any(|r| r.trim() == role.as_str());
        Caller {
            token_id,
            person_id,
            account,
            administrator: has(Role::Administrator),
            publisher: has(Role::Publisher),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_slugs() {
        assert!(AccountId::parse("wdc").is_ok());
        assert!(AccountId::parse("acme-2").is_ok());
        assert!(AccountId::parse("").is_err());
        assert!(AccountId::parse("Has Space").is_err());
        assert!(AccountId::parse("-lead").is_err());
    }

    #[test]
    fn roles_come_from_the_stored_list() {
        let caller = Caller::with_roles(1, 1, AccountId::from_trusted("a".into()), "publisher");
        assert!(caller.publisher && !caller.administrator);
    }
}
