//! Compact JWS (JWT) signing and checking.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::keys::{KeyError, SigningKey, VerifyingKey};
use crate::domain::policy::JwtAlg;

/// `header.payload.signature`, with the header `{"typ":"JWT","alg":...}`
/// and the key's `kid` when given; `claims` is the payload's JSON text.
pub fn sign(alg: JwtAlg, key: &SigningKey, kid: Option<&str>, claims: &str) -> String {
    let header = match kid {
        Some(kid) => json!({ "typ": "JWT", "alg": alg.jws_name(), "kid": kid }),
        None => json!({ "typ": "JWT", "alg": alg.jws_name() }),
    };
    let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(claims));
    let signature = key.sign(token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    token
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("not a compact JWT (header.payload.signature)")]
    Malformed,
    #[error("unsigned tokens (alg none) are not accepted")]
    Unsigned,
    #[error("unknown algorithm {0:?}")]
    UnknownAlgorithm(String),
    #[error("{0}")]
    Key(String),
    #[error("bad signature")]
    BadSignature,
    #[error("expired (exp {0})")]
    Expired(i64),
    #[error("not valid yet (nbf {0})")]
    NotYetValid(i64),
    #[error("wrong audience: expected {expected:?}, got {got:?}")]
    WrongAudience {
        expected: String,
        got: Option<String>,
    },
    #[error("wrong issuer: expected {expected:?}, got {got:?}")]
    WrongIssuer {
        expected: String,
        got: Option<String>,
    },
}

impl From<KeyError> for VerifyError {
    fn from(error: KeyError) -> Self {
        VerifyError::Key(error.to_string())
    }
}

/// What a receiver expects of a token besides a good signature.
#[derive(Clone, Debug, Default)]
pub struct Expectations {
    pub audience: Option<String>,
    pub issuer: Option<String>,
    /// Epoch seconds.
    pub now: i64,
    /// Seconds of clock difference tolerated for `exp` and `nbf`.
    pub leeway: i64,
}

/// The token of a received message body: `{"jwt": "..."}` or the bare token.
pub fn token_of(body: &str) -> Result<String, VerifyError> {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(map)) => map
            .get("jwt")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or(VerifyError::Malformed),
        _ => Ok(body.trim().to_string()),
    }
}

