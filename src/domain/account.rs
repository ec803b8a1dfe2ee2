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

/// What a token may do, and what its person may do. Ordered: an
/// `Administrator` may do all a `Publisher` may; a `Member` nothing but
/// authenticate (a person with neither role).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Member,
    Publisher,
    Administrator,
}

impl Role {
    /// The highest role of a person's stored role list
    /// (`administrator,publisher`); `Member` for none.
    pub fn highest_of(roles: &str) -> Role {
        roles
            .split(',')
            .filter_map(|r| r.trim().parse().ok())
            .max()
            .unwrap_or(Role::Member)
    }

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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub token_id: i64,
    pub person_id: i64,
    pub account: AccountId,
    /// What the call may do: the lower of the token's own role and the
    /// highest role its person holds now.
    pub role: Role,
}

impl Caller {
    /// The caller of a token with role `token_role` whose person holds
    /// `person_roles` (the stored list, `administrator,publisher`).
    pub fn new(
        token_id: i64,
        person_id: i64,
        account: AccountId,
        token_role: Role,
        person_roles: &str,
    ) -> Caller {
        Caller {
            token_id,
            person_id,
            account,
            role: token_role.min(Role::highest_of(person_roles)),
        }
    }

    /// Whether the caller may do what `role` may.
    pub fn may(&self, role: Role) -> bool {
        self.role >= role
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
    fn a_caller_acts_with_the_lower_of_its_tokens_role_and_its_persons() {
        let caller = |token, person| {
            Caller::new(1, 1, AccountId::from_trusted("a".into()), token, person).role
        };
        assert_eq!(
            caller(Role::Administrator, "publisher,administrator"),
            Role::Administrator
        );
        assert_eq!(caller(Role::Member, "administrator"), Role::Member);
        assert_eq!(caller(Role::Publisher, "administrator"), Role::Publisher);
        assert_eq!(caller(Role::Administrator, "publisher"), Role::Publisher);
        assert_eq!(caller(Role::Administrator, ""), Role::Member);
        assert_eq!(
            caller(Role::Publisher, "unknown, publisher"),
            Role::Publisher
        );
    }

    #[test]
    fn an_administrator_may_do_what_a_publisher_may() {
        let admin = Caller::new(
            1,
            1,
            AccountId::from_trusted("a".into()),
            Role::Administrator,
            "administrator",
        );
        assert!(admin.may(Role::Publisher) && admin.may(Role::Administrator));
        let member = Caller::new(
            1,
            1,
            AccountId::from_trusted("a".into()),
            Role::Member,
            "administrator",
        );
        assert!(member.may(Role::Member) && !member.may(Role::Publisher));
    }
}
