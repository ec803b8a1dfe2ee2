//! Webhook policies (§5): how messages to a webhook are signed.

use std::fmt;

use super::ValidationErrors;
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

/// How a policy signs a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// The body is `{"jwt": "<compact JWS>"}` carrying the message (§5).
    Jws,
    /// The plain message, with `webhook-id`, `webhook-timestamp` and
    /// `webhook-signature` headers (HMAC-SHA256), as the Standard Webhooks
    /// specification says.
    StandardWebhooks,
}

impl SignatureScheme {
    pub const ALL: [SignatureScheme; 2] = [SignatureScheme::Jws, SignatureScheme::StandardWebhooks];

    pub fn parse(name: &str) -> Option<SignatureScheme> {
        Self::ALL.into_iter().find(|scheme| scheme.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SignatureScheme::Jws => "jws",
            SignatureScheme::StandardWebhooks => "standard_webhooks",
        }
    }
}

/// The longest overlap of a key rotation: 30 days.
pub const MAX_ROTATION_OVERLAP_SECS: i64 = 30 * 24 * 3600;
/// The overlap of a rotation that names none: 24 hours.
pub const DEFAULT_ROTATION_OVERLAP_SECS: i64 = 24 * 3600;

/// The `iss` of a policy's messages under OpenID Connect discovery: the
/// discovery document is at `<issuer>/.well-known/openid-configuration`.
pub fn discovery_issuer(public_url: &str, account: &AccountId, policy_id: i64) -> String {
    format!(
        "{}/{}/webhook_policies/{policy_id}",
        public_url.trim_end_matches('/'),
        account.as_str()
    )
}

/// How a policy would sign, as a request asks: checked whole by
/// [`Signing::check`].
pub struct Signing {
    pub scheme: SignatureScheme,
    pub jwt_alg: JwtAlg,
    pub openid_connect_discovery: bool,
    pub has_audience: bool,
    pub has_expiry: bool,
}

impl Signing {
    /// Adds an error for each field that does not fit the scheme: Standard
    /// Webhooks is HMAC-SHA256 and has no claims; discovery publishes public
    /// keys, so it needs an `rs*`/`es*` JWS policy.
    pub fn check(&self, errors: &mut ValidationErrors) {
        if self.scheme == SignatureScheme::StandardWebhooks {
            if self.jwt_alg != JwtAlg::Hs256 {
                errors.add(
                    "jwt_alg",
                    "Jwt alg must be hs256 (or left out) for standard_webhooks",
                );
            }
            if self.has_audience {
                errors.add(
                    "jwt_audience",
                    "Jwt audience is not used by standard_webhooks",
                );
            }
            if self.has_expiry {
                errors.add(
                    "jwt_claim_expires_in",
                    "Jwt claim expires in is not used by standard_webhooks",
                );
            }
        }
        if self.openid_connect_discovery
            && (self.scheme != SignatureScheme::Jws || !self.jwt_alg.is_public_key())
        {
            errors.add(
                "openid_connect_discovery",
                "Openid connect discovery needs a jws policy with an rs* or es* jwt_alg",
            );
        }
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
    pub signature_scheme: SignatureScheme,
    pub openid_connect_discovery: bool,
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
    pub signature_scheme: SignatureScheme,
    pub openid_connect_discovery: bool,
    pub sealed_key: Vec<u8>,
}

/// `None` leaves a field alone; `Some(None)` clears it. The algorithm and
/// key never change.
#[derive(Clone, Debug, Default)]
pub struct PolicyChanges {
    pub disabled: Option<bool>,
    pub jwt_audience: Option<Option<String>>,
    pub jwt_claim_expires_in: Option<Option<i64>>,
    pub openid_connect_discovery: Option<bool>,
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
        if let Some(discovery) = changes.openid_connect_discovery {
            self.openid_connect_discovery = discovery;
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
    pub signature_scheme: SignatureScheme,
    pub openid_connect_discovery: bool,
    pub sealed_key: Vec<u8>,
    /// Keys a rotation replaced whose overlap is not over, newest first:
    /// a Standard Webhooks message carries a signature of each.
    pub retired: Vec<RetiredKey>,
}

/// A key a rotation replaced, kept (sealed) until `expires_at`.
#[derive(Clone, Debug)]
pub struct RetiredKey {
    pub sealed_key: Vec<u8>,
    pub retired_at: i64,
    pub expires_at: i64,
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
        for scheme in SignatureScheme::ALL {
            assert_eq!(SignatureScheme::parse(scheme.as_str()), Some(scheme));
        }
    }

    #[test]
    fn schemes_refuse_what_they_cannot_do() {
        let check = |scheme, jwt_alg, discovery, claims| {
            let mut errors = ValidationErrors::new();
            Signing {
                scheme,
                jwt_alg,
                openid_connect_discovery: discovery,
                has_audience: claims,
                has_expiry: claims,
            }
            .check(&mut errors);
            errors
                .pairs()
                .iter()
                .map(|(field, _)| field.clone())
                .collect::<Vec<_>>()
        };
        let sw = SignatureScheme::StandardWebhooks;
        assert!(check(sw, JwtAlg::Hs256, false, false).is_empty());
        assert_eq!(check(sw, JwtAlg::Rs256, false, false), ["jwt_alg"]);
        assert_eq!(
            check(sw, JwtAlg::Hs256, true, true),
            [
                "jwt_audience",
                "jwt_claim_expires_in",
                "openid_connect_discovery"
            ]
        );
        assert!(check(SignatureScheme::Jws, JwtAlg::Es256, true, true).is_empty());
        assert_eq!(
            check(SignatureScheme::Jws, JwtAlg::Hs512, true, false),
            ["openid_connect_discovery"]
        );
    }

    #[test]
    fn the_discovery_issuer_names_account_and_policy() {
        let account = AccountId::from_trusted("wdc".into());
        assert_eq!(
            discovery_issuer("https://herald.example.com/", &account, 7),
            "https://herald.example.com/wdc/webhook_policies/7"
        );
    }
}