/// Checks the signature and the time, audience and issuer claims; returns
/// the claims.
pub fn verify(
    token: &str,
    key: &VerifyingKey,
    expect: &Expectations,
) -> Result<Value, VerifyError> {
    let mut parts = token.trim().split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| VerifyError::Malformed)
    };
    let header: Value =
        serde_json::from_slice(&decode(header)?).map_err(|_| VerifyError::Malformed)?;
    let name = header["alg"].as_str().ok_or(VerifyError::Malformed)?;
    let alg = JwtAlg::from_jws_name(name)
        .ok_or_else(|| VerifyError::UnknownAlgorithm(name.to_string()))?;
    if alg == JwtAlg::None {
        return Err(VerifyError::Unsigned);
    }
    let signed = &token.trim()[..token.trim().rfind('.').unwrap_or(0)];
    if !key.verify(alg, signed.as_bytes(), &decode(signature)?)? {
        return Err(VerifyError::BadSignature);
    }
    let claims: Value =
        serde_json::from_slice(&decode(payload)?).map_err(|_| VerifyError::Malformed)?;
    if let Some(exp) = claims["exp"].as_i64()
        && expect.now > exp + expect.leeway
    {
        return Err(VerifyError::Expired(exp));
    }
    if let Some(nbf) = claims["nbf"].as_i64()
        && expect.now + expect.leeway < nbf
    {
        return Err(VerifyError::NotYetValid(nbf));
    }
    if let Some(expected) = &expect.audience {
        let got = claims["aud"].as_str();
        if got != Some(expected.as_str()) {
            return Err(VerifyError::WrongAudience {
                expected: expected.clone(),
                got: got.map(str::to_string),
            });
        }
    }
    if let Some(expected) = &expect.issuer {
        let got = claims["iss"].as_str();
        if got != Some(expected.as_str()) {
            return Err(VerifyError::WrongIssuer {
                expected: expected.clone(),
                got: got.map(str::to_string),
            });
        }
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::generate;

    fn key_pair(alg: JwtAlg) -> (SigningKey, Option<VerifyingKey>) {
        let generated = generate(alg);
        let signing = SigningKey::load(alg, &generated.private).unwrap();
        let verifying = match (generated.public_key_pem, generated.jwt_secret) {
            (Some(pem), _) => Some(VerifyingKey::from_public_pem(&pem).unwrap()),
            (_, Some(secret)) => Some(VerifyingKey::hmac(secret.as_bytes())),
            _ => None,
        };
        (signing, verifying)
    }

    #[test]
    fn every_algorithm_round_trips_and_rejects_tampering() {
        let claims = json!({ "data": { "a": 1 }, "iat": 100, "nbf": 100, "exp": 200, "aud": "them", "iss": "us" });
        let expect = Expectations {
            audience: Some("them".into()),
            issuer: Some("us".into()),
            now: 150,
            leeway: 0,
        };
        for alg in JwtAlg::ALL.into_iter().filter(|a| *a != JwtAlg::None) {
            let (signing, verifying) = key_pair(alg);
            let verifying = verifying.unwrap();
            let token = sign(alg, &signing, None, &claims.to_string());
            assert_eq!(
                verify(&token, &verifying, &expect).unwrap(),
                claims,
                "{alg}"
            );
            let tampered_claims = URL_SAFE_NO_PAD.encode(json!({ "data": { "a": 2 } }).to_string());
            let parts: Vec<&str> = token.split('.').collect();
            let tampered = format!("{}.{}.{}", parts[0], tampered_claims, parts[2]);
            assert_eq!(
                verify(&tampered, &verifying, &expect),
                Err(VerifyError::BadSignature),
                "{alg}"
            );
            let (_, other) = key_pair(alg);
            assert_eq!(
                verify(&token, &other.unwrap(), &expect),
                Err(VerifyError::BadSignature),
                "{alg}"
            );
        }
    }

    #[test]
    fn time_audience_and_issuer_are_checked() {
        let (signing, verifying) = key_pair(JwtAlg::Hs256);
        let verifying = verifying.unwrap();
        let token = sign(
            JwtAlg::Hs256,
            &signing,
            None,
            &json!({ "iat": 100, "nbf": 100, "exp": 200, "aud": "a", "iss": "i" }).to_string(),
        );
        let at = |now| Expectations {
            now,
            ..Default::default()
        };
        assert_eq!(
            verify(&token, &verifying, &at(201)),
            Err(VerifyError::Expired(200))
        );
        assert_eq!(
            verify(&token, &verifying, &at(99)),
            Err(VerifyError::NotYetValid(100))
        );
        assert!(
            verify(
                &token,
                &verifying,
                &Expectations {
                    now: 201,
                    leeway: 5,
                    ..Default::default()
                }
            )
            .is_ok()
        );
        let wrong_aud = Expectations {
            audience: Some("b".into()),
            now: 150,
            ..Default::default()
        };
        assert!(matches!(
            verify(&token, &verifying, &wrong_aud),
            Err(VerifyError::WrongAudience { .. })
        ));
        let wrong_iss = Expectations {
            issuer: Some("x".into()),
            now: 150,
            ..Default::default()
        };
        assert!(matches!(
            verify(&token, &verifying, &wrong_iss),
            Err(VerifyError::WrongIssuer { .. })
        ));
    }

    #[test]
    fn unsigned_tokens_have_an_empty_signature_and_are_refused() {
        let token = sign(JwtAlg::None, &SigningKey::None, None, r#"{"a":1}"#);
        assert!(token.ends_with('.'));
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header, json!({ "typ": "JWT", "alg": "none" }));
        let (_, verifying) = key_pair(JwtAlg::Hs256);
        assert_eq!(
            verify(&token, &verifying.unwrap(), &Expectations::default()),
            Err(VerifyError::Unsigned)
        );
    }

    #[test]
    fn a_key_of_another_kind_is_a_clear_error() {
        let (signing, _) = key_pair(JwtAlg::Es256);
        let (_, rsa) = key_pair(JwtAlg::Rs256);
        let token = sign(JwtAlg::Es256, &signing, None, "{}");
        assert!(matches!(
            verify(&token, &rsa.unwrap(), &Expectations::default()),
            Err(VerifyError::Key(_))
        ));
    }
}
