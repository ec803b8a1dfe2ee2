//! Webhook policies (§5): how messages to a webhook are signed.

use std::fmt;

use super::account::AccountId;

pub const MAX_AUDIENCE_BYTES: usize = 2048;
/// A year, in minutes: the longest `jwt_claim_expires_in`.
pub const MAX_EXPIRES_IN_MINUTES: i64 = 525_600;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JwtAlg {
    None,
    Hs256,
    Hs384,
    Hs512,
    Rs256,
    Rs384,
    Rs512,
    Es256,
    Es384,
    Es512,
}

impl JwtAlg {
    pub const ALL: [JwtAlg; 10] = [
        JwtAlg::None,
        JwtAlg::Hs256,
        JwtAlg::Hs384,
        JwtAlg::Hs512,
        JwtAlg::Rs256,
        JwtAlg::Rs384,
        JwtAlg::Rs512,
        JwtAlg::Es256,
        JwtAlg::Es384,
        JwtAlg::Es512,
    ];

    /// The API's lowercase name: `hs256`, `none`...
    pub fn parse(name: &str) -> Option<JwtAlg> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlg::None => "none",
            JwtAlg::Hs256 => "hs256",
            JwtAlg::Hs384 => "hs384",
            JwtAlg::Hs512 => "hs512",
            JwtAlg::Rs256 => "rs256",
            JwtAlg::Rs384 => "rs384",
            JwtAlg::Rs512 => "rs512",
            JwtAlg::Es256 => "es256",
            JwtAlg::Es384 => "es384",
            JwtAlg::Es512 => "es512",
        }
    }

    /// The JWS header's name: `HS256`, `none`...
    pub fn jws_name(self) -> &'static str {
        match self {
            JwtAlg::None => "none",
            JwtAlg::Hs256 => "HS256",
            JwtAlg::Hs384 => "HS384",
            JwtAlg::Hs512 => "HS512",
            JwtAlg::Rs256 => "RS256",
            JwtAlg::Rs384 => "RS384",
            JwtAlg::Rs512 => "RS512",
            JwtAlg::Es256 => "ES256",
            JwtAlg::Es384 => "ES384",
            JwtAlg::Es512 => "ES512",
        }
    }

    pub fn from_jws_name(name: &str) -> Option<JwtAlg> {
        Self::ALL.into_iter().find(|alg| alg.jws_name() == name)
    }

    pub fn is_hmac(self) -> bool {
        matches!(self, JwtAlg::Hs256 | JwtAlg::Hs384 | JwtAlg::Hs512)
    }

    pub fn is_public_key(self) -> bool {
        !self.is_hmac() && self != JwtAlg::None
    }
}

impl fmt::Display for JwtAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub id: i64,
    pub account: AccountId,
    /// 56 random hex characters, made by Herald.
    pub name: String,
    pub disabled: bool,
    pub jwt_alg: JwtAlg,
    pub jwt_audience: Option<String>,
    pub jwt_claim_expires_in: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A validated new policy with its key, sealed for storage.
#[derive(Clone, Debug)]
pub struct NewPolicy {
    pub name: String,
    pub disabled: bool,
    pub jwt_alg: JwtAlg,
    pub jwt_audience: Option<String>,
    pub jwt_claim_expires_in: Option<i64>,
    pub sealed_key: Vec<u8>,
}

/// `None` leaves a field alone; `Some(None)` clears it. The algorithm and
/// key never change.
#[derive(Clone, Debug, Default)]
pub struct PolicyChanges {
    pub disabled: Option<bool>,
    pub jwt_audience: Option<Option<String>>,
    pub jwt_claim_expires_in: Option<Option<i64>>,
}

impl Policy {
    /// Applies a change; returns whether anything differs.
    pub fn apply(&mut self, changes: &PolicyChanges, now: i64) -> bool {
        let before = self.clone();
        if let Some(disabled) = changes.disabled {
            self.disabled = disabled;
        }
        if let Some(audience) = &changes.jwt_audience {
            self.jwt_audience = audience.clone();
        }
        if let Some(expires) = changes.jwt_claim_expires_in {
            self.jwt_claim_expires_in = expires;
        }
        let changed = *self != before;
        if changed {
            self.updated_at = now.max(self.created_at);
        }
        changed
    }
}

/// What a delivery needs of its webhook's policy to sign a message.
#[derive(Clone, Debug)]
pub struct PolicyKey {
    pub id: i64,
    pub jwt_alg: JwtAlg,
    pub jwt_audience: Option<String>,
    pub jwt_claim_expires_in: Option<i64>,
    pub sealed_key: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in JwtAlg::ALL {
            assert_eq!(JwtAlg::parse(alg.as_str()), Some(alg));
            assert_eq!(JwtAlg::from_jws_name(alg.jws_name()), Some(alg));
        }
        assert_eq!(JwtAlg::parse("HS256"), None);
        assert_eq!(JwtAlg::parse("ps256"), None);
    }
}
