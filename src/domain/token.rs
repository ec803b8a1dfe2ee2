//! API tokens as records: their own role, description, expiry and last use,
//! and what authenticating one yields.

use super::account::{AccountId, Caller, Role};

/// The longest description a token may carry.
pub const MAX_DESCRIPTION_CHARS: usize = 255;

/// `last_used_at` is written at most once a minute a token: it tells how
/// recently a token was used, to the minute, without a write per request.
pub const LAST_USED_PRECISION_SECS: i64 = 60;

/// A token that was not revoked, as listed (never its secret or hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub account: AccountId,
    pub person_id: i64,
    pub person_name: String,
    pub role: Role,
    pub description: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl ApiToken {
    /// Whether it is past its expiry at `now`.
    pub fn expired(&self, now: i64) -> bool {
        expired(self.expires_at, now)
    }
}

/// A token found by its hash: who calls with it, and what a cache of it
/// must keep checking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenAuth {
    pub caller: Caller,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl TokenAuth {
    pub fn expired(&self, now: i64) -> bool {
        expired(self.expires_at, now)
    }

    /// Whether `last_used_at` is due to be written at `now`.
    pub fn use_due(&self, now: i64) -> bool {
        self.last_used_at
            .is_none_or(|at| now - at >= LAST_USED_PRECISION_SECS)
    }
}

/// A token expiring at `expires_at` is refused from that second on.
pub fn expired(expires_at: Option<i64>, now: i64) -> bool {
    expires_at.is_some_and(|at| at <= now)
}

/// A token description as given: at most [`MAX_DESCRIPTION_CHARS`]
/// characters, no control characters; blank means none.
pub fn parse_description(text: &str) -> Result<Option<String>, String> {
    let text = text.trim();
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(format!(
            "the description is too long (maximum is {MAX_DESCRIPTION_CHARS} characters)"
        ));
    }
    if text.chars().any(char::is_control) {
        return Err("the description must not hold control characters".into());
    }
    Ok((!text.is_empty()).then(|| text.to_string()))
}

/// The expiry of a rotated token's successor made at `now`: as long a
/// lifetime as the token it replaces had, or none when that had none.
pub fn successor_expiry(old: &ApiToken, now: i64) -> Option<i64> {
    old.expires_at.map(|at| now + (at - old.created_at).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(created_at: i64, expires_at: Option<i64>) -> ApiToken {
        ApiToken {
            id: 1,
            account: AccountId::from_trusted("a".into()),
            person_id: 1,
            person_name: "p".into(),
            role: Role::Publisher,
            description: None,
            created_at,
            expires_at,
            last_used_at: None,
        }
    }

    #[test]
    fn a_token_is_refused_from_its_expiry_on() {
        assert!(!token(0, None).expired(i64::MAX));
        assert!(!token(0, Some(100)).expired(99));
        assert!(token(0, Some(100)).expired(100));
    }

    #[test]
    fn a_successor_lives_as_long_as_the_token_it_replaces() {
        assert_eq!(successor_expiry(&token(1000, Some(1600)), 5000), Some(5600));
        assert_eq!(successor_expiry(&token(1000, None), 5000), None);
    }

    #[test]
    fn last_use_is_written_at_most_once_a_minute() {
        let auth = |last_used_at| TokenAuth {
            caller: Caller::new(1, 1, AccountId::from_trusted("a".into()), Role::Member, ""),
            expires_at: None,
            last_used_at,
        };
        assert!(auth(None).use_due(0));
        assert!(!auth(Some(100)).use_due(159));
        assert!(auth(Some(100)).use_due(160));
    }

    #[test]
    fn descriptions_are_short_plain_text() {
        assert_eq!(
            parse_description("  deploy script "),
            Ok(Some("deploy script".into()))
        );
        assert_eq!(parse_description("   "), Ok(None));
        assert!(parse_description(&"x".repeat(256)).is_err());
        assert!(parse_description("a\u{7}b").is_err());
    }
}
